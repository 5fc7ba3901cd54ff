//! The CTEs a statement stamps its own new events with, and the rule it
//! stamps by.
//!
//! Positions stay gap-free and in commit order: a statement adds its events
//! to the tenant's counter row, whose lock is held to the commit, so the
//! next stamping statement (or the sequencer, which shares the counter)
//! numbers after it and commits after it; a statement that fails takes its
//! numbers back with it. A statement stamps its events only when its
//! snapshot shows no unstamped event of their tenants (other writes'
//! events, which the sequencer stamps after their commit): otherwise an
//! event committed before it would get a higher position than its own.
//! Every stamping statement notifies [`CHANNEL`] at commit (feed.rs
//! listens).

/// The channel stamping passes notify.
pub(crate) const CHANNEL: &str = "runledger_positions";

/// The CTE `counter` of a statement that stamps its own new events: adds
/// the rows of `events` (a CTE with a `tenant` column) to their tenants'
/// counters, holding each counter row to the commit, and answers each
/// tenant's `base` (the position before the first of them); notifies the
/// channel bound as `channel` (e.g. `$10`) at commit. Tenants in order, so
/// two such statements lock their counters in one order.
pub(crate) fn counter_cte(events: &str, channel: &str) -> String {
    format!(
        "counter AS (
            INSERT INTO tenant_positions AS p (tenant, last_position)
            SELECT tenant, COUNT(*) FROM {events} GROUP BY tenant ORDER BY tenant
            ON CONFLICT (tenant) DO UPDATE SET last_position = p.last_position + EXCLUDED.last_position
            RETURNING p.tenant,
                p.last_position - (SELECT COUNT(*) FROM {events} WHERE {events}.tenant = p.tenant) AS base,
                pg_notify({channel}, p.tenant) AS announced)"
    )
}

/// The CTEs that insert the `created` event of each run a create statement
/// inserted, stamped from the tenants' counters when `settled` says so
/// (else unstamped, for the sequencer), and notify the channel bound as
/// `channel` at commit. The statement provides `clock` (`now`), `input`
/// (`tenant`, `id`, the event's `type` and `data`), `settled` (`ok`) and
/// `inserted` (`tenant`, `id`); `numbered` numbers the new events per
/// tenant in id order.
pub(crate) fn created_events_ctes(channel: &str) -> String {
    format!(
        "numbered AS MATERIALIZED (
            SELECT tenant, id, row_number() OVER (PARTITION BY tenant ORDER BY id) AS k FROM inserted),
        stampable AS (SELECT numbered.* FROM numbered WHERE (SELECT ok FROM settled)),
        {counter},
        created_events AS (
            INSERT INTO events (tenant, run_id, seq, type, data, at, position)
            SELECT numbered.tenant, numbered.id, 1, input.type, input.data, clock.now,
                counter.base + numbered.k
            FROM numbered
            JOIN input ON input.tenant = numbered.tenant AND input.id = numbered.id
            CROSS JOIN clock
            LEFT JOIN counter ON counter.tenant = numbered.tenant)",
        counter = counter_cte("stampable", channel),
    )
}
