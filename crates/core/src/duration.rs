//! Go durations (`300ms`, `5s`, `1h30m`, `1.5h`), as Argo CD's fields and the CLI's flags
//! spell them. Parsed with checked integer arithmetic and capped at [`MAX_DURATION`], so no
//! input panics and every deadline computed from one (`now + d`) is representable.

/// The longest duration accepted anywhere (ten years): longer ones are certainly mistakes,
/// and every deadline computed from a duration (`now + d`) must stay representable.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 86_400);

/// Parses a Go duration (`300ms`, `5s`, `2m`, `1h30m`, `1.5h`, `0`); `None` when it is not
/// one, is negative, or is longer than [`MAX_DURATION`]. Never panics.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    duration(s).ok()
}

/// [`parse_duration`] with the reason a value is refused.
pub fn duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let bad = || format!("{t:?} is not a duration (e.g. 30s, 5m, 1h30m)");
    if t.is_empty() {
        return Err(bad());
    }
    if t.starts_with('-') {
        return Err(format!("{t:?} is negative"));
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let too_long = || {
        format!(
            "{t:?} is longer than the {}h maximum",
            MAX_DURATION.as_secs() / 3600
        )
    };
    let mut total: u128 = 0; // nanoseconds
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        total = total
            .checked_add(scaled(num, scale).ok_or_else(bad)?.ok_or_else(too_long)?)
            .ok_or_else(too_long)?;
        if total > MAX_DURATION.as_nanos() {
            return Err(too_long());
        }
        rest = after;
    }
    Ok(std::time::Duration::from_nanos(
        u64::try_from(total).map_err(|_| too_long())?,
    ))
}

/// `num` (digits with at most one `.`) times `scale` nanoseconds: `None` when it is no
/// number, `Some(None)` when it overflows.
fn scaled(num: &str, scale: u128) -> Option<Option<u128>> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let mut whole: u128 = 0;
    for d in int.bytes() {
        whole = match whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(u128::from(d - b'0')))
        {
            Some(w) if w <= MAX_DURATION.as_nanos() => w,
            _ => return Some(None),
        };
    }
    let Some(mut nanos) = whole.checked_mul(scale) else {
        return Some(None);
    };
    // Fractions beyond nanosecond precision are dropped, as Go does.
    let mut unit = scale;
    for d in frac.bytes() {
        unit /= 10;
        nanos += u128::from(d - b'0') * unit;
    }
    Some(Some(nanos))
}
