//! PostgreSQL's own faults (issue 4): a connection terminated at each point
//! between the writes of an operation, PostgreSQL itself crashed and
//! restarted while a writer runs, a writer killed after its commit but
//! before its events were stamped, and the batchers' kept connections ended
//! while idle. Every acknowledged operation survives,
//! nothing is half-written, the audit is clean, and the ledger recovers
//! without a restart.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod support;

use runledger::{CreateRun, Kind, OnFull, Owner, RunId, Tenant};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::racer::{CreateSpec, Script, Step, race, race_each};
use support::{TestDb, eventually, psql};

#[test]
fn racer_child_entry_point() {
    support::racer::child_main()
}

postgres_only!(
    a_connection_terminated_mid_operation_changes_nothing_and_the_ledger_recovers,
    a_writer_killed_before_its_events_are_stamped_loses_no_position,
    the_batchers_kept_connections_terminated_while_idle_are_replaced,
    a_group_lock_that_times_out_fails_its_call_and_leaves_no_connection_aborted,
);

/// An operation, the state it needs, and the failpoint that pauses inside
/// its transaction. An append, like a create outside a group, is one
/// autocommit statement on PostgreSQL (read, then one conditional write):
/// there is no transaction to end between its writes; its failpoints are
/// tested with injected errors and kills in atomic_run_and_outbox.rs.
const PAUSE_SITES: [(&str, &str); 6] = [
    ("create_run.after_events", "create"),
    ("start.after_run_row", "start"),
    ("finish.after_run_row", "finish"),
    ("cancel.after_run_row", "cancel"),
    ("promote.after_run_row", "promote"),
    ("reap.after_run_row", "reap"),
];

async fn prepare(db: &TestDb, operation: &str) -> Vec<Step> {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let create = |id: &str| CreateRun::new(Kind::parse("k").unwrap()).id(RunId::parse(id).unwrap());
    let running = |id: &str| create(id).start(Owner::parse("w").unwrap(), 600_000);
    let (first, second) = match operation {
        "create" => {
            // A create in a `cancel_active` group is a transaction (it may
            // cancel runs); other creates are single statements, batched.
            let grouped = |id: &str| {
                let mut spec = CreateSpec::id(id);
                spec.group = Some(("roomy".into(), 10_000, "cancel_active".into()));
                Step::Create(spec)
            };
            (grouped("a"), grouped("b"))
        }
        "start" => {
            for id in ["a", "b"] {
                ledger.create_run(&tenant, create(id)).await.unwrap();
            }
            let start = |id: &str| Step::Start {
                id: id.into(),
                owner: "w2".into(),
                lease_ttl_ms: 60_000,
            };
            (start("a"), start("b"))
        }
        "finish" => {
            for id in ["a", "b"] {
                ledger.create_run(&tenant, running(id)).await.unwrap();
            }
            let finish = |id: &str| Step::Finish {
                id: id.into(),
                lease_epoch: 1,
                outcome: "succeeded".into(),
            };
            (finish("a"), finish("b"))
        }
        "cancel" => {
            for id in ["a", "b"] {
                ledger.create_run(&tenant, create(id)).await.unwrap();
            }
            (
                Step::Cancel { id: "a".into() },
                Step::Cancel { id: "b".into() },
            )
        }
        "promote" => {
            for id in ["a", "b", "c"] {
                let grouped = create(id)
                    .concurrency_group(
                        runledger::ConcurrencyKey::parse("g").unwrap(),
                        1,
                        OnFull::Enqueue,
                    )
                    .unwrap();
                ledger.create_run(&tenant, grouped).await.unwrap();
            }
            (
                Step::Cancel { id: "a".into() },
                Step::Cancel { id: "c".into() },
            )
        }
        "reap" => {
            ledger.create_run(&tenant, running("a")).await.unwrap();
            db.execute_sql("UPDATE runs SET lease_expires_at = lease_expires_at - 100000000");
            (Step::Reap, Step::Create(CreateSpec::id("b")))
        }
        other => panic!("no setup for {other}"),
    };
    vec![first, second]
}

