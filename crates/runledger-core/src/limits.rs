//! Every bound the SPEC sets, named once. Parsers and the storage layer refer
//! to these constants; nothing else spells the numbers.

/// Longest run id segment, tenant-independent (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`).
pub const SEGMENT_CHARS_MAX: usize = 128;
/// Segments in a run id, the top-level one included (`job-1:acme:eu` has 3).
pub const RUN_ID_SEGMENTS_MAX: usize = 8;
/// Longest tenant name (`[a-z0-9][a-z0-9_-]{0,63}`).
pub const TENANT_CHARS_MAX: usize = 64;
/// Longest kind (`[A-Za-z0-9._-]{1,128}`).
pub const KIND_CHARS_MAX: usize = 128;
/// Longest caller event type (`[a-z0-9][a-z0-9._-]{0,63}`).
pub const EVENT_TYPE_CHARS_MAX: usize = 64;
/// Longest concurrency key (`[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}`).
pub const CONCURRENCY_KEY_CHARS_MAX: usize = 256;
/// Smallest and largest concurrency limit.
pub const CONCURRENCY_LIMIT_MIN: u32 = 1;
/// Largest concurrency limit.
pub const CONCURRENCY_LIMIT_MAX: u32 = 10_000;
/// Longest lease owner, in characters (1–256 printable characters).
pub const OWNER_CHARS_MAX: usize = 256;
/// Shortest lease.
pub const LEASE_TTL_MS_MIN: u64 = 100;
/// Longest lease: one day.
pub const LEASE_TTL_MS_MAX: u64 = 86_400_000;
/// Serialized size of a run's `attributes` object.
pub const ATTRIBUTES_BYTES_MAX: usize = 64 * 1024;
/// Serialized size of an event's `data`.
pub const EVENT_DATA_BYTES_MAX: usize = 256 * 1024;
/// Serialized size of a finished run's `result`.
pub const RESULT_BYTES_MAX: usize = 256 * 1024;
/// Length of a finished run's `error` or a cancel reason, in bytes.
pub const ERROR_BYTES_MAX: usize = 64 * 1024;
/// Default page size of run and event listings.
pub const PAGE_LIMIT_DEFAULT: u32 = 50;
/// Largest page size of run and event listings.
pub const PAGE_LIMIT_MAX: u32 = 1_000;
/// Longest `Idempotency-Key` header value.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;
/// How long an idempotency key is kept: a retry within this window replays.
pub const IDEMPOTENCY_KEY_KEPT_MS: i64 = 24 * 60 * 60 * 1000;
/// How long an in-flight idempotency key stays held without its request
/// showing it is alive (the server touches it every
/// [`IDEMPOTENCY_IN_FLIGHT_TOUCH_MS`] while the request runs): after this a
/// retry takes it over (the first server died mid-request).
pub const IDEMPOTENCY_IN_FLIGHT_STALE_MS: i64 = 5 * 1000;
/// How often a running request touches its in-flight idempotency key.
pub const IDEMPOTENCY_IN_FLIGHT_TOUCH_MS: u64 = 1_000;
/// Most kinds a claim may filter on.
pub const CLAIM_KINDS_MAX: usize = 100;
/// Longest a claim may wait for a run to be queued.
pub const CLAIM_WAIT_MS_MAX: u64 = 30_000;
/// Most runs one batch create holds (`POST /v1/runs/batch`).
pub const BATCH_RUNS_MAX: usize = 1_000;
