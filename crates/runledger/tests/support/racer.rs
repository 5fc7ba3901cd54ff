//! Racer processes: this test binary re-executed as a separate OS process
//! with its own ledger (own connections, own writer, own reaper), told what
//! to do by a JSON [`Script`] in its environment, released by a `go` line on
//! stdin, reporting acknowledged operations as they happen (`RACER-ACK`) and
//! a final `RACER-RESULT`.
//!
//! Every test binary that races processes defines
//! `#[test] fn racer_child_entry_point() { support::racer::child_main() }`;
//! without the script variable it returns at once.

use super::TestDb;
use runledger::{
    Cancel, ConcurrencyGroup, ConcurrencyKey, CreateRun, Error, Finish, Kind, Ledger, OnFull,
    Options, Outcome, Owner, RunId, Segment, StartRun, Tenant,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const SCRIPT_VAR: &str = "RUNLEDGER_RACER_SCRIPT";
const DB_VAR: &str = "RUNLEDGER_RACER_DB";

/// A create, in a form a script can carry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateSpec {
    pub id: Option<String>,
    pub kind: String,
    pub parent_id: Option<String>,
    pub key: Option<String>,
    pub attributes: Option<Value>,
    /// `(key, limit, on_full)`.
    pub group: Option<(String, u32, String)>,
    /// `(owner, lease_ttl_ms)`.
    pub start: Option<(String, u64)>,
}

impl CreateSpec {
    /// A top-level run with this id.
    pub fn id(id: &str) -> CreateSpec {
        CreateSpec {
            id: Some(id.to_owned()),
            kind: "race".into(),
            ..CreateSpec::default()
        }
    }

    /// The child `key` of `parent`.
    pub fn child(parent: &str, key: &str) -> CreateSpec {
        CreateSpec {
            kind: "race-child".into(),
            parent_id: Some(parent.to_owned()),
            key: Some(key.to_owned()),
            ..CreateSpec::default()
        }
    }

    /// The library request.
    pub fn request(&self) -> Result<CreateRun, Error> {
        let mut request = CreateRun::new(Kind::parse(&self.kind)?);
        if let Some(id) = &self.id {
            request = request.id(RunId::parse(id)?);
        }
        if let (Some(parent), Some(key)) = (&self.parent_id, &self.key) {
            request = request.child_of(RunId::parse(parent)?, Segment::parse(key)?);
        }
        if let Some(attributes) = &self.attributes {
            request = request.attributes(attributes.clone());
        }
        if let Some((key, limit, on_full)) = &self.group {
            request = request.concurrency(ConcurrencyGroup::new(
                ConcurrencyKey::parse(key)?,
                *limit,
                OnFull::parse(on_full)?,
            )?);
        }
        if let Some((owner, ttl)) = &self.start {
            request = request.start(Owner::parse(owner)?, *ttl);
        }
        Ok(request)
    }
}

/// One operation of a scripted sequence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Step {
    Create(CreateSpec),
    /// A batch create; answered `{"results": [...]}` or, refused, with the
    /// refusal's `code` and `index`.
    Batch {
        runs: Vec<CreateSpec>,
        atomic: bool,
    },
    Start {
        id: String,
        owner: String,
        lease_ttl_ms: u64,
    },
    Finish {
        id: String,
        lease_epoch: u64,
        outcome: String,
    },
    Cancel {
        id: String,
    },
    /// A cancel with `cascade`; answered with the run or the refusal.
    CancelCascade {
        id: String,
        reason: String,
    },
    Append {
        id: String,
    },
    Reap,
}

