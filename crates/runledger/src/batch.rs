//! Batch create (SPEC §4 `POST /v1/runs/batch`): the core's request,
//! checked once into resolved creates, and the refusal that names an item.
//!
//! Each item is decided exactly as a single create would be, in item order,
//! so an item may name an earlier item as its parent. What a single create
//! cannot express is refused here for the whole batch, atomic or not: no
//! item or more than [`BATCH_RUNS_MAX`], a parent reference to a later item,
//! one id given twice with different creation parameters.

use crate::requests::{self, Created, ResolvedCreate};
use runledger_core::limits::BATCH_RUNS_MAX;
use runledger_core::requests::CreateBatch;
use runledger_core::{Error, RunId};
use std::collections::HashMap;

/// Why a batch was refused as a whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{error}", index.map(|index| format!("item {index}: ")).unwrap_or_default())]
pub struct BatchRefused {
    /// The refused item, in request order; `None` when no item is at fault
    /// (the item count, or a storage failure).
    pub index: Option<usize>,
    /// Why.
    pub error: Error,
}

impl BatchRefused {
    /// A refusal of item `index`.
    pub fn item(index: usize, error: Error) -> BatchRefused {
        BatchRefused {
            index: Some(index),
            error,
        }
    }

    /// A refusal no item is at fault for.
    pub fn whole(error: Error) -> BatchRefused {
        BatchRefused { index: None, error }
    }
}

/// Each item's answer, in request order: as a single create would answer it.
pub type BatchAnswers = Vec<Result<Created, Error>>;

/// Resolves every item (ids, defaults) and checks what only a batch can get
/// wrong. Answers each item's resolved create, or, for a non-atomic batch,
/// the refusal a single create of it would meet; an atomic batch is refused
/// at its first bad item.
pub(crate) fn resolve(
    batch: CreateBatch,
) -> Result<Vec<Result<ResolvedCreate, Error>>, BatchRefused> {
    let count = batch.runs.len();
    if count == 0 || count > BATCH_RUNS_MAX {
        return Err(BatchRefused::whole(Error::invalid(
            "runs",
            format!("{count} runs; expected 1 to {BATCH_RUNS_MAX}"),
        )));
    }
    let mut resolved = Vec::with_capacity(count);
    for (index, request) in batch.runs.into_iter().enumerate() {
        match requests::resolve(request) {
            Ok(create) => resolved.push(Ok(create)),
            Err(error) if batch.atomic => return Err(BatchRefused::item(index, error)),
            Err(error) => resolved.push(Err(error)),
        }
    }
    check_references(&resolved)?;
    Ok(resolved)
}

/// Refuses a parent reference to a later item, and one id given twice with
/// different creation parameters.
fn check_references(resolved: &[Result<ResolvedCreate, Error>]) -> Result<(), BatchRefused> {
    let mut first_of: HashMap<&RunId, usize> = HashMap::new();
    for (index, create) in resolved.iter().enumerate() {
        let Ok(create) = create else { continue };
        match first_of.get(&create.id) {
            Some(&first) => {
                let Ok(earlier) = &resolved[first] else {
                    unreachable!("only resolved items are indexed")
                };
                let fields = create.params.differing_fields(&earlier.params);
                if let Some(field) = fields.first() {
                    return Err(BatchRefused::item(
                        index,
                        Error::invalid(
                            field,
                            format!(
                                "run {} is item {first} too, with a different {}",
                                create.id,
                                fields.join(", ")
                            ),
                        ),
                    ));
                }
            }
            None => {
                first_of.insert(&create.id, index);
            }
        }
    }
    let later: HashMap<&RunId, usize> = first_of;
    for (index, create) in resolved.iter().enumerate() {
        let Ok(create) = create else { continue };
        if let Some(parent_id) = &create.params.parent_id
            && let Some(&parent_index) = later.get(parent_id)
            && parent_index > index
        {
            return Err(BatchRefused::item(
                index,
                Error::invalid(
                    "parent_id",
                    format!(
                        "parent {parent_id} is item {parent_index}, after this one; a parent must come first"
                    ),
                ),
            ));
        }
    }
    Ok(())
}
