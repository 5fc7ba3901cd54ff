//! Instants as whole milliseconds since the Unix epoch (UTC), shown as
//! RFC 3339 with millisecond precision (`2026-11-26T16:42:58.123Z`).

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

const RFC3339_MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// A UTC instant with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `unix_ms` milliseconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_ms(unix_ms: i64) -> Timestamp {
        Timestamp(unix_ms)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(self) -> i64 {
        self.0
    }

    /// This instant plus `duration_ms` milliseconds (saturating).
    pub fn plus_ms(self, duration_ms: u64) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(duration_ms).unwrap_or(i64::MAX)),
        )
    }

    /// RFC 3339 text, UTC, millisecond precision.
    pub fn to_rfc3339(self) -> String {
        let instant = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        instant
            .format(RFC3339_MILLIS)
            .unwrap_or_else(|_| self.0.to_string())
    }

    /// Parses RFC 3339 text (any offset, any precision; rounded down to ms).
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let instant =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(instant.unix_timestamp_nanos().div_euclid(1_000_000))
            .ok()
            .map(Timestamp)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds_and_parses_back() {
        let instant = Timestamp::from_unix_ms(1_795_711_378_123);
        assert_eq!(instant.to_rfc3339(), "2026-11-26T16:42:58.123Z");
        assert_eq!(
            Timestamp::parse_rfc3339(&instant.to_rfc3339()),
            Some(instant)
        );
        assert_eq!(
            Timestamp::from_unix_ms(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(instant.plus_ms(877).unix_ms(), 1_795_711_379_000);
    }
}
