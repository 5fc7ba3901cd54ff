//! The bench workloads: what is prepared before the clock starts, and what
//! one caller does in a loop until the deadline.
//!
//! Every name a workload uses starts with the bench's tag, which all
//! processes of one bench share: so the race's 500 shared ids are the same
//! ids in every process, and two benches on one file never collide.
//! Every library call (or, against a server, HTTP request) is one
//! operation, timed on its own.

use super::names::{Random, fnv1a, group_keys, run_ids};
use super::stats::Tally;
use super::target::{OpError, Target};
use crate::cli::Workload;
use runledger::{
    AppendEvent, Cancel, ClaimRun, ConcurrencyGroup, ConcurrencyKey, CreateRun, Epoch, Error,
    ErrorCode, EventType, Finish, Heartbeat, Kind, OnFull, Outcome, Owner, RunId, RunState,
    Segment, StartRun, Tenant,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Runs the repeat workload re-creates.
pub const REPEAT_RUNS: usize = 10_000;
/// Runs the append workload appends to.
pub const APPEND_RUNS: usize = 1_000;
/// Runs queued before the claim workload starts.
pub const CLAIM_RUNS: usize = 50_000;
/// Distinct concurrency groups of the group workload.
pub const GROUP_COUNT: usize = 1_000;
/// The limit of every group of the group workload.
pub const GROUP_LIMIT: u32 = 1_000;
/// The limit of the hot-group workload's one group.
pub const HOT_GROUP_LIMIT: u32 = 3;
/// Ids all race callers create, start, finish and cancel.
pub const RACE_SHARED_IDS: usize = 500;
/// Child keys per shared race id.
pub const RACE_CHILD_KEYS: usize = 4;
/// Concurrency groups of the race: even ones have limit 1, odd ones limit 3.
pub const RACE_GROUPS: usize = 8;
/// Lease length in the race: short, so abandoned runs are reaped meanwhile.
pub const RACE_LEASE_TTL_MS: u64 = 1_000;
/// Group runs a race caller remembers, to finish or cancel later.
const RACE_OWN_RUNS_MAX: usize = 32;
/// Creates per operation of the batch workload.
pub const BATCH_RUNS: usize = 1_000;
/// Concurrency groups of the replace-pending workload (limit 1 each).
pub const REPLACE_GROUPS: usize = 16;
/// Callers that prepare runs before the clock starts.
const PREPARE_CALLERS: usize = 64;

/// Refusals the race provokes on purpose: they count as operations, not errors.
const RACE_EXPECTED_REFUSALS: [ErrorCode; 3] = [
    ErrorCode::ConcurrencyLimit,
    ErrorCode::InvalidTransition,
    ErrorCode::StaleLease,
];

/// Everything a workload's callers share: parsed names, made once.
pub struct Plan {
    /// The workload.
    pub workload: Workload,
    tag: String,
    tenant: Tenant,
    kind: Kind,
    child_kind: Kind,
    event_type: EventType,
    /// Prepared runs (repeat, append) or the race's shared ids.
    ids: Vec<RunId>,
    /// The race's child keys.
    child_keys: Vec<Segment>,
    /// The concurrency groups (group, race).
    groups: Vec<ConcurrencyKey>,
}

impl Plan {
    /// The plan of `workload` for the bench tagged `tag`.
    pub fn new(workload: Workload, tag: &str) -> Result<Plan, Error> {
        let (ids, groups) = match workload {
            // The stream workload's appenders and subscribers are in
            // `super::stream`; it prepares its own runs.
            Workload::Create | Workload::Stream | Workload::Batch => (Vec::new(), Vec::new()),
            Workload::ReplacePending => (Vec::new(), group_keys(tag, REPLACE_GROUPS)?),
            Workload::Repeat => (run_ids(tag, "r", REPEAT_RUNS)?, Vec::new()),
            Workload::Append => (run_ids(tag, "a", APPEND_RUNS)?, Vec::new()),
            Workload::Claim => (run_ids(tag, "q", CLAIM_RUNS)?, Vec::new()),
            Workload::Group => (Vec::new(), group_keys(tag, GROUP_COUNT)?),
            Workload::HotGroup => (Vec::new(), group_keys(tag, 1)?),
            Workload::Race => (
                run_ids(tag, "s", RACE_SHARED_IDS)?,
                group_keys(tag, RACE_GROUPS)?,
            ),
        };
        let child_keys = (0..RACE_CHILD_KEYS)
            .map(|key| Segment::parse(&format!("k{key}")))
            .collect::<Result<_, _>>()?;
        Ok(Plan {
            workload,
            tag: tag.to_owned(),
            tenant: Tenant::default(),
            kind: Kind::parse("bench")?,
            child_kind: Kind::parse("bench-child")?,
            event_type: EventType::parse("progress")?,
            ids,
            child_keys,
            groups,
        })
    }

    /// Creates the runs the workload needs before the clock starts (repeat,
    /// append); the others need none. Answers how many runs it created.
    pub async fn prepare(self: &Arc<Plan>, target: &Target) -> Result<usize, OpError> {
        if !matches!(
            self.workload,
            Workload::Repeat | Workload::Append | Workload::Claim
        ) {
            return Ok(0);
        }
        let mut callers = tokio::task::JoinSet::new();
        for caller in 0..PREPARE_CALLERS {
            let (plan, target) = (self.clone(), target.clone());
            callers.spawn(async move {
                let mut created = 0;
                for id in plan.ids.iter().skip(caller).step_by(PREPARE_CALLERS) {
                    let request = CreateRun::new(plan.kind.clone()).id(id.clone());
                    if target.create_run(&plan.tenant, request).await?.created {
                        created += 1;
                    }
                }
                Ok::<usize, OpError>(created)
            });
        }
        let mut created = 0;
        while let Some(joined) = callers.join_next().await {
            created += joined.map_err(|error| OpError::from(Error::storage(error)))??;
        }
        Ok(created)
    }

    /// The tag every name of this bench starts with.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// One caller's loop: operations until `deadline`, each added to `ops`
    /// as it completes. Answers the caller's tally.
    pub async fn run_caller(
        self: Arc<Plan>,
        target: Target,
        caller: u32,
        deadline: Instant,
        ops: Arc<AtomicU64>,
    ) -> Result<Tally, Error> {
        let process = std::process::id();
        let seed = fnv1a(self.tag.as_bytes()) ^ (u64::from(process) << 32) ^ u64::from(caller);
        let mut caller = Caller {
            owner: Owner::parse(&format!("bench-{process}-{caller}"))?,
            id_prefix: format!("{}-p{process}-c{caller}-", self.tag),
            plan: self,
            target,
            tally: Tally::new(),
            random: Random::new(seed),
            next_id: 0,
            own_runs: Vec::with_capacity(RACE_OWN_RUNS_MAX),
            ops,
        };
        while Instant::now() < deadline {
            match caller.plan.workload {
                Workload::Create => caller.create_new().await?,
                Workload::Repeat => caller.repeat().await,
                Workload::Append => caller.append().await,
                Workload::Claim => {
                    if !caller.claim().await {
                        break;
                    }
                }
                Workload::Group => caller.create_in_group().await?,
                Workload::HotGroup => caller.decide_in_hot_group().await?,
                Workload::Race => caller.race().await?,
                Workload::Batch => caller.create_batch().await?,
                Workload::ReplacePending => caller.replace_pending().await?,
                Workload::Stream => {
                    unreachable!("the stream workload runs its own appenders (stream.rs)")
                }
            }
        }
        Ok(caller.tally)
    }
}

/// One caller's state.
struct Caller {
    plan: Arc<Plan>,
    target: Target,
    tally: Tally,
    random: Random,
    owner: Owner,
    /// Prefix of the new ids this caller makes; unique per process and caller.
    id_prefix: String,
    next_id: u64,
    /// Race: group runs this caller created, with the lease epoch it holds.
    own_runs: Vec<(RunId, Option<Epoch>)>,
    ops: Arc<AtomicU64>,
}

impl Caller {
    /// Times one call into the tally; `None` when it was refused or failed.
    async fn timed<T>(&mut self, call: impl Future<Output = Result<T, OpError>>) -> Option<T> {
        let started = Instant::now();
        let answer = call.await;
        let elapsed = started.elapsed();
        self.ops.fetch_add(1, Ordering::Relaxed);
        match answer {
            Ok(value) => {
                self.tally.record_ok(elapsed);
                Some(value)
            }
            Err(error) => {
                let expected: &[ErrorCode] = match self.plan.workload {
                    Workload::Race => &RACE_EXPECTED_REFUSALS,
                    Workload::HotGroup => &[ErrorCode::ConcurrencyLimit],
                    _ => &[],
                };
                self.tally.record_error(elapsed, &error, expected);
                None
            }
        }
    }

    fn new_id(&mut self) -> Result<RunId, Error> {
        self.next_id += 1;
        RunId::parse(&format!("{}{}", self.id_prefix, self.next_id))
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.random.below(items.len())]
    }

    async fn create_new(&mut self) -> Result<(), Error> {
        let request = CreateRun::new(self.plan.kind.clone()).id(self.new_id()?);
        let (target, tenant) = (self.target.clone(), self.plan.tenant.clone());
        self.timed(target.create_run(&tenant, request)).await;
        Ok(())
    }

    async fn repeat(&mut self) {
        let plan = self.plan.clone();
        let request = CreateRun::new(plan.kind.clone()).id(self.pick(&plan.ids).clone());
        let target = self.target.clone();
        self.timed(target.create_run(&plan.tenant, request)).await;
    }

    async fn append(&mut self) {
        let plan = self.plan.clone();
        let id = self.pick(&plan.ids);
        let request = AppendEvent::new(plan.event_type.clone(), json!({"n": self.next_id}));
        self.next_id += 1;
        let target = self.target.clone();
        self.timed(target.append_event(&plan.tenant, id, request))
            .await;
    }

    /// Claims the oldest queued run; `false` once the queue is empty.
    async fn claim(&mut self) -> bool {
        let plan = self.plan.clone();
        let request = ClaimRun::new(self.owner.clone(), 60_000).kind(plan.kind.clone());
        let target = self.target.clone();
        !matches!(
            self.timed(target.claim(&plan.tenant, request)).await,
            Some(None)
        )
    }

    async fn create_in_group(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        let key = self.pick(&plan.groups).clone();
        let request = CreateRun::new(plan.kind.clone())
            .id(self.new_id()?)
            .concurrency(ConcurrencyGroup::new(key, GROUP_LIMIT, OnFull::Reject)?);
        let target = self.target.clone();
        self.timed(target.create_run(&plan.tenant, request)).await;
        Ok(())
    }

    async fn create_batch(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        let runs = (0..BATCH_RUNS)
            .map(|_| Ok(CreateRun::new(plan.kind.clone()).id(self.new_id()?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let target = self.target.clone();
        self.timed(target.create_batch(&plan.tenant, runs)).await;
        Ok(())
    }

    async fn replace_pending(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        let key = self.pick(&plan.groups).clone();
        let request = CreateRun::new(plan.kind.clone())
            .id(self.new_id()?)
            .concurrency(ConcurrencyGroup::new(key, 1, OnFull::ReplacePending)?);
        let target = self.target.clone();
        self.timed(target.create_run(&plan.tenant, request)).await;
        Ok(())
    }

    /// Hot group: a create in the one group; an admitted run is cancelled
    /// at once, so its slot goes to the next caller.
    async fn decide_in_hot_group(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        let group = ConcurrencyGroup::new(plan.groups[0].clone(), HOT_GROUP_LIMIT, OnFull::Reject)?;
        let request = CreateRun::new(plan.kind.clone())
            .id(self.new_id()?)
            .concurrency(group);
        let (target, tenant) = (self.target.clone(), plan.tenant.clone());
        if let Some(created) = self.timed(target.create_run(&tenant, request)).await {
            let cancel = Cancel {
                reason: Some("bench hot group".to_owned()),
                if_version: None,
                cascade: false,
            };
            self.timed(target.cancel(&tenant, &created.run.id, cancel))
                .await;
        }
        Ok(())
    }

    /// One step of the race: a random mix of contended operations.
    async fn race(&mut self) -> Result<(), Error> {
        match self.random.below(100) {
            0..30 => {
                self.create_shared().await;
            }
            30..45 => self.create_shared_child().await,
            45..70 => self.create_in_race_group().await?,
            70..85 => self.finish_own().await,
            85..93 => self.cancel_own().await,
            _ => self.start_shared().await,
        }
        Ok(())
    }

    /// Creates one of the shared ids; every caller that does gets the same run.
    async fn create_shared(&mut self) -> Option<RunId> {
        let plan = self.plan.clone();
        let id = self.pick(&plan.ids).clone();
        let request = CreateRun::new(plan.kind.clone()).id(id.clone());
        let target = self.target.clone();
        self.timed(target.create_run(&plan.tenant, request))
            .await
            .map(|_| id)
    }

    /// Creates a shared id, then one of its children (keys shared too).
    async fn create_shared_child(&mut self) {
        let Some(parent) = self.create_shared().await else {
            return;
        };
        let plan = self.plan.clone();
        let key = self.pick(&plan.child_keys).clone();
        let request = CreateRun::new(plan.child_kind.clone()).child_of(parent, key);
        let target = self.target.clone();
        self.timed(target.create_run(&plan.tenant, request)).await;
    }

    /// Creates a new run in a small group, with a random `on_full`, half of
    /// them started at once.
    async fn create_in_race_group(&mut self) -> Result<(), Error> {
        let plan = self.plan.clone();
        let group = self.random.below(plan.groups.len());
        let limit = if group.is_multiple_of(2) { 1 } else { 3 };
        let on_full = *self.pick(&[
            OnFull::Reject,
            OnFull::Enqueue,
            OnFull::CancelActive,
            OnFull::ReplacePending,
        ]);
        let mut request = CreateRun::new(plan.kind.clone())
            .id(self.new_id()?)
            .concurrency(ConcurrencyGroup::new(
                plan.groups[group].clone(),
                limit,
                on_full,
            )?);
        if self.random.below(2) == 0 {
            request = request.start(self.owner.clone(), RACE_LEASE_TTL_MS);
        }
        let target = self.target.clone();
        if let Some(created) = self.timed(target.create_run(&plan.tenant, request)).await {
            let epoch = created.run.lease.as_ref().map(|lease| lease.epoch);
            if self.own_runs.len() == RACE_OWN_RUNS_MAX {
                self.own_runs.swap_remove(0);
            }
            self.own_runs.push((created.run.id, epoch));
        }
        Ok(())
    }

    /// Takes one remembered group run, starts it if this caller holds no
    /// lease, heartbeats and finishes it. Others may have cancelled it
    /// meanwhile (cancel_active): then the refusals are expected.
    async fn finish_own(&mut self) {
        if self.own_runs.is_empty() {
            return;
        }
        let (id, epoch) = self
            .own_runs
            .swap_remove(self.random.below(self.own_runs.len()));
        let (target, tenant) = (self.target.clone(), self.plan.tenant.clone());
        let epoch = match epoch {
            Some(epoch) => epoch,
            None => {
                let start = StartRun::new(self.owner.clone(), RACE_LEASE_TTL_MS);
                let Some(run) = self.timed(target.start(&tenant, &id, start)).await else {
                    return;
                };
                run.lease.map(|lease| lease.epoch).unwrap_or_default()
            }
        };
        if self
            .timed(target.heartbeat(&tenant, &id, Heartbeat::new(epoch)))
            .await
            .is_none()
        {
            return;
        }
        let outcome = *self.pick(&[Outcome::Succeeded, Outcome::Failed]);
        let finish = Finish {
            lease_epoch: epoch,
            outcome,
            result: Some(json!({"bench": true})),
            error: (outcome == Outcome::Failed).then(|| "bench failure".to_owned()),
        };
        self.timed(target.finish(&tenant, &id, finish)).await;
    }

    /// Cancels one remembered group run (maybe promoting a pending one).
    async fn cancel_own(&mut self) {
        if self.own_runs.is_empty() {
            return;
        }
        let (id, _) = self
            .own_runs
            .swap_remove(self.random.below(self.own_runs.len()));
        let cancel = Cancel {
            reason: Some("bench cancel".to_owned()),
            if_version: None,
            cascade: false,
        };
        let (target, tenant) = (self.target.clone(), self.plan.tenant.clone());
        self.timed(target.cancel(&tenant, &id, cancel)).await;
    }

    /// Races to start a shared run: one caller wins; the winner usually
    /// finishes it and sometimes abandons it to the reaper; a loser
    /// sometimes cancels it.
    async fn start_shared(&mut self) {
        let Some(id) = self.create_shared().await else {
            return;
        };
        let (target, tenant) = (self.target.clone(), self.plan.tenant.clone());
        let start = StartRun::new(self.owner.clone(), RACE_LEASE_TTL_MS);
        match self.timed(target.start(&tenant, &id, start)).await {
            Some(run) if run.state == RunState::Running => {
                if self.random.below(4) == 0 {
                    return; // abandoned: the reaper times it out
                }
                let finish = Finish {
                    lease_epoch: run.lease.map(|lease| lease.epoch).unwrap_or_default(),
                    outcome: Outcome::Succeeded,
                    result: None,
                    error: None,
                };
                self.timed(target.finish(&tenant, &id, finish)).await;
            }
            Some(_) => {}
            None => {
                if self.random.below(3) == 0 {
                    let cancel = Cancel {
                        reason: Some("bench cancel".to_owned()),
                        if_version: None,
                        cascade: false,
                    };
                    self.timed(target.cancel(&tenant, &id, cancel)).await;
                }
            }
        }
    }
}
