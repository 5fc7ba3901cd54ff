//! Table tests of the record → run mapping.

use super::*;

fn record(line: usize, json: Value) -> Record {
    Record {
        line,
        fields: Ok(json.as_object().unwrap().clone()),
    }
}

fn default_mapping() -> Mapping {
    Mapping::from_args(&[], None).unwrap()
}

#[test]
fn ids_are_trimmed_and_identical_duplicates_merge() {
    let plan = plan(
        vec![
            record(1, serde_json::json!({"id": " a ", "kind": "etl"})),
            record(2, serde_json::json!({"id": "a", "kind": "etl"})),
            record(3, serde_json::json!({"id": "a", "kind": "other"})),
        ],
        &default_mapping(),
    );
    assert_eq!(plan.runs.len(), 1);
    assert_eq!(plan.runs[0].id.as_str(), "a");
    assert_eq!(plan.duplicates.len(), 1);
    assert_eq!((plan.duplicates[0].0, plan.duplicates[0].1), (2, 1));
    assert_eq!(plan.rejected.len(), 1);
    assert!(
        plan.rejected[0].reason.contains("line 1"),
        "{:?}",
        plan.rejected
    );
    assert!(
        plan.rejected[0].reason.contains("kind"),
        "{:?}",
        plan.rejected
    );
}

#[test]
fn every_unmappable_record_names_its_reason() {
    let cases = [
        (serde_json::json!({"kind": "etl"}), "no id"),
        (serde_json::json!({"id": "a b", "kind": "etl"}), "id:"),
        (serde_json::json!({"id": "a"}), "no kind"),
        (
            serde_json::json!({"id": "a", "kind": "etl", "state": "weird"}),
            "not a run state",
        ),
        (
            serde_json::json!({"id": "a", "kind": "etl", "state": "pending"}),
            "pending",
        ),
        (
            serde_json::json!({"id": "a", "kind": {"x": 1}}),
            "must be text",
        ),
        (
            serde_json::json!({"id": "c", "kind": "etl", "parent_id": "p q"}),
            "parent_id:",
        ),
    ];
    for (fields, expected) in cases {
        let plan = plan(vec![record(7, fields.clone())], &default_mapping());
        assert!(plan.runs.is_empty(), "{fields}");
        assert_eq!(plan.rejected.len(), 1, "{fields}");
        assert_eq!(plan.rejected[0].line, 7);
        assert!(
            plan.rejected[0].reason.contains(expected),
            "{fields}: {}",
            plan.rejected[0].reason
        );
    }
}

#[test]
fn states_read_their_synonyms() {
    for (text, state) in [
        ("Success", RunState::Succeeded),
        ("completed", RunState::Succeeded),
        ("ERROR", RunState::Failed),
        ("canceled", RunState::Cancelled),
        ("in-progress", RunState::Running),
        ("timed out", RunState::TimedOut),
        ("queued", RunState::Queued),
    ] {
        assert_eq!(parse_state(text), Ok(state), "{text}");
    }
}

#[test]
fn children_take_their_key_or_id_and_come_after_their_parent() {
    let mapping = Mapping::from_args(&["id=job".to_owned()], Some("etl")).unwrap();
    let plan = plan(
        vec![
            record(1, serde_json::json!({"job": "c1", "parent_id": "p"})),
            record(2, serde_json::json!({"job": "p:c2", "parent_id": "p"})),
            record(3, serde_json::json!({"job": "p", "owner_team": "data"})),
        ],
        &mapping,
    );
    assert!(plan.rejected.is_empty(), "{:?}", plan.rejected);
    let ids: Vec<&str> = plan.runs.iter().map(|run| run.id.as_str()).collect();
    assert_eq!(ids, ["p:c1", "p:c2", "p"]);
    assert_eq!(
        plan.runs[2].attributes,
        serde_json::json!({"owner_team": "data"})
    );
    let waves = super::super::waves::waves(plan.runs);
    assert_eq!(waves.len(), 2);
    assert_eq!(waves[0][0].id.as_str(), "p");
}

#[test]
fn bad_map_arguments_are_usage_errors() {
    for bad in ["id", "owner=x", "id=", "kind=a"] {
        let args = if bad == "kind=a" {
            vec![bad.to_owned(), "kind=b".to_owned()]
        } else {
            vec![bad.to_owned()]
        };
        assert!(Mapping::from_args(&args, None).is_err(), "{bad}");
    }
    assert!(Mapping::from_args(&[], Some("not a kind")).is_err());
}
