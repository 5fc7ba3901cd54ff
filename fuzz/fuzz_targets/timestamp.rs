//! Fuzzes the RFC 3339 timestamp parser and formatter; the properties are in `properties.rs`.

#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::timestamp(data));
