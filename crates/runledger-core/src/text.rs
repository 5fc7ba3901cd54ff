//! The one check every string of a request passes (SPEC §4 "Limits"): no
//! U+0000 anywhere. PostgreSQL cannot store it in `text` or `jsonb`, so it is
//! refused on every backend alike, before any storage sees it.

use crate::Error;
use serde_json::Value;

/// Refuses `text` when it contains U+0000, naming `field`.
pub fn check_text(field: &'static str, text: &str) -> Result<(), Error> {
    match text.find('\0') {
        None => Ok(()),
        Some(at) => Err(Error::invalid(
            field,
            format!(
                "{field} contains U+0000 (NUL) at byte {at}; remove it, no string may hold NUL"
            ),
        )),
    }
}

/// Refuses `value` when any string in it, or any object key, contains
/// U+0000, naming `field` and the JSON pointer of the offending string.
pub fn check_json_text(field: &'static str, value: &Value) -> Result<(), Error> {
    match find_nul(value, &mut String::new()) {
        None => Ok(()),
        Some(pointer) => Err(Error::invalid(
            field,
            format!(
                "{field} holds a string with U+0000 (NUL) at {}; remove it, no string may hold NUL",
                if pointer.is_empty() {
                    "its top level".to_owned()
                } else {
                    pointer
                }
            ),
        )),
    }
}

/// The JSON pointer of the first string or key holding NUL.
fn find_nul(value: &Value, pointer: &mut String) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(pointer.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            within(pointer, &index.to_string(), |pointer| {
                find_nul(item, pointer)
            })
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let escaped = key.replace('~', "~0").replace('/', "~1");
            if key.contains('\0') {
                return Some(format!("{pointer}/{}", escaped.replace('\0', "\\u0000")));
            }
            within(pointer, &escaped, |pointer| find_nul(item, pointer))
        }),
        _ => None,
    }
}

/// Runs `look` with `token` pushed onto `pointer`, then pops it.
fn within(
    pointer: &mut String,
    token: &str,
    look: impl FnOnce(&mut String) -> Option<String>,
) -> Option<String> {
    let length = pointer.len();
    pointer.push('/');
    pointer.push_str(token);
    let found = look(pointer);
    pointer.truncate(length);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_refused_wherever_it_hides() {
        assert!(check_text("reason", "fine").is_ok());
        let error = check_text("reason", "a\0b").unwrap_err().to_string();
        assert!(
            error.contains("reason") && error.contains("byte 1"),
            "{error}"
        );
        assert!(check_json_text("data", &json!({"a": [1, "ok", {"b": null}]})).is_ok());
        let nested = check_json_text("data", &json!({"a": [1, {"b": "x\u{0}"}]}))
            .unwrap_err()
            .to_string();
        assert!(nested.contains("/a/1/b"), "{nested}");
        let key = check_json_text("attributes", &json!({"k\u{0}": 1}))
            .unwrap_err()
            .to_string();
        assert!(key.contains("attributes"), "{key}");
        let top = check_json_text("result", &json!("\u{0}"))
            .unwrap_err()
            .to_string();
        assert!(top.contains("top level"), "{top}");
    }
}
