//! `bench --processes P`: the parent starts itself P times as workers on
//! the same database (or against the same server) and adds up what they
//! measured.
//!
//! The protocol is lines on the worker's stdin and stdout:
//!
//! ```text
//! worker → parent   ready                 ledger open, waiting for the start
//! parent → worker   go                    every worker starts at once
//! worker → parent   ops <n>               progress, several times a second
//! worker → parent   result <json>         its tally and how long it ran
//! ```
//!
//! The parent prepares the workload before starting the workers, so they
//! only load; workers share the parent's tag, hence its names.

use super::stats::{Tally, WireTally};
use super::workload::Plan;
use super::{callers, progress, target};
use crate::cli::{BenchArgs, Workload};
use crate::failure::{Failure, Verdict};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a worker may take to open the ledger and say `ready`.
const WORKER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long past the bench's duration a worker may take to send its result.
const WORKER_RESULT_GRACE: Duration = Duration::from_secs(120);
/// How often a worker reports progress.
const WORKER_PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Lines from workers buffered before their readers wait.
const WORKER_LINES_BUFFERED_MAX: usize = 1_024;
/// How often the parent redraws the progress bar while waiting.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// A worker's last line.
#[derive(Debug, Serialize, Deserialize)]
struct WorkerResult {
    /// From `go` to the last caller's last answer, in seconds.
    elapsed_s: f64,
    /// What it measured.
    tally: WireTally,
}

/// The parent's side: the bench that the workers run.
#[derive(Debug, Clone)]
pub struct Workers {
    /// The target flags, as given to the parent: `--db URL` and/or
    /// `--server URL`.
    pub target_args: Vec<String>,
    /// The workload every worker runs.
    pub workload: Workload,
    /// Callers per worker.
    pub clients: u32,
    /// Seconds each worker loads.
    pub duration_s: f64,
    /// How many workers.
    pub processes: u32,
    /// The names every worker shares.
    pub tag: String,
}

/// What a worker's stdout reader saw.
enum Heard {
    Line(String),
    Closed,
}

