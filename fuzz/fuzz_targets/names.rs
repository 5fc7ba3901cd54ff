//! Fuzzes the RunId, Segment, Tenant, Kind, ConcurrencyKey, Owner, EventType and IdempotencyKey parsers (first byte picks one); the properties are in `properties.rs`.

#![no_main]

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::names(data));
