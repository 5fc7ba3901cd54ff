//! Fuzzes the strict JSON body extractor on every request body (first byte picks one); the properties are in `properties.rs`.

#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::json_body(data));