async fn a_connection_terminated_mid_operation_changes_nothing_and_the_ledger_recovers(db: TestDb) {
    for (site, operation) in PAUSE_SITES {
        let db = TestDb::new(db.backend, &format!("terminate-{operation}"));
        let steps = prepare(&db, operation).await;
        let before = db.snapshot();
        let failpoint = format!("{site}=1*sleep(1500)");
        let database = db.url.rsplit_once('/').unwrap().1.to_owned();
        let terminate = async {
            // The paused transaction sits idle in its transaction for 1.5 s:
            // end its connection. Other transactions are idle in transaction
            // only for a moment between statements (opening the ledger, a
            // stamping pass); ending one of those would fail the wrong call.
            eventually(Duration::from_secs(20), || async {
                let killed = psql(
                    &support::postgres_admin_url(),
                    &format!(
                        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE datname = '{database}' AND state = 'idle in transaction' \
                         AND clock_timestamp() - state_change > interval '400 milliseconds'"
                    ),
                );
                (killed.trim() != "0").then_some(())
            })
            .await
        };
        let env = [("RUNLEDGER_FAILPOINTS", failpoint.as_str())];
        let (reports, ()) = tokio::join!(race(&db, vec![Script::Steps { steps }], &env), terminate);
        let answers = reports[0]
            .result
            .as_ref()
            .unwrap()
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(
            answers[0]["code"], "internal",
            "{site}: the interrupted operation failed: {answers:?}"
        );
        assert!(
            answers[1].get("code").is_none(),
            "{site}: the same ledger works on: {answers:?}"
        );
        if operation != "reap" && operation != "create" {
            // Only the second operation's effect is there.
            assert_ne!(db.snapshot(), before);
        }
        let ledger = db.open_without_reaper().await;
        let tenant = Tenant::default();
        match operation {
            "create" => assert!(
                ledger
                    .get_run(&tenant, &RunId::parse("a").unwrap())
                    .await
                    .is_err()
            ),
            "reap" => assert_eq!(
                db.count("SELECT COUNT(*) FROM runs WHERE state = 'timed_out'"),
                0
            ),
            _ => {}
        }
        ledger.reap().await.unwrap();
        let audit = ledger.audit().await.unwrap();
        assert!(audit.is_clean(), "{site}: {audit:#?}");
    }
}

async fn a_writer_killed_before_its_events_are_stamped_loses_no_position(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let ids: Vec<String> = (0..10).map(|n| format!("run-{n}")).collect();
    let doomed: Vec<String> = (0..50).map(|n| format!("doomed-{n}")).collect();
    for id in ids.iter().chain(&doomed) {
        ledger
            .create_run(
                &tenant,
                CreateRun::new(Kind::parse("k").unwrap()).id(RunId::parse(id).unwrap()),
            )
            .await
            .unwrap();
    }
    let appender = |count| Script::Appender {
        run_ids: ids.clone(),
        count,
    };
    // The first writer cancels (a write that leaves its event to the
    // sequencer; an append stamps its own) and dies right after committing
    // its 40th cancel, unstamped.
    let canceller = Script::Steps {
        steps: doomed
            .iter()
            .map(|id| Step::Cancel { id: id.clone() })
            .collect(),
    };
    let killed = vec![(
        "RUNLEDGER_FAILPOINTS".to_owned(),
        "batch.after_commit=abort@40".to_owned(),
    )];
    // 60 created, 40 cancelled (the 40th by the dead writer), 600 appended.
    let total = 60 + 39 + 1 + 3 * 200;
    let reports = race_each(
        &db.url,
        vec![
            (canceller, killed),
            (appender(200), vec![]),
            (appender(200), vec![]),
            (appender(200), vec![]),
            (
                Script::TenantReader {
                    until_position: total as u64,
                    deadline_ms: 60_000,
                },
                vec![],
            ),
        ],
    )
    .await;
    assert!(!reports[0].success, "the first writer was killed");
    let seen: Vec<(String, u64, u64)> =
        serde_json::from_value(reports[4].result.as_ref().unwrap()["seen"].clone()).unwrap();
    let log: Vec<(String, u64, u64)> = ledger
        .tenant_events(&tenant, 0, Some(1_000))
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.run_id.to_string(), event.seq, event.position))
        .collect();
    assert_eq!(
        log.len(),
        total,
        "the dead writer's committed event was stamped by the others"
    );
    assert_eq!(seen, log, "the reader saw every event once, in order");
    assert!(ledger.audit().await.unwrap().is_clean());
}

