//! Durations on the command line: `250ms`, `30s`, `5m`, `1h`, or a bare
//! number of milliseconds (as the `--…-ms` spellings always took). Every
//! flag that takes a lease length or a wait reads them through
//! [`parse_duration_ms`].

/// The milliseconds `text` names, or what is wrong with it.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| {
        format!("'{text}' is not a duration; expected e.g. 250ms, 30s, 5m, 1h or a number of milliseconds")
    })?;
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "'{text}' has unit '{other}'; use ms, s, m or h (e.g. 30s)"
            ));
        }
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_milliseconds() {
        assert_eq!(parse_duration_ms("250"), Ok(250));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_duration_ms("1h"), Ok(3_600_000));
        for bad in ["", "s", "1.5s", "10d", "-1s", "1 s", "99999999999999999999"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}
