//! Times of legacy records: RFC 3339, `YYYY-MM-DD HH:MM:SS` (optionally with
//! a `T` and a fraction) read in the `--timezone`, and epoch seconds or
//! milliseconds (told apart by their number of digits). The zone is UTC, a
//! fixed offset (`+02:00`) or an IANA name read from the system's zoneinfo
//! files (`$TZDIR`, else `/usr/share/zoneinfo`).

use runledger::Timestamp;
use std::path::PathBuf;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Epoch numbers with at least this many digits are milliseconds.
const MILLIS_DIGITS: usize = 12;

/// The zone local times are read in.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// A fixed offset from UTC, in seconds east.
    Fixed(i64),
    /// An IANA zone: its transitions (UTC seconds) and the offset from each.
    Rules {
        /// `(transition at, offset in seconds from then on)`, oldest first.
        transitions: Vec<(i64, i64)>,
        /// The offset before the first transition.
        initial: i64,
    },
}

impl Zone {
    /// The zone `--timezone` names: `UTC`, `Z`, `+HH:MM`, `-HHMM`, or an IANA name.
    pub fn parse(text: &str) -> Result<Zone, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("utc") || text == "Z" {
            return Ok(Zone::Fixed(0));
        }
        if let Some(sign) = text
            .strip_prefix('+')
            .map(|_| 1)
            .or(text.strip_prefix('-').map(|_| -1))
        {
            let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit()) {
                let hours: i64 = digits[..2].parse().unwrap_or(99);
                let minutes: i64 = digits[2..].parse().unwrap_or(99);
                if hours <= 14 && minutes < 60 {
                    return Ok(Zone::Fixed(sign * (hours * 3600 + minutes * 60)));
                }
            }
            return Err(format!(
                "--timezone {text:?}: an offset is +HH:MM or -HH:MM, at most 14 hours"
            ));
        }
        let valid = !text.is_empty()
            && !text.contains("..")
            && !text.starts_with('/')
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
        if !valid {
            return Err(format!("--timezone {text:?}: not a zone name"));
        }
        let dir = std::env::var_os("TZDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"));
        let bytes = std::fs::read(dir.join(text)).map_err(|_| {
            format!("--timezone {text:?}: no such zone (use an IANA name such as Europe/Paris, or +02:00)")
        })?;
        tzif(&bytes).ok_or_else(|| format!("--timezone {text:?}: the zone file cannot be read"))
    }

    /// The offset (seconds east) in force at the UTC instant `at`.
    fn offset_at(&self, at: i64) -> i64 {
        match self {
            Zone::Fixed(offset) => *offset,
            Zone::Rules {
                transitions,
                initial,
            } => {
                let after = transitions.partition_point(|(from, _)| *from <= at);
                match after {
                    0 => *initial,
                    n => transitions[n - 1].1,
                }
            }
        }
    }

    /// The UTC seconds of the local time `local` (seconds as if it were UTC).
    fn to_utc(&self, local: i64) -> i64 {
        let guess = self.offset_at(local);
        local - self.offset_at(local - guess)
    }
}

/// A legacy time as a timestamp; `Err` says which formats are read.
pub fn parse(text: &str, zone: &Zone) -> Result<Timestamp, String> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        let number: i64 = text
            .parse()
            .map_err(|_| format!("time {text:?} is out of range"))?;
        let ms = if digits.len() >= MILLIS_DIGITS {
            number
        } else {
            number.saturating_mul(1000)
        };
        return Ok(Timestamp::from_unix_ms(ms));
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Timestamp::from_unix_ms(millis(at)));
    }
    let local = format_description!(
        "[year]-[month]-[day][first [ ][T]][hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(at) = PrimitiveDateTime::parse(text, local) {
        let at = at.assume_utc();
        let utc = zone.to_utc(at.unix_timestamp());
        return Ok(Timestamp::from_unix_ms(
            utc * 1000 + i64::from(at.millisecond()),
        ));
    }
    Err(format!(
        "time {text:?} is not RFC 3339, YYYY-MM-DD HH:MM:SS, nor epoch seconds or milliseconds"
    ))
}

fn millis(at: OffsetDateTime) -> i64 {
    at.unix_timestamp() * 1000 + i64::from(at.millisecond())
}

/// Reads a TZif file (RFC 8536): its 64-bit block when there is one.
fn tzif(bytes: &[u8]) -> Option<Zone> {
    let header = |at: usize| -> Option<[usize; 6]> {
        if bytes.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let mut counts = [0usize; 6];
        for (index, count) in counts.iter_mut().enumerate() {
            let start = at + 20 + index * 4;
            *count = u32::from_be_bytes(bytes.get(start..start + 4)?.try_into().ok()?) as usize;
        }
        Some(counts)
    };
    let [isut, isstd, leap, time, types, chars] = header(0)?;
    let version = *bytes.get(4)?;
    let (start, width, counts) = if version >= b'2' {
        let v1 = time * 5 + types * 6 + chars + leap * 8 + isstd + isut;
        let counts = header(44 + v1)?;
        (44 + v1 + 44, 8, counts)
    } else {
        (44, 4, [isut, isstd, leap, time, types, chars])
    };
    let [_, _, _, time, types, _] = counts;
    let read = |at: usize| -> Option<i64> {
        let slice = bytes.get(at..at + width)?;
        Some(if width == 8 {
            i64::from_be_bytes(slice.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(slice.try_into().ok()?))
        })
    };
    let offsets_at = start + time * width + time;
    let offset_of = |index: usize| -> Option<i64> {
        let at = offsets_at + index * 6;
        Some(i64::from(i32::from_be_bytes(
            bytes.get(at..at + 4)?.try_into().ok()?,
        )))
    };
    if types == 0 {
        return None;
    }
    let mut transitions = Vec::with_capacity(time);
    for index in 0..time {
        let from = read(start + index * width)?;
        let kind = *bytes.get(start + time * width + index)? as usize;
        transitions.push((from, offset_of(kind)?));
    }
    Some(Zone::Rules {
        transitions,
        initial: offset_of(0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, zone: &Zone) -> String {
        parse(text, zone).unwrap().to_rfc3339()
    }

    #[test]
    fn every_format_is_read() {
        let utc = Zone::Fixed(0);
        let paris = Zone::parse("+02:00").unwrap();
        assert_eq!(at("2025-09-26T12:45:30Z", &utc), "2025-09-26T12:45:30.000Z");
        assert_eq!(
            at("2025-09-26T14:45:30+02:00", &utc),
            "2025-09-26T12:45:30.000Z"
        );
        assert_eq!(at("2025-09-26 12:45:30", &utc), "2025-09-26T12:45:30.000Z");
        assert_eq!(
            at("2025-09-26 14:45:30", &paris),
            "2025-09-26T12:45:30.000Z"
        );
        assert_eq!(at("1758890730", &utc), "2025-09-26T12:45:30.000Z");
        assert_eq!(at("1758890730250", &utc), "2025-09-26T12:45:30.250Z");
        assert!(parse("26/09/2025", &utc).unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn an_iana_zone_follows_summer_time() {
        let Ok(paris) = Zone::parse("Europe/Paris") else {
            panic!("Europe/Paris is in the system's zoneinfo");
        };
        assert_eq!(
            at("2025-07-01 14:00:00", &paris),
            "2025-07-01T12:00:00.000Z"
        );
        assert_eq!(
            at("2025-01-15 14:00:00", &paris),
            "2025-01-15T13:00:00.000Z"
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+25:00").is_err());
    }
}
