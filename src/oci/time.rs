//! Build time as data: `SOURCE_DATE_EPOCH` or 0, never the clock.

/// Seconds since the epoch to stamp into images: `SOURCE_DATE_EPOCH` if set
/// to a number, else 0, so the same inputs give the same digests.
pub fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// RFC 3339 UTC time of `seconds` since the epoch (`1970-01-01T00:00:00Z`).
pub fn rfc3339(seconds: u64) -> String {
    let rest = seconds % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        crate::version::Day::from_unix(seconds),
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