/// Children that are killed if the parent gives up on them early.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Workers {
    /// Starts the workers, starts them together, waits for their results
    /// while showing progress on `bar`, and merges them. Blocking.
    pub fn run(&self, bar: &ProgressBar, duration: Duration) -> Result<(Tally, Duration), Failure> {
        let executable = std::env::current_exe().map_err(|error| {
            failed(format!(
                "cannot find this executable to start workers: {error}"
            ))
        })?;
        let workers = self.processes as usize;
        let (sender, heard) = mpsc::sync_channel(WORKER_LINES_BUFFERED_MAX);
        let mut children = Children(Vec::with_capacity(workers));
        for index in 0..workers {
            let mut child = Command::new(&executable)
                .args(["bench", "--worker", "--run-tag", &self.tag])
                .args(&self.target_args)
                .args(["--workload", self.workload.as_str()])
                .args(["--clients", &self.clients.to_string()])
                .args(["--duration", &self.duration_s.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|error| failed(format!("cannot start bench worker {index}: {error}")))?;
            let stdout = child.stdout.take().expect("the worker's stdout is piped");
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if sender.send((index, Heard::Line(line))).is_err() {
                        return;
                    }
                }
                let _ = sender.send((index, Heard::Closed));
            });
            children.0.push(child);
        }
        drop(sender);

        let mut ready = 0;
        while ready < workers {
            match heard.recv_timeout(WORKER_READY_TIMEOUT) {
                Ok((_, Heard::Line(line))) if line == "ready" => ready += 1,
                Ok((index, Heard::Line(line))) => {
                    return Err(failed(format!(
                        "bench worker {index} said {line:?} before ready"
                    )));
                }
                Ok((index, Heard::Closed)) => {
                    return Err(failed(format!(
                        "bench worker {index} exited before it was ready"
                    )));
                }
                Err(_) => return Err(failed("bench workers were not ready in time".to_owned())),
            }
        }
        for (index, child) in children.0.iter_mut().enumerate() {
            let stdin = child.stdin.as_mut().expect("the worker's stdin is piped");
            stdin
                .write_all(b"go\n")
                .and_then(|()| stdin.flush())
                .map_err(|error| failed(format!("cannot start bench worker {index}: {error}")))?;
        }

        let started = Instant::now();
        let mut ops = vec![0u64; workers];
        let mut results: Vec<Option<WorkerResult>> = (0..workers).map(|_| None).collect();
        let mut answered = 0;
        while answered < workers {
            if started.elapsed() > duration + WORKER_RESULT_GRACE {
                return Err(failed(
                    "bench workers did not send their results in time".to_owned(),
                ));
            }
            match heard.recv_timeout(PROGRESS_TICK) {
                Ok((index, Heard::Line(line))) => {
                    if let Some(count) = line.strip_prefix("ops ") {
                        ops[index] = count.parse().unwrap_or(ops[index]);
                    } else if let Some(json) = line.strip_prefix("result ") {
                        let result: WorkerResult = serde_json::from_str(json).map_err(|error| {
                            failed(format!(
                                "bench worker {index} sent an unreadable result: {error}"
                            ))
                        })?;
                        ops[index] = result.tally_ops();
                        results[index] = Some(result);
                        answered += 1;
                    } else {
                        return Err(failed(format!("bench worker {index} said {line:?}")));
                    }
                }
                Ok((index, Heard::Closed)) if results[index].is_none() => {
                    return Err(failed(format!(
                        "bench worker {index} exited without a result"
                    )));
                }
                Ok((_, Heard::Closed)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            progress::show_progress(bar, started.elapsed(), duration, ops.iter().sum());
        }

        for (index, child) in children.0.iter_mut().enumerate() {
            let status = child.wait().map_err(|error| {
                failed(format!("cannot wait for bench worker {index}: {error}"))
            })?;
            if !status.success() {
                return Err(failed(format!("bench worker {index} ended with {status}")));
            }
        }
        let mut tally = Tally::new();
        let mut elapsed = Duration::ZERO;
        for (index, result) in results.into_iter().enumerate() {
            let result =
                result.ok_or_else(|| failed(format!("bench worker {index} sent no result")))?;
            elapsed = elapsed.max(Duration::from_secs_f64(result.elapsed_s.max(0.0)));
            tally.merge(&Tally::from_wire(result.tally));
        }
        Ok((tally, elapsed))
    }
}

impl WorkerResult {
    fn tally_ops(&self) -> u64 {
        self.tally.ops()
    }
}

/// The worker's side: open the target, say `ready`, wait for `go`, load,
/// send the result.
pub async fn serve(server: Option<&str>, args: &BenchArgs) -> Result<Verdict, Failure> {
    let Some(tag) = args.run_tag.as_deref() else {
        return Err(Failure::Usage("--worker needs --run-tag".to_owned()));
    };
    let plan = Arc::new(Plan::new(args.workload, tag)?);
    let target = target::target(server, args).await?;
    say("ready")?;
    let go = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|error| failed(format!("cannot read the start line: {error}")))?
    .map_err(|error| failed(format!("cannot read the start line: {error}")))?;
    if go.trim() != "go" {
        return Err(failed(format!("expected go from the parent, read {go:?}")));
    }

    let ops = Arc::new(AtomicU64::new(0));
    let reporter = tokio::spawn({
        let ops = ops.clone();
        async move {
            let mut ticks = tokio::time::interval(WORKER_PROGRESS_INTERVAL);
            loop {
                ticks.tick().await;
                if say(&format!("ops {}", ops.load(Ordering::Relaxed))).is_err() {
                    return;
                }
            }
        }
    });
    let duration = Duration::from_secs_f64(args.duration);
    let measured = callers::run_callers(plan, &target, args.clients, duration, ops).await;
    reporter.abort();
    let _ = reporter.await;
    let (tally, elapsed) = measured?;
    let result = WorkerResult {
        elapsed_s: elapsed.as_secs_f64(),
        tally: tally.to_wire(),
    };
    let json = serde_json::to_string(&result)
        .map_err(|error| failed(format!("cannot write the result: {error}")))?;
    say(&format!("result {json}"))?;
    Ok(Verdict::Success)
}

/// Writes one protocol line to the parent.
fn say(line: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|error| failed(format!("cannot talk to the parent: {error}")))
}

fn failed(detail: String) -> Failure {
    Failure::Failed(detail)
}
