//! One HTTP exchange: the request with the token and optional headers, the
//! answer decoded into the documented body, or into [`ClientError`] — a
//! problem+json refusal, an unreachable server, or anything unexpected.

use crate::error::ClientError;
use crate::requests::CallOptions;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of an unexpected body kept for the error message.
const UNEXPECTED_BODY_CHARS_MAX: usize = 512;

/// The HTTP side of a client: base URL, token, connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    base: String,
    token: Option<String>,
}

/// A decoded answer and its status.
pub(crate) struct Answer<T> {
    pub(crate) status: StatusCode,
    pub(crate) body: T,
}

impl Http {
    /// A transport for the server at `base` (`http://` or `https://`).
    pub(crate) fn new(base: &str, token: Option<String>) -> Result<Http, ClientError> {
        let trimmed = base.trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("http://")
            .or_else(|| trimmed.strip_prefix("https://"))
            .ok_or_else(|| ClientError::InvalidUrl {
                url: base.to_owned(),
                reason: "expected http://HOST:PORT".to_owned(),
            })?;
        if rest.is_empty() || rest.contains('/') {
            return Err(ClientError::InvalidUrl {
                url: base.to_owned(),
                reason: "expected http://HOST:PORT with no path".to_owned(),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|error| ClientError::InvalidUrl {
                url: base.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(Http {
            client,
            base: trimmed.to_owned(),
            token,
        })
    }

    /// The base URL, `http://host:port`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token, if any.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `method path` with an optional JSON body and query, decoded as `T`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        query: Option<&(impl Serialize + ?Sized)>,
        options: &CallOptions,
    ) -> Result<Answer<T>, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request: RequestBuilder = self.client.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = &options.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(version) = options.if_match {
            request = request.header(reqwest::header::IF_MATCH, format!("\"{version}\""));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(query) = query {
            request = request.query(query);
        }
        let response = request
            .send()
            .await
            .map_err(|error| unreachable(&url, &error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| unreachable(&url, &error))?;
        if status == reqwest::StatusCode::NO_CONTENT {
            // No body (a claim that found nothing): `null`, e.g. `None`.
            return serde_json::from_slice(b"null")
                .map(|body| Answer { status, body })
                .map_err(|error| unexpected(&url, status, &bytes, Some(&error)));
        }
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map(|body| Answer { status, body })
                .map_err(|error| unexpected(&url, status, &bytes, Some(&error)));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(problem)) => ClientError::from_problem(status.as_u16(), problem)
                .map_or_else(|| Err(unexpected(&url, status, &bytes, None)), Err),
            _ => Err(unexpected(&url, status, &bytes, None)),
        }
    }
}

/// The transport's failure, with its causes (reqwest's own `Display` is terse).
fn unreachable(url: &str, error: &reqwest::Error) -> ClientError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    ClientError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

fn unexpected(
    url: &str,
    status: StatusCode,
    bytes: &[u8],
    error: Option<&serde_json::Error>,
) -> ClientError {
    let mut body: String = String::from_utf8_lossy(bytes)
        .chars()
        .take(UNEXPECTED_BODY_CHARS_MAX)
        .collect();
    if let Some(error) = error {
        body = format!("{error}: {body}");
    }
    ClientError::UnexpectedAnswer {
        url: url.to_owned(),
        status: status.as_u16(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_base_urls_are_taken() {
        assert_eq!(
            Http::new("http://127.0.0.1:7878/", None)
                .expect("valid")
                .base(),
            "http://127.0.0.1:7878"
        );
        for bad in ["127.0.0.1:7878", "ftp://x", "http://", "http://h:1/v1"] {
            assert!(
                matches!(Http::new(bad, None), Err(ClientError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }
}
