//! Reading legacy records: CSV rows under a header row, or JSON lines.
//! Every record keeps the line it came from; a row or line that cannot be
//! read becomes a record whose fields are the reason, so the report lists
//! it instead of the import dropping it.

use super::Format;
use crate::failure::Failure;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::Path;

/// One record of the file: its line and its columns (absent when empty).
#[derive(Debug)]
pub struct Record {
    /// The line it starts on (1-based).
    pub line: usize,
    /// The columns, or why the record could not be read.
    pub fields: Result<Map<String, Value>, String>,
}

/// The format a file's extension names.
pub fn format_of(path: &Path) -> Result<Format, Failure> {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => Ok(Format::Csv),
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        _ => Err(Failure::Usage(format!(
            "cannot tell the format of {} from its extension; give --format csv or --format jsonl",
            path.display()
        ))),
    }
}

/// Every record of `bytes`, in file order, and every column name the file
/// has (a CSV file's header; the keys of any JSON line). Blank lines are
/// not records. A record that cannot be read (broken encoding, a ragged
/// row, a line that is not a JSON object) fails the whole read, naming its
/// line: nothing is imported from a file that is not what it claims.
pub fn records(bytes: &[u8], format: Format) -> Result<(Vec<Record>, HashSet<String>), Failure> {
    // Spreadsheet exports often start with a UTF-8 byte order mark: it is
    // not part of the first column's name.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let (records, columns) = match format {
        Format::Csv => csv_records(bytes)?,
        Format::Jsonl => {
            let records = json_lines(bytes);
            let columns = records
                .iter()
                .filter_map(|record| record.fields.as_ref().ok())
                .flat_map(|fields| fields.keys().cloned())
                .collect();
            (records, columns)
        }
    };
    if let Some((line, reason)) = records.iter().find_map(|record| {
        record
            .fields
            .as_ref()
            .err()
            .map(|reason| (record.line, reason))
    }) {
        return Err(Failure::Usage(format!(
            "line {line}: {reason}; nothing was imported"
        )));
    }
    Ok((records, columns))
}

fn json_lines(bytes: &[u8]) -> Vec<Record> {
    bytes
        .split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(index, line)| Record {
            line: index + 1,
            fields: json_object(line),
        })
        .collect()
}

fn json_object(line: &[u8]) -> Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(line)
        .map_err(|error| format!("the line is not UTF-8 (byte {})", error.valid_up_to()))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(fields)) => Ok(fields
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .collect()),
        Ok(other) => Err(format!(
            "the line is JSON but not an object (it is {})",
            json_type(&other)
        )),
        Err(error) => Err(format!("the line is not JSON: {error}")),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn csv_records(bytes: &[u8]) -> Result<(Vec<Record>, HashSet<String>), Failure> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|error| Failure::Usage(format!("cannot read the CSV header row: {error}")))?
        .clone();
    let mut columns = Vec::with_capacity(header.len());
    for (index, name) in header.iter().enumerate() {
        let name = std::str::from_utf8(name)
            .map_err(|_| Failure::Usage(format!("CSV header column {} is not UTF-8", index + 1)))?;
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(Failure::Usage(format!(
                "CSV header column {} has no name",
                index + 1
            )));
        }
        if columns.contains(&name) {
            return Err(Failure::Usage(format!(
                "CSV header names the column {name:?} twice"
            )));
        }
        columns.push(name);
    }
    if columns.is_empty() {
        return Err(Failure::Usage("the CSV file has no header row".to_owned()));
    }
    let mut records = Vec::new();
    let mut row = csv::ByteRecord::new();
    loop {
        let line = reader.position().line() as usize;
        match reader.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                let line = row.position().map_or(line, |at| at.line() as usize);
                if row.len() == 1 && row[0].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                records.push(Record {
                    line,
                    fields: csv_fields(&columns, &row),
                });
            }
            Err(error) => {
                let line = error.position().map_or(line, |at| at.line() as usize);
                records.push(Record {
                    line,
                    fields: Err(format!("the row cannot be read as CSV: {error}")),
                });
                if !matches!(error.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    Ok((records, columns.into_iter().collect()))
}

fn csv_fields(columns: &[String], row: &csv::ByteRecord) -> Result<Map<String, Value>, String> {
    if row.len() != columns.len() {
        return Err(format!(
            "the row has {} fields; the header has {}",
            row.len(),
            columns.len()
        ));
    }
    let mut fields = Map::new();
    for (column, value) in columns.iter().zip(row.iter()) {
        let value =
            std::str::from_utf8(value).map_err(|_| format!("column {column:?} is not UTF-8"))?;
        if !value.is_empty() {
            fields.insert(column.clone(), Value::String(value.to_owned()));
        }
    }
    Ok(fields)
}
