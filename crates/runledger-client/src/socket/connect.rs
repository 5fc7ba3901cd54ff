//! Opening the client's WebSocket, and the errors a refused upgrade or a
//! refusal on the socket give its subscriptions.

use crate::error::ClientError;
use crate::transport::CONNECT_TIMEOUT;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The client side of a WebSocket connection.
pub(super) type WebSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why connecting failed.
pub(super) enum Refusal {
    /// Worth retrying (refused connection, 5xx, timeout).
    Transient(String),
    /// The server answered the upgrade with a 4xx: retrying cannot help.
    Permanent { status: u16, body: Vec<u8> },
}

/// Opens the WebSocket with the bearer token.
pub(super) async fn connect(url: &str, token: Option<&str>) -> Result<WebSocket, Refusal> {
    let mut request = url
        .into_client_request()
        .map_err(|error| Refusal::Transient(error.to_string()))?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|error| Refusal::Transient(error.to_string()))?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
        Err(_) => Err(Refusal::Transient("timed out".to_owned())),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            if (400..500).contains(&status) && status != 408 && status != 429 {
                Err(Refusal::Permanent {
                    status,
                    body: response.body().clone().unwrap_or_default(),
                })
            } else {
                Err(Refusal::Transient(format!("HTTP {status}")))
            }
        }
        Ok(Err(error)) => Err(Refusal::Transient(error.to_string())),
    }
}

/// The error an upgrade refused with `status` and `body` gives every local.
pub(super) fn refusal_error(url: &str, status: u16, body: &[u8]) -> ClientError {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(problem)) => ClientError::from_problem(status, problem),
        _ => None,
    }
    .unwrap_or_else(|| ClientError::UnexpectedAnswer {
        url: url.to_owned(),
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// A refusal sent over the WebSocket, as a problem with status 0.
pub(super) fn ws_problem(code: &str, detail: &str) -> ClientError {
    match crate::error::error_code(code) {
        Some(code) => ClientError::Problem {
            status: 0,
            code,
            detail: detail.to_owned(),
            body: Box::default(),
        },
        None => ClientError::UnexpectedAnswer {
            url: "/v1/ws".to_owned(),
            status: 0,
            body: format!("{code}: {detail}"),
        },
    }
}
