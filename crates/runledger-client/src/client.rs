//! [`Client`]: one typed async method per route of SPEC §4, and the live
//! subscriptions, which all share the client's one WebSocket.

use crate::answers::{Appended, Created, EventPage, Health, RunPage};
use crate::batch::{BatchAnswer, BatchItem};
use crate::error::ClientError;
use crate::requests::{
    AppendEvent, CallOptions, Cancel, ClaimRun, CreateBatch, CreateRun, Finish, Heartbeat,
    ListRuns, StartRun,
};
use crate::socket::Socket;
use crate::subscription::{Subscription, Topic};
use crate::transport::Http;
use reqwest::{Method, StatusCode};
use runledger_core::{Run, RunId};
use serde::Serialize;
use std::sync::{Arc, OnceLock};

/// A client of one runledger server. Cheap to clone; clones share the
/// connection pool and the one WebSocket that carries every subscription.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    http: Http,
    /// Opened at the first subscription; lives as long as the client.
    socket: OnceLock<Socket>,
}

/// Query of `GET /v1/runs/{id}/events`.
#[derive(Debug, Serialize)]
struct EventsQuery {
    after: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
}

/// No body, no query: the type the transport needs to be told so.
const NOTHING: Option<&()> = None;

impl Client {
    /// A client of the server at `base` (`http://HOST:PORT`), sending
    /// `token` as `Authorization: Bearer` when given.
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ClientError> {
        Ok(Client {
            shared: Arc::new(Shared {
                http: Http::new(base, token)?,
                socket: OnceLock::new(),
            }),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        self.shared.http.base()
    }

    /// `POST /v1/runs`: creates a run, or answers the identical existing one.
    pub async fn create_run(
        &self,
        request: &CreateRun,
        options: &CallOptions,
    ) -> Result<Created, ClientError> {
        let answer = self
            .shared
            .http
            .call::<Run>(Method::POST, "/v1/runs", Some(request), NOTHING, options)
            .await?;
        Ok(Created {
            created: answer.status == StatusCode::CREATED,
            run: answer.body,
        })
    }

    /// `POST /v1/runs/batch`: up to [`BATCH_RUNS_MAX`](crate::BATCH_RUNS_MAX)
    /// creates decided in item order; each item's answer is what
    /// [`Client::create_run`] would have answered for it. With `atomic`,
    /// all or nothing: a refused item fails the call with its problem,
    /// whose body's `index` names it, and nothing is written.
    pub async fn create_batch(
        &self,
        batch: &CreateBatch,
        options: &CallOptions,
    ) -> Result<Vec<BatchItem>, ClientError> {
        let answer: BatchAnswer = self.post("/v1/runs/batch", batch, options).await?;
        Ok(answer.into_items(self.base()))
    }

    /// `GET /v1/runs/{id}`.
    pub async fn get_run(&self, id: &RunId) -> Result<Run, ClientError> {
        self.get(&run_path(id, ""), NOTHING).await
    }

    /// `GET /v1/runs`: one page, oldest first; follow `next_cursor` for more.
    pub async fn list_runs(&self, query: &ListRuns) -> Result<RunPage, ClientError> {
        self.get("/v1/runs", Some(query)).await
    }

    /// `POST /v1/runs/{id}/start`.
    pub async fn start(
        &self,
        id: &RunId,
        request: &StartRun,
        options: &CallOptions,
    ) -> Result<Run, ClientError> {
        let options = options.or_request(request.if_version, None);
        self.post(&run_path(id, "/start"), request, &options).await
    }

    /// `POST /v1/runs/claim`: the oldest queued run matching the filters,
    /// started for `owner`; `None` when none was queued within `wait_ms`.
    /// Send an `Idempotency-Key` in `options` so a retry after a lost answer
    /// replays the same run.
    pub async fn claim(
        &self,
        request: &ClaimRun,
        options: &CallOptions,
    ) -> Result<Option<Run>, ClientError> {
        let options = options.or_request(None, request.idempotency_key.as_ref());
        self.post("/v1/runs/claim", request, &options).await
    }

    /// `POST /v1/runs/{id}/heartbeat`.
    pub async fn heartbeat(
        &self,
        id: &RunId,
        request: &Heartbeat,
        options: &CallOptions,
    ) -> Result<Run, ClientError> {
        let options = options.or_request(request.if_version, None);
        self.post(&run_path(id, "/heartbeat"), request, &options)
            .await
    }

    /// `POST /v1/runs/{id}/finish`.
    pub async fn finish(
        &self,
        id: &RunId,
        request: &Finish,
        options: &CallOptions,
    ) -> Result<Run, ClientError> {
        self.post(&run_path(id, "/finish"), request, options).await
    }

    /// `POST /v1/runs/{id}/cancel`.
    pub async fn cancel(
        &self,
        id: &RunId,
        request: &Cancel,
        options: &CallOptions,
    ) -> Result<Run, ClientError> {
        let options = options.or_request(request.if_version, None);
        self.post(&run_path(id, "/cancel"), request, &options).await
    }

    /// `POST /v1/runs/{id}/events`: appends a caller event.
    pub async fn append_event(
        &self,
        id: &RunId,
        request: &AppendEvent,
        options: &CallOptions,
    ) -> Result<Appended, ClientError> {
        let options = options.or_request(request.if_version, request.idempotency_key.as_ref());
        self.post(&run_path(id, "/events"), request, &options).await
    }

    /// `GET /v1/runs/{id}/events`: the run's events after seq `after`
    /// (`limit` per page, the server's default 50 when `None`).
    pub async fn events(
        &self,
        id: &RunId,
        after: u64,
        limit: Option<u32>,
    ) -> Result<EventPage, ClientError> {
        self.get(
            &run_path(id, "/events"),
            Some(&EventsQuery { after, limit }),
        )
        .await
    }

    /// `GET /healthz`: `ok` when the server's database answers.
    pub async fn healthz(&self) -> Result<Health, ClientError> {
        self.get("/healthz", NOTHING).await
    }

    /// Every later event of run `id` after seq `after`, exactly once and in
    /// order, over the client's one WebSocket; the stream ends after the
    /// run's terminal event. Reconnects are invisible: the subscription
    /// resumes from the last event it delivered. A run that does not exist
    /// ends the stream with a `not_found` problem. When the run has already
    /// ended and `after` is at or past its terminal event, nothing more
    /// will come: check with [`Client::get_run`] first (`state`,
    /// `last_seq`). Needs a Tokio runtime.
    pub async fn subscribe_run(&self, id: &RunId, after: u64) -> Subscription {
        self.socket().subscribe(Topic::Run(id.clone()), after).await
    }

    /// Every later event of the tenant after position `after`, exactly once
    /// and in position order, over the client's one WebSocket; the stream
    /// never ends by itself. Needs a Tokio runtime.
    pub async fn subscribe_tenant(&self, after: u64) -> Subscription {
        self.socket().subscribe(Topic::Tenant, after).await
    }

    /// How many times the WebSocket has connected so far (0 before the
    /// first subscription): 1 plus the reconnects.
    pub fn websocket_connects(&self) -> u64 {
        self.shared.socket.get().map_or(0, Socket::connects)
    }

    fn socket(&self) -> &Socket {
        self.shared
            .socket
            .get_or_init(|| Socket::spawn(self.shared.http.base(), self.shared.http.token()))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let answer = self
            .shared
            .http
            .call(Method::GET, path, NOTHING, query, &CallOptions::NONE)
            .await?;
        Ok(answer.body)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
        options: &CallOptions,
    ) -> Result<T, ClientError> {
        let answer = self
            .shared
            .http
            .call(Method::POST, path, Some(body), NOTHING, options)
            .await?;
        Ok(answer.body)
    }
}

/// `/v1/runs/<id><rest>`. Ids hold only `[A-Za-z0-9._:-]`, all safe in a
/// URL path, so no escaping is needed.
fn run_path(id: &RunId, rest: &str) -> String {
    format!("/v1/runs/{}{rest}", id.as_str())
}
