//! What both backends agree on, written once: the columns every read
//! selects (each backend's rows.rs maps them in this order), the audit's
//! checks whose SQL both dialects share, and how many bytes an event counts
//! for in a stream's buffers.

/// The `runs` columns every read selects, in the order the backends'
/// `rows::record` maps them.
pub(crate) const RUN_COLUMNS: &str = "tenant, id, kind, parent_id, key, state, concurrency_key, \
     concurrency_limit, concurrency_on_full, attributes, result, error, version, last_seq, \
     lease_owner, lease_epoch, lease_expires_at, lease_ttl_ms, created_at, updated_at, \
     started_at, finished_at";

/// The `events` columns every read selects, in the order the backends'
/// `rows::event` maps them.
pub(crate) const EVENT_COLUMNS: &str = "run_id, seq, position, type, data, at";

/// Bytes an event counts for in a stream's buffers beyond its data's
/// length: its run id, type, numbers and JSON framing, roughly.
pub(crate) const EVENT_ENVELOPE_BYTES: usize = 128;

/// Audit: runs without their `created` event at seq 1, as `(tenant,
/// run_id, detail)`.
pub(crate) const MISSING_CREATED_EVENT_CHECK: &str = "SELECT r.tenant, r.id, 'no created event at seq 1' FROM runs r WHERE NOT EXISTS \
     (SELECT 1 FROM events e WHERE e.tenant = r.tenant AND e.run_id = r.id AND e.seq = 1 AND e.type = 'created')";

/// Audit: groups with more active runs than the largest limit among them.
pub(crate) const OVER_LIMIT_CHECK: &str = "SELECT tenant, NULL, 'group ' || concurrency_key || ' has ' || COUNT(*) || \
     ' active runs; the largest limit among them is ' || MAX(concurrency_limit) \
     FROM runs WHERE concurrency_key IS NOT NULL AND state IN ('queued', 'running') \
     GROUP BY tenant, concurrency_key HAVING COUNT(*) > MAX(concurrency_limit)";

/// Audit: the oldest pending run of a group that has a free slot.
pub(crate) const STUCK_PENDING_CHECK: &str = "SELECT p.tenant, p.id, 'pending although group ' || p.concurrency_key || ' has ' || \
     (SELECT COUNT(*) FROM runs a WHERE a.tenant = p.tenant AND a.concurrency_key = p.concurrency_key \
      AND a.state IN ('queued', 'running')) || ' active runs of its limit ' || p.concurrency_limit \
     FROM runs p WHERE p.state = 'pending' \
     AND p.created_order = (SELECT MIN(o.created_order) FROM runs o WHERE o.tenant = p.tenant \
         AND o.concurrency_key = p.concurrency_key AND o.state = 'pending') \
     AND (SELECT COUNT(*) FROM runs a WHERE a.tenant = p.tenant AND a.concurrency_key = p.concurrency_key \
          AND a.state IN ('queued', 'running')) < p.concurrency_limit";

/// Audit: a running run without a lease, or another run with one.
pub(crate) const LEASE_MISMATCH_CHECK: &str = "SELECT tenant, id, state || ' run ' || CASE WHEN lease_owner IS NULL THEN 'without' ELSE 'with' END || ' a lease' \
     FROM runs WHERE (state = 'running') <> (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)";

/// Audit: every run's tenant, id and state, and the type of its newest
/// lifecycle event (checked by `audit::missing_lifecycle_event`).
pub(crate) const NEWEST_LIFECYCLE_EVENTS: &str = "SELECT r.tenant, r.id, r.state, (SELECT e.type FROM events e WHERE e.tenant = r.tenant \
     AND e.run_id = r.id AND e.type IN ('created', 'promoted', 'started', 'succeeded', 'failed', \
     'cancelled', 'timed_out') ORDER BY e.seq DESC LIMIT 1) FROM runs r";