/// A PostgreSQL cluster of the test's own on another port, to stop and start.
struct ThrowawayCluster {
    data: PathBuf,
    port: u16,
}

fn postgres_bin(tool: &str) -> PathBuf {
    let versions =
        std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL server binaries are installed");
    let newest = versions
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .max()
        .expect("a PostgreSQL version");
    newest.join("bin").join(tool)
}

fn as_postgres(tool: &str, args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(postgres_bin(tool))
        .args(args)
        .status()
        .expect("runuser runs");
    assert!(status.success(), "{tool} {args:?} failed");
}

impl ThrowawayCluster {
    fn start(port: u16) -> ThrowawayCluster {
        let data =
            std::env::temp_dir().join(format!("runledger-cluster-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&data)
            .status()
            .unwrap();
        as_postgres(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-N",
            ],
        );
        let cluster = ThrowawayCluster { data, port };
        cluster.up();
        cluster
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.data.display()
        );
        let log = format!("{}/log", self.data.display());
        let started = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(postgres_bin("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-o", &options])
            .args(["-l", &log, "-w", "start"])
            .status()
            .expect("runuser runs");
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            started.success(),
            "the throwaway cluster did not start on port {}; its log:\n{server_log}",
            self.port
        );
    }

    fn crash(&self) {
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(postgres_bin("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .status();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_crashed_and_restarted_under_a_writer_loses_no_acknowledged_create() {
    // Below the ephemeral range (32768–60999 here): a port in it can be
    // taken at any moment as the local end of some client's connection,
    // and the postmaster then cannot bind it.
    let cluster = ThrowawayCluster::start(25_432 + (std::process::id() % 1_000) as u16);
    let url = cluster.url();
    runledger::Ledger::open(&url).await.unwrap(); // migrate
    let count = 3_000;
    let writer = race_each(
        &url,
        vec![(
            Script::PatientCreator {
                prefix: "r".into(),
                count,
            },
            vec![],
        )],
    );
    let chaos = async {
        // Crash PostgreSQL once the writer is well under way, then bring it back.
        eventually(Duration::from_secs(60), || async {
            let created = psql(&url, "SELECT COUNT(*) FROM runs");
            (created.trim().parse::<usize>().unwrap_or(0) >= 200).then_some(())
        })
        .await;
        cluster.crash();
        tokio::time::sleep(Duration::from_millis(500)).await; // an outage, not a poll
        cluster.up();
    };
    let (reports, ()) = tokio::join!(writer, chaos);
    let report = &reports[0];
    assert!(report.success);
    assert_eq!(
        report.acks.len(),
        count,
        "every create was eventually acknowledged"
    );
    assert!(
        report.result.as_ref().unwrap()["failures"]
            .as_u64()
            .unwrap()
            > 0,
        "the outage was felt"
    );
    let ledger = runledger::Ledger::open(&url).await.unwrap();
    for n in 0..count {
        ledger
            .get_run(
                &Tenant::default(),
                &RunId::parse(&format!("r-{n}")).unwrap(),
            )
            .await
            .unwrap();
    }
    let audit = eventually(Duration::from_secs(10), || async {
        let audit = ledger.audit().await.unwrap();
        audit.is_clean().then_some(audit)
    })
    .await;
    assert!(audit.is_clean());
}

/// Every batcher keeps its connection between batches (held.rs). When
/// PostgreSQL ends all the batchers' connections while idle (named
/// `runledger-batches`; an idle connection of the main pool, tested on
/// release only, would fail one call the same way), each batcher's next batch may
/// fail (as a pooled idle connection would), and the one after it runs on a
/// new connection: the ledger recovers by itself, and nothing is lost.
async fn the_batchers_kept_connections_terminated_while_idle_are_replaced(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let kind = Kind::parse("k").unwrap();
    let plain = |id: &str| CreateRun::new(kind.clone()).id(RunId::parse(id).unwrap());
    let grouped = |id: &str| {
        let group = runledger::ConcurrencyGroup::new(
            runledger::ConcurrencyKey::parse("g").unwrap(),
            1_000,
            OnFull::Reject,
        );
        plain(id).concurrency(group.unwrap())
    };
    let append = || {
        runledger::AppendEvent::new(
            runledger::EventType::parse("progress").unwrap(),
            serde_json::json!({}),
        )
    };
    // Each batcher writes once, and keeps its connection.
    ledger.create_run(&tenant, plain("a")).await.unwrap();
    ledger.create_run(&tenant, grouped("b")).await.unwrap();
    let id = RunId::parse("a").unwrap();
    ledger.append_event(&tenant, &id, append()).await.unwrap();
    let database = db.url.rsplit_once('/').unwrap().1.to_owned();
    let ended = psql(
        &support::postgres_admin_url(),
        &format!(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{database}' AND application_name = 'runledger-batches'"
        ),
    );
    assert!(ended.trim().parse::<i64>().unwrap() >= 3, "ended {ended}");
    // At most one failure per batcher, then each works again.
    for round in 0..3 {
        let created = ledger
            .create_run(&tenant, plain(&format!("p{round}")))
            .await;
        let grouped = ledger
            .create_run(&tenant, grouped(&format!("g{round}")))
            .await;
        let appended = ledger.append_event(&tenant, &id, append()).await;
        if round > 0 {
            created.unwrap();
            grouped.unwrap();
            appended.unwrap();
        }
    }
    assert!(ledger.audit().await.unwrap().is_clean());
    let tenant_events = ledger.tenant_events(&tenant, 0, Some(100)).await.unwrap();
    let positions: Vec<u64> = tenant_events.iter().map(|event| event.position).collect();
    assert_eq!(positions, (1..=positions.len() as u64).collect::<Vec<_>>());
}

/// Another session holds a group's advisory lock past the ledger's
/// `lock_timeout` (10 s): a cancel in that group fails with the timeout,
/// and the connection it ran on is not handed on inside the aborted
/// transaction its `BEGIN` opened: every call after it works.
async fn a_group_lock_that_times_out_fails_its_call_and_leaves_no_connection_aborted(db: TestDb) {
    let ledger = db.open_without_reaper().await;
    let tenant = Tenant::default();
    let group = runledger::ConcurrencyGroup::new(
        runledger::ConcurrencyKey::parse("held").unwrap(),
        10,
        OnFull::Reject,
    )
    .unwrap();
    let id = RunId::parse("victim").unwrap();
    let request = CreateRun::new(Kind::parse("k").unwrap())
        .id(id.clone())
        .concurrency(group);
    ledger.create_run(&tenant, request).await.unwrap();
    let url = db.url.clone();
    let holder = std::thread::spawn(move || {
        psql(
            &url,
            "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('runledger/group/default/held', 0)); \
             SELECT pg_sleep(12); COMMIT;",
        )
    });
    // The holder has the lock once its backend sleeps.
    let database = db.url.rsplit_once('/').unwrap().1.to_owned();
    eventually(Duration::from_secs(10), || async {
        psql(
            &support::postgres_admin_url(),
            &format!(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{database}' \
                 AND query LIKE '%pg_sleep(12)%' AND wait_event = 'PgSleep'"
            ),
        )
        .trim()
        .eq("1")
        .then_some(())
    })
    .await;
    let cancel = runledger::Cancel {
        reason: None,
        if_version: None,
        cascade: false,
    };
    let error = ledger.cancel(&tenant, &id, cancel).await.unwrap_err();
    assert!(error.to_string().contains("lock timeout"), "{error}");
    // Every pooled connection answers (the one the cancel used among them).
    let reads: Vec<_> = (0..64)
        .map(|_| {
            let (ledger, tenant, id) = (ledger.clone(), tenant.clone(), id.clone());
            tokio::spawn(async move { ledger.get_run(&tenant, &id).await })
        })
        .collect();
    for read in reads {
        assert_eq!(
            read.await.unwrap().unwrap().state,
            runledger::RunState::Queued
        );
    }
    holder.join().unwrap();
    assert!(ledger.audit().await.unwrap().is_clean());
}
