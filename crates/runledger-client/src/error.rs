//! The one error type of the client. A server's refusal arrives as RFC 9457
//! problem+json and becomes [`ClientError::Problem`] with the stable
//! [`ErrorCode`]; a server that cannot be reached is [`ClientError::Unreachable`],
//! so callers (the CLI's exit codes) can tell "refused" from "not there".

use runledger_core::ErrorCode;
use serde_json::{Map, Value};

/// Everything a call of the client can end with besides its answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request with a problem+json body.
    #[error("{code} ({status}): {detail}")]
    Problem {
        /// The HTTP status; 0 for a refusal sent over the WebSocket.
        status: u16,
        /// The stable machine name of the error.
        code: ErrorCode,
        /// What exactly went wrong, in the server's words.
        detail: String,
        /// The whole problem body (`type`, `title`, and the extras of the
        /// code, such as `fields` or `active_run_ids`).
        body: Box<Map<String, Value>>,
    },
    /// No answer: the connection was refused, dropped or timed out.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL the request went to.
        url: String,
        /// Why, as the transport said it.
        reason: String,
    },
    /// An answer that is neither the documented body nor a problem with a
    /// known code (a proxy's HTML page, a newer server's new code, …).
    #[error("unexpected answer from {url} ({status}): {body}")]
    UnexpectedAnswer {
        /// The URL the request went to.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, as text.
        body: String,
    },
    /// The server URL given to the client is not an `http://` or `https://` URL.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subscription's stream ended because the client was dropped.
    #[error("the client's WebSocket task has stopped")]
    Closed,
}

impl ClientError {
    /// The problem's code, when the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Problem { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `true` when the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    /// A problem from its JSON body, when the body is one with a known code.
    pub(crate) fn from_problem(status: u16, body: Map<String, Value>) -> Option<ClientError> {
        let code = body.get("code")?.as_str().and_then(error_code)?;
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Some(ClientError::Problem {
            status,
            code,
            detail,
            body: Box::new(body),
        })
    }
}

/// The [`ErrorCode`] whose SPEC name is `name`.
pub fn error_code(name: &str) -> Option<ErrorCode> {
    ErrorCode::ALL
        .into_iter()
        .find(|code| code.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_code_name_maps_back_and_unknown_ones_do_not() {
        for code in ErrorCode::ALL {
            assert_eq!(error_code(code.as_str()), Some(code));
        }
        assert_eq!(error_code("teapot"), None);
    }

    #[test]
    fn a_problem_body_becomes_a_typed_problem() {
        let body = json!({"type": "urn:runledger:problem:stale_lease", "title": "Stale lease",
            "status": 409, "detail": "lease epoch 1 is not the current epoch 2",
            "code": "stale_lease", "current_epoch": 2});
        let Value::Object(body) = body else {
            unreachable!()
        };
        let error = ClientError::from_problem(409, body).expect("a known code");
        assert_eq!(error.code(), Some(ErrorCode::StaleLease));
        assert_eq!(
            error.to_string(),
            "stale_lease (409): lease epoch 1 is not the current epoch 2"
        );
        let ClientError::Problem { body, .. } = error else {
            unreachable!()
        };
        assert_eq!(body["current_epoch"], 2);
    }
}
