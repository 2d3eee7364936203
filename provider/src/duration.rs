//! Go-style durations (`90s`, `1h30m`, `1.5m`, `500ms`), the notation
//! Terraform users know from `timeouts` blocks.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a duration: {reason}. Use a number with a unit, such as \"30s\", \"10m\" or \"1h30m\" (units: ms, s, m, h)"
)]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a Go-style duration. Negative durations are rejected: nothing in
/// this provider waits for a negative time.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError { input: input.to_owned(), reason };
    if input.is_empty() {
        return Err(fail("it is empty"));
    }
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.starts_with('-') {
        return Err(fail("it is negative"));
    }
    let mut rest = input.strip_prefix('+').unwrap_or(input);
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(fail("a number is missing or malformed"));
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(fail("a unit is missing")),
            _ => return Err(fail("the unit is not one of ns, us, ms, s, m, h")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| fail("it is too large"))? };
        let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(|| fail("it is too large"))?;
        // Fractions to nanosecond precision, like Go.
        let mut scale = unit_nanos;
        for digit in fraction.bytes().take(30) {
            scale /= 10;
            nanos += u128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(nanos).ok_or_else(|| fail("it is too large"))?;
        rest = after;
    }
    // Anything beyond ~292 years is a mistake, not a plan.
    if total_nanos > u128::from(u64::MAX) {
        return Err(fail("it is too large"));
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

/// Formats a duration compactly for messages: `1h30m`, `2m5s`, `1.5s`, `250ms`.
pub fn format(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms < 1000 {
        return format!("{total_ms}ms");
    }
    let (h, m) = (total_ms / 3_600_000, total_ms / 60_000 % 60);
    let s = (total_ms % 60_000) as f64 / 1000.0;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0.0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("0", 0),
            ("10s", 10_000),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("1.5m", 90_000),
            ("500ms", 500),
            ("2h45m30s", 9_930_000),
            (".5s", 500),
            ("1m0.25s", 60_250),
        ];
        for (input, ms) in cases {
            assert_eq!(parse(input).unwrap(), Duration::from_millis(ms), "{input}");
        }
        assert_eq!(parse("1500us").unwrap(), Duration::from_micros(1500));
        assert_eq!(parse("7ns").unwrap(), Duration::from_nanos(7));
    }

    #[test]
    fn rejects_what_go_rejects_and_negatives() {
        for input in ["", "10", "m", "1x", "-5s", "1..5s", "s10", "1 s", "10S", "99999999999999999999h"] {
            let err = parse(input).unwrap_err();
            assert_eq!(err.input, input);
            assert!(err.to_string().contains("\"10m\""), "message explains the format");
        }
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_secs(125)), "2m5s");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_secs(600)), "10m");
    }
}
