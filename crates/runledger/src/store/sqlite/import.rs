//! `import_run` on SQLite: one operation of the writer, so the run row and
//! its events commit together, their positions handed out under the write
//! lock (gap-free, in commit order).

use super::error::storage;
use super::store::Store;
use super::{read, rows};
use crate::import::ImportRun;
use crate::requests::Created;
use runledger_core::{Error, Tenant};

impl Store {
    /// Writes the imported run with its history, or answers the existing
    /// one when it is the same run.
    pub(crate) async fn import_run(
        &self,
        tenant: &Tenant,
        request: ImportRun,
    ) -> Result<Created, Error> {
        let tenant = tenant.clone();
        self.writer
            .write(move |connection, now| {
                let history = request.history(&tenant, now)?;
                if let Some(existing) = read::run(connection, &tenant, &request.id)? {
                    return request.match_existing(existing, &history);
                }
                if let Some(parent_id) = &request.parent_id
                    && !read::exists(connection, &tenant, parent_id)?
                {
                    return Err(Error::ParentNotFound {
                        parent_id: parent_id.clone(),
                    });
                }
                let first = rows::next_position(connection, &tenant).map_err(storage)?;
                rows::insert_run(connection, &history.record, first).map_err(storage)?;
                for (offset, (event, at)) in history.events.iter().enumerate() {
                    rows::insert_event(
                        connection,
                        &tenant,
                        &request.id,
                        event,
                        first + offset as u64,
                        *at,
                    )
                    .map_err(storage)?;
                }
                Ok(Created {
                    run: history.record.run,
                    created: true,
                })
            })
            .await
    }
}
