//! Instants as whole milliseconds since the Unix epoch (UTC), shown as
//! RFC 3339 with millisecond precision (`2026-11-26T16:42:58.123Z`).

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

const RFC3339_MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// 0000-01-01T00:00:00.000Z, the first instant RFC 3339 can write.
const RFC3339_UNIX_MS_MIN: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write.
const RFC3339_UNIX_MS_MAX: i64 = 253_402_300_799_999;

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
    /// An instant outside the years 0000–9999 in UTC (reachable through an
    /// offset, e.g. `0000-01-01T00:00:00+01:00`) is refused: RFC 3339
    /// cannot write it, so it could not be shown back.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let instant =
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(instant.unix_timestamp_nanos().div_euclid(1_000_000))
            .ok()
            .filter(|unix_ms| (RFC3339_UNIX_MS_MIN..=RFC3339_UNIX_MS_MAX).contains(unix_ms))
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

    #[test]
    fn instants_rfc3339_cannot_write_are_refused() {
        let first = Timestamp::parse_rfc3339("0000-01-01T00:00:00.000Z").unwrap();
        assert_eq!(first.to_rfc3339(), "0000-01-01T00:00:00.000Z");
        let last = Timestamp::parse_rfc3339("9999-12-31T23:59:59.999Z").unwrap();
        assert_eq!(last.to_rfc3339(), "9999-12-31T23:59:59.999Z");
        // Years -0001 and 10000 in UTC: RFC 3339 cannot write them.
        assert_eq!(
            Timestamp::parse_rfc3339("0000-01-01T00:00:00.000+01:00"),
            None
        );
        assert_eq!(
            Timestamp::parse_rfc3339("9999-12-31T23:59:59.999-01:00"),
            None
        );
    }
}
