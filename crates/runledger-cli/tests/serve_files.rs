//! The SQLite files a server creates hold every run and hashed token: they
//! are readable and writable by their owner only (0600), the `-wal` and
//! `-shm` files included.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod server;
mod support;

use serde_json::json;
use server::{Client, TestServer};
use std::os::unix::fs::PermissionsExt;
use support::{fresh_dir, sqlite_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sqlite_database_is_private_to_its_owner() {
    let dir = fresh_dir("serve-files");
    let server = TestServer::start(&dir, &sqlite_url(&dir, "private.db"));
    let created = Client::new(&server)
        .post("/v1/runs", &json!({"kind": "etl"}))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.json);
    for name in ["private.db", "private.db-wal", "private.db-shm"] {
        let mode = std::fs::metadata(dir.join(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is {:o}", mode & 0o777);
    }
}
