//! Fuzzes the NUL checks of `runledger_core::text` on text and on JSON values; the properties are in `properties.rs`.

#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::text(data));
