//! A `runledger serve` on a port the test chooses, so a server killed and
//! started again is found at the address its clients already know (the
//! shared `TestServer` always takes a fresh port).

#![allow(dead_code)] // each test file uses its own part of this

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `runledger serve --listen 127.0.0.1:<port>`, killed when dropped.
pub struct PortServer {
    child: Child,
}

impl PortServer {
    /// Starts it on `db` at `port`, logging into `dir`; waits until it listens.
    pub fn start(dir: &Path, db: &str, port: u16) -> PortServer {
        let log = std::fs::File::create(dir.join(format!("serve-{port}-{}.log", unique())))
            .expect("a log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_runledger"))
            .args([
                "serve",
                "--db",
                db,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("RUNLEDGER_DB")
            .env_remove("RUNLEDGER_LISTEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("runledger serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("listening on ") {
                    let _ = sender.send(());
                }
            }
        });
        listening
            .recv_timeout(Duration::from_secs(60))
            .expect("the server listens");
        PortServer { child }
    }

    /// SIGKILL, and waits until the process is gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PortServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