/// What a racer process does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Script {
    /// Runs the steps in order, `ACK`ing each success as it returns.
    Steps { steps: Vec<Step> },
    /// Random creates (some started at once, some with tiny leases),
    /// finishes and cancels in concurrency groups `(key, limit, on_full)`.
    GroupChurn {
        groups: Vec<(String, u32, String)>,
        operations: usize,
        seed: u64,
        prefix: String,
    },
    /// Reaps every `interval_ms` for `duration_ms`; answers how many it reaped.
    Reaper { duration_ms: u64, interval_ms: u64 },
    /// Claims (as `owner`, waiting up to `wait_ms` each time) until a claim
    /// finds nothing; answers the ids it claimed, in order.
    Claimer { owner: String, wait_ms: u64 },
    /// Samples the active count of each group for `duration_ms`; answers the maxima.
    Sampler {
        groups: Vec<String>,
        duration_ms: u64,
    },
    /// Appends `count` events round-robin over `run_ids`.
    Appender { run_ids: Vec<String>, count: usize },
    /// Creates `<prefix>-0` .. `<prefix>-<count>` one by one, retrying each
    /// until it succeeds (the database may be down), `ACK`ing each success.
    PatientCreator { prefix: String, count: usize },
    /// Fires `count` creates of `<prefix>-<n>` at once (in `group`, when
    /// given), `ACK`ing each that succeeds as it returns.
    ConcurrentCreates {
        prefix: String,
        count: usize,
        group: Option<(String, u32, String)>,
    },
    /// Follows the tenant log from position 0 until `until_position`; answers what it saw.
    TenantReader {
        until_position: u64,
        deadline_ms: u64,
    },
}

/// What one racer process reported.
#[derive(Debug)]
pub struct Report {
    /// Each acknowledged step, in order.
    pub acks: Vec<Value>,
    /// The final answer, absent when the process died first.
    pub result: Option<Value>,
    /// Whether the process exited with success.
    pub success: bool,
}

/// Starts one process per script on `db`, releases them together, and
/// collects their reports. `env` is added to every child (e.g. failpoints).
pub async fn race(db: &TestDb, scripts: Vec<Script>, env: &[(&str, &str)]) -> Vec<Report> {
    let owned: Vec<(String, String)> = env
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    race_each(
        &db.url,
        scripts
            .into_iter()
            .map(|script| (script, owned.clone()))
            .collect(),
    )
    .await
}

