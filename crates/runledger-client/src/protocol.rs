//! The `/v1/ws` messages of SPEC §4, both ways. The server's answers to
//! `subscribe` and `unsubscribe` come in the order the requests were sent,
//! which is how an `error` (it names no run) is matched to its request.

use runledger_core::{Event, RunId};
use serde::{Deserialize, Serialize};

/// What the client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ClientMessage<'a> {
    /// Events of one run after seq `after`, or of the tenant (`run_id`
    /// null) after position `after`.
    Subscribe {
        /// The run, or `None` for the whole tenant (sent as `null`).
        run_id: Option<&'a RunId>,
        /// A seq for a run, a position for the tenant.
        after: u64,
    },
    /// Stop the subscription of `run_id`.
    Unsubscribe {
        /// The run, or `None` for the tenant.
        run_id: Option<&'a RunId>,
    },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ServerMessage {
    /// A subscribe took effect; its events follow.
    Subscribed {},
    /// An unsubscribe took effect.
    Unsubscribed {},
    /// A request was refused (`not_found`, `invalid_request`); the
    /// connection stays open.
    Error {
        /// The stable machine name.
        #[serde(default)]
        code: String,
        /// What went wrong.
        #[serde(default)]
        detail: String,
    },
    /// One event of a subscription.
    Event(Event),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_match_the_spec() {
        let id = RunId::parse("job-1").expect("an id");
        let run = ClientMessage::Subscribe {
            run_id: Some(&id),
            after: 3,
        };
        assert_eq!(
            serde_json::to_value(run).expect("json"),
            json!({"op": "subscribe", "run_id": "job-1", "after": 3})
        );
        let tenant = ClientMessage::Unsubscribe { run_id: None };
        assert_eq!(
            serde_json::to_value(tenant).expect("json"),
            json!({"op": "unsubscribe", "run_id": null})
        );
        let event: ServerMessage = serde_json::from_value(json!({"op": "event", "run_id": "job-1",
            "seq": 2, "position": 7, "type": "progress", "data": {"n": 1},
            "at": "2026-11-26T16:42:58.123Z"}))
        .expect("an event");
        let ServerMessage::Event(event) = event else {
            panic!("not an event: {event:?}")
        };
        assert_eq!((event.seq, event.position), (2, 7));
        let error: ServerMessage = serde_json::from_value(
            json!({"op": "error", "code": "not_found", "detail": "run x not found"}),
        )
        .expect("an error");
        assert_eq!(
            error,
            ServerMessage::Error {
                code: "not_found".into(),
                detail: "run x not found".into()
            }
        );
        let subscribed: ServerMessage =
            serde_json::from_value(json!({"op": "subscribed", "run_id": null})).expect("an ack");
        assert_eq!(subscribed, ServerMessage::Subscribed {});
    }
}
