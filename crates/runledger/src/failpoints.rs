//! Fault injection for tests. Compiled in only with feature `failpoints`;
//! armed at run time by `RUNLEDGER_FAILPOINTS="name=action;name=action"`,
//! where action is `abort` (kill the process on the spot, as kill -9 would),
//! `abort@N` (kill it at the N-th hit), or any action of the `fail` crate
//! (`return`, `panic`, `sleep(100)`, `1*return`, …). `return` makes the
//! operation fail with a storage error.
//!
//! Sites are named `<operation>.<point>`: `create_run.after_run_row`,
//! `start.after_run_row`, `finish.after_run_row`, `cancel.after_run_row`,
//! `reap.after_run_row`, `append.after_run_row`, `promote.after_run_row`,
//! `<operation>.after_events`, `batch.before_commit`, `batch.after_commit`.

use runledger_core::Error;

/// Arms the failpoints named in `RUNLEDGER_FAILPOINTS`, once per process.
pub(crate) fn arm_from_env() {
    #[cfg(feature = "failpoints")]
    {
        static ARMED: std::sync::Once = std::sync::Once::new();
        ARMED.call_once(|| {
            let Ok(spec) = std::env::var("RUNLEDGER_FAILPOINTS") else {
                return;
            };
            for entry in spec.split(';').filter(|entry| !entry.trim().is_empty()) {
                let (name, action) = entry.split_once('=').unwrap_or((entry, "return"));
                let outcome = match action.strip_prefix("abort") {
                    Some(at) => {
                        let at: usize = at.strip_prefix('@').map_or(Some(1), |n| n.parse().ok()).unwrap_or_else(|| {
                            panic!("RUNLEDGER_FAILPOINTS entry {entry:?}: expected abort or abort@N")
                        });
                        let hits = std::sync::atomic::AtomicUsize::new(0);
                        fail::cfg_callback(name, move || {
                            if hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= at {
                                std::process::abort();
                            }
                        })
                    }
                    None => fail::cfg(name, action),
                };
                if let Err(error) = outcome {
                    panic!("RUNLEDGER_FAILPOINTS entry {entry:?} is not valid: {error}");
                }
            }
        });
    }
}

/// A failpoint site: `Err` when the site is armed with `return`.
#[inline]
pub(crate) fn hit(operation: &str, point: &str) -> Result<(), Error> {
    #[cfg(feature = "failpoints")]
    {
        let name = format!("{operation}.{point}");
        if let Some(error) = fail::eval(&name, |_| Error::storage(format!("failpoint {name}"))) {
            return Err(error);
        }
    }
    let _ = (operation, point);
    Ok(())
}