/// Like [`race`], with each process's own environment, on the database at `url`.
pub async fn race_each(url: &str, scripts: Vec<(Script, Vec<(String, String)>)>) -> Vec<Report> {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut children = Vec::new();
    for (script, env) in &scripts {
        let mut command = Command::new(&exe);
        command
            .args([
                "racer_child_entry_point",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(
                SCRIPT_VAR,
                serde_json::to_string(script).expect("scripts serialize"),
            )
            .env(DB_VAR, url)
            .env_remove("RUNLEDGER_FAILPOINTS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the racer process starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        children.push((child, stdout));
    }
    // Wait until every racer has opened its ledger, then release them together.
    for (_, lines) in &mut children {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("the racer gets ready within a minute")
                .expect("racer stdout is readable")
                .expect("the racer reports ready before exiting");
            // libtest may print "test name ... " on the same line first.
            if line.ends_with("RACER-READY") {
                break;
            }
        }
    }
    for (child, _) in &mut children {
        let stdin = child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n").await.expect("the racer reads go");
        stdin.flush().await.expect("flush go");
    }
    let mut reports = Vec::new();
    for (mut child, mut lines) in children {
        let mut report = Report {
            acks: Vec::new(),
            result: None,
            success: false,
        };
        while let Some(line) = lines.next_line().await.expect("racer stdout is readable") {
            if let Some((_, ack)) = line.split_once("RACER-ACK ") {
                report
                    .acks
                    .push(serde_json::from_str(ack).expect("acks are JSON"));
            } else if let Some((_, result)) = line.split_once("RACER-RESULT ") {
                report.result = Some(serde_json::from_str(result).expect("results are JSON"));
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(300), child.wait())
            .await
            .expect("the racer ends")
            .expect("the racer's status is known");
        report.success = status.success();
        reports.push(report);
    }
    reports
}

/// The child side: runs the script in the environment, if any.
pub fn child_main() {
    let Ok(script) = std::env::var(SCRIPT_VAR) else {
        return;
    };
    let script: Script = serde_json::from_str(&script).expect("the script parses");
    let url = std::env::var(DB_VAR).expect("the racer is given a database");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime starts");
    runtime.block_on(async move {
        // Racers reap only when their script says so, and count what they reap.
        let options = Options {
            reap_interval: None,
            ..Options::default()
        };
        let ledger = Ledger::open_with(&url, options)
            .await
            .expect("the racer opens the ledger");
        emit("RACER-READY");
        let mut go = String::new();
        tokio::io::BufReader::new(tokio::io::stdin())
            .read_line(&mut go)
            .await
            .expect("the racer reads go");
        let result = run(&ledger, script).await;
        emit(&format!("RACER-RESULT {result}"));
    });
}

fn emit(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").expect("stdout is writable");
    stdout.flush().expect("stdout flushes");
}

fn answer(result: Result<runledger::Run, Error>) -> Value {
    match result {
        Ok(run) => json!({"id": run.id, "state": run.state, "version": run.version}),
        Err(error) => json!({"code": error.code().as_str(), "detail": error.to_string()}),
    }
}

async fn run(ledger: &Ledger, script: Script) -> Value {
    let tenant = Tenant::default();
    match script {
        Script::ConcurrentCreates {
            prefix,
            count,
            group,
        } => {
            let tasks: Vec<_> = (0..count)
                .map(|n| {
                    let (ledger, tenant) = (ledger.clone(), tenant.clone());
                    let mut spec = CreateSpec::id(&format!("{prefix}-{n}"));
                    spec.group = group.clone();
                    let step = Step::Create(spec);
                    tokio::spawn(async move {
                        let answer = run_step(&ledger, &tenant, &step).await;
                        if answer.get("code").is_none() {
                            emit(&format!(
                                "RACER-ACK {}",
                                json!({"step": step, "answer": answer})
                            ));
                        }
                        answer
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.expect("create task"));
            }
            Value::Array(answers)
        }
        Script::PatientCreator { prefix, count } => {
            let mut failures = 0;
            for n in 0..count {
                let step = Step::Create(CreateSpec::id(&format!("{prefix}-{n}")));
                let started = Instant::now();
                loop {
                    let answer = run_step(ledger, &tenant, &step).await;
                    if answer.get("code").is_none() {
                        emit(&format!(
                            "RACER-ACK {}",
                            json!({"step": step, "answer": answer})
                        ));
                        break;
                    }
                    failures += 1;
                    assert!(
                        started.elapsed() < Duration::from_secs(120),
                        "the ledger never recovered: {answer}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            json!({"failures": failures})
        }
        Script::Steps { steps } => {
            let mut answers = Vec::new();
            for step in steps {
                let answer = run_step(ledger, &tenant, &step).await;
                if answer.get("code").is_none() {
                    emit(&format!(
                        "RACER-ACK {}",
                        json!({"step": step, "answer": answer})
                    ));
                }
                answers.push(answer);
            }
            Value::Array(answers)
        }
        Script::GroupChurn {
            groups,
            operations,
            seed,
            prefix,
        } => group_churn(ledger, &tenant, &groups, operations, seed, &prefix).await,
        Script::Reaper {
            duration_ms,
            interval_ms,
        } => {
            let started = Instant::now();
            let mut reaped = 0;
            while started.elapsed() < Duration::from_millis(duration_ms) {
                reaped += ledger.reap().await.expect("reap works");
                tokio::time::sleep(Duration::from_millis(interval_ms)).await;
            }
            json!({"reaped": reaped})
        }
        Script::Claimer { owner, wait_ms } => {
            let mut claimed = Vec::new();
            loop {
                let request =
                    runledger::ClaimRun::new(Owner::parse(&owner).expect("owner"), 60_000)
                        .wait_ms(wait_ms);
                match ledger.claim(&tenant, request).await.expect("claim works") {
                    Some(run) => {
                        assert_eq!(
                            run.lease.as_ref().expect("a lease").owner.as_str(),
                            owner.as_str()
                        );
                        claimed.push(run.id.to_string());
                    }
                    None => break,
                }
            }
            json!({"claimed": claimed})
        }
        Script::Sampler {
            groups,
            duration_ms,
        } => {
            let started = Instant::now();
            let mut maxima = vec![0usize; groups.len()];
            let mut samples = 0;
            while started.elapsed() < Duration::from_millis(duration_ms) {
                for (index, group) in groups.iter().enumerate() {
                    let key = ConcurrencyKey::parse(group).expect("group key");
                    // One page is one read snapshot: queued and running are counted together.
                    let filter = runledger::ListRuns {
                        concurrency_key: Some(key),
                        limit: Some(1000),
                        ..Default::default()
                    };
                    let page = ledger.list_runs(&tenant, filter).await.expect("list");
                    assert!(
                        page.next_cursor.is_none(),
                        "the sampler sees the whole group in one page"
                    );
                    let active = page.runs.iter().filter(|run| run.state.is_active()).count();
                    maxima[index] = maxima[index].max(active);
                }
                samples += 1;
            }
            json!({"maxima": maxima, "samples": samples})
        }
        Script::Appender { run_ids, count } => {
            let mut positions = Vec::new();
            for index in 0..count {
                let id = RunId::parse(&run_ids[index % run_ids.len()]).expect("run id");
                let event = runledger::AppendEvent::new(
                    runledger::EventType::parse("progress").expect("type"),
                    json!({"index": index}),
                );
                let appended = ledger
                    .append_event(&tenant, &id, event)
                    .await
                    .expect("append works");
                positions.push(appended.position);
            }
            json!({"positions": positions})
        }
        Script::TenantReader {
            until_position,
            deadline_ms,
        } => {
            let started = Instant::now();
            let mut seen: Vec<(String, u64, u64)> = Vec::new();
            let mut after = 0;
            while after < until_position && started.elapsed() < Duration::from_millis(deadline_ms) {
                let events = ledger
                    .tenant_events(&tenant, after, Some(1000))
                    .await
                    .expect("read");
                if events.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                for event in events {
                    after = event.position;
                    seen.push((event.run_id.to_string(), event.seq, event.position));
                }
            }
            json!({"seen": seen})
        }
    }
}

async fn run_step(ledger: &Ledger, tenant: &Tenant, step: &Step) -> Value {
    match step {
        Step::Create(spec) => match spec.request() {
            Ok(request) => match ledger.create_run(tenant, request).await {
                Ok(created) => json!({
                    "id": created.run.id, "created": created.created, "state": created.run.state,
                    "version": created.run.version, "created_at": created.run.created_at,
                }),
                Err(error) => json!({"code": error.code().as_str(), "detail": error.to_string()}),
            },
            Err(error) => json!({"code": error.code().as_str(), "detail": error.to_string()}),
        },
        Step::Batch { runs, atomic } => {
            let requests: Result<Vec<_>, _> = runs.iter().map(CreateSpec::request).collect();
            let batch = runledger::CreateBatch {
                runs: requests.expect("batch specs are valid"),
                atomic: *atomic,
            };
            match ledger.create_batch(tenant, batch).await {
                Ok(answers) => {
                    let results: Vec<Value> = answers
                        .into_iter()
                        .map(|answer| match answer {
                            Ok(created) => {
                                json!({"id": created.run.id, "created": created.created})
                            }
                            Err(error) => json!({
                                "code": error.code().as_str(),
                                "detail": error.to_string(),
                            }),
                        })
                        .collect();
                    json!({"results": results})
                }
                Err(refused) => json!({
                    "code": refused.error.code().as_str(),
                    "index": refused.index,
                    "detail": refused.to_string(),
                }),
            }
        }
        Step::Start {
            id,
            owner,
            lease_ttl_ms,
        } => {
            let request = StartRun::new(Owner::parse(owner).expect("owner"), *lease_ttl_ms);
            answer(
                ledger
                    .start(tenant, &RunId::parse(id).expect("id"), request)
                    .await,
            )
        }
        Step::Finish {
            id,
            lease_epoch,
            outcome,
        } => {
            let finish = Finish {
                lease_epoch: *lease_epoch,
                outcome: if outcome == "failed" {
                    Outcome::Failed
                } else {
                    Outcome::Succeeded
                },
                result: Some(json!({"by": std::process::id()})),
                error: None,
            };
            answer(
                ledger
                    .finish(tenant, &RunId::parse(id).expect("id"), finish, None)
                    .await,
            )
        }
        Step::Cancel { id } => answer(
            ledger
                .cancel(tenant, &RunId::parse(id).expect("id"), Cancel::default())
                .await,
        ),
        Step::CancelCascade { id, reason } => {
            let cancel = Cancel {
                reason: Some(reason.clone()),
                cascade: true,
                if_version: None,
            };
            answer(
                ledger
                    .cancel(tenant, &RunId::parse(id).expect("id"), cancel)
                    .await,
            )
        }
        Step::Append { id } => {
            let event = runledger::AppendEvent::new(
                runledger::EventType::parse("progress").expect("type"),
                json!({"pid": std::process::id()}),
            );
            match ledger
                .append_event(tenant, &RunId::parse(id).expect("id"), event)
                .await
            {
                Ok(appended) => json!({"seq": appended.seq, "position": appended.position}),
                Err(error) => json!({"code": error.code().as_str(), "detail": error.to_string()}),
            }
        }
        Step::Reap => match ledger.reap().await {
            Ok(reaped) => json!({"reaped": reaped}),
            Err(error) => json!({"code": error.code().as_str(), "detail": error.to_string()}),
        },
    }
}

/// A small deterministic generator, so a failing seed can be replayed.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

async fn group_churn(
    ledger: &Ledger,
    tenant: &Tenant,
    groups: &[(String, u32, String)],
    operations: usize,
    seed: u64,
    prefix: &str,
) -> Value {
    let mut random = XorShift::new(seed);
    let mut mine: Vec<RunId> = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    for index in 0..operations {
        let (key, limit, on_full) = &groups[random.below(groups.len())];
        let outcome = match random.below(10) {
            0..=4 => {
                let mut spec = CreateSpec::id(&format!("{prefix}-{index}"));
                spec.group = Some((key.clone(), *limit, on_full.clone()));
                match random.below(3) {
                    0 => spec.start = Some(("churn".into(), 60_000)),
                    1 => spec.start = Some(("churn".into(), 100)),
                    _ => {}
                }
                let request = spec.request().expect("valid spec");
                match ledger.create_run(tenant, request).await {
                    Ok(created) => {
                        mine.push(created.run.id);
                        format!("created_{}", created.run.state)
                    }
                    Err(error) => error.code().as_str().to_owned(),
                }
            }
            5..=6 if !mine.is_empty() => {
                let id = mine[random.below(mine.len())].clone();
                let run = ledger.get_run(tenant, &id).await.expect("own run exists");
                match run.state {
                    runledger::RunState::Queued => {
                        let request = StartRun::new(Owner::parse("churn").expect("owner"), 60_000);
                        match ledger.start(tenant, &id, request).await {
                            Ok(_) => "started".into(),
                            Err(error) => error.code().as_str().to_owned(),
                        }
                    }
                    _ => {
                        let finish = Finish {
                            lease_epoch: 1,
                            outcome: Outcome::Succeeded,
                            result: None,
                            error: None,
                        };
                        match ledger.finish(tenant, &id, finish, None).await {
                            Ok(_) => "finished".into(),
                            Err(error) => error.code().as_str().to_owned(),
                        }
                    }
                }
            }
            7..=8 if !mine.is_empty() => {
                let id = mine[random.below(mine.len())].clone();
                match ledger.cancel(tenant, &id, Cancel::default()).await {
                    Ok(_) => "cancelled".into(),
                    Err(error) => error.code().as_str().to_owned(),
                }
            }
            _ => match ledger.reap().await {
                Ok(reaped) => format!("reaped_{}", reaped.min(1)),
                Err(error) => error.code().as_str().to_owned(),
            },
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    json!(outcomes)
}
