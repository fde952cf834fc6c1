//! `share.auto.offset.reset`, Kafka's `ShareGroupAutoOffsetResetStrategy`: where
//! a share group starts a partition it has not read before. `latest` (the
//! default), `earliest`, or `by_duration:<ISO-8601 duration>` (the first record
//! whose timestamp is at most that long ago, e.g. `by_duration:PT1H`), the
//! duration read as Java's `Duration.parse` reads it: `PnDTnHnMn.nS`, any part
//! optional but one, each part and the whole signed, letters in either case.
//! A negative duration is refused. Where no record is that recent, the
//! share-partition is not started until one is, as in Kafka (whose fetches of it
//! fail meanwhile; Weir's come back empty).

/// Where a share-partition the group has not read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareReset {
    Latest,
    Earliest,
    /// Milliseconds before now.
    ByDuration(i64),
}

impl ShareReset {
    /// A value as Kafka accepts it (names are lower case); `None` where Kafka
    /// refuses it.
    pub fn parse(value: &str) -> Option<ShareReset> {
        match value {
            "latest" => Some(ShareReset::Latest),
            "earliest" => Some(ShareReset::Earliest),
            _ => {
                let nanos = iso_duration_nanos(value.strip_prefix("by_duration:")?)?;
                let ms = i64::try_from(nanos / 1_000_000).ok()?;
                (nanos >= 0).then_some(ShareReset::ByDuration(ms))
            }
        }
    }

    /// The strategy of a stored value. Earlier builds also took `Earliest` and
    /// spaces around it, so case and spaces are forgiven here; what still cannot
    /// be read (nothing is stored unchecked) is the default.
    pub fn of_stored(value: Option<&str>) -> ShareReset {
        value
            .and_then(|v| ShareReset::parse(v).or_else(|| ShareReset::parse(&v.trim().to_ascii_lowercase())))
            .unwrap_or(ShareReset::Latest)
    }

    /// Kafka's refusal of a value it cannot read.
    pub fn refusal(name: &str, value: &str) -> String {
        format!(
            "Invalid value {value} for configuration {name}: Invalid value `{value}` for configuration {name}. \
             The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS.>'."
        )
    }
}

/// A signed decimal integer (at least one digit).
fn integer(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An ISO-8601 duration (`PnDTnHnMn.nS`, as Java's `Duration.parse`) in nanoseconds.
fn iso_duration_nanos(text: &str) -> Option<i128> {
    const SECOND: i128 = 1_000_000_000;
    let upper = text.to_ascii_uppercase();
    let (negative, rest) = match upper.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total: i128 = 0;
    if !days.is_empty() {
        total += integer(days.strip_suffix('D')?)? * 86_400 * SECOND;
    }
    match time {
        None if days.is_empty() => return None,
        None => {}
        Some("") => return None,
        Some(mut t) => {
            for (unit, scale) in [('H', 3_600 * SECOND), ('M', 60 * SECOND)] {
                if let Some((n, after)) = t.split_once(unit) {
                    total += integer(n)? * scale;
                    t = after;
                }
            }
            if !t.is_empty() {
                let n = t.strip_suffix('S')?;
                let (whole, fraction) = match n.split_once(['.', ',']) {
                    Some((w, f)) => (w, Some(f)),
                    None => (n, None),
                };
                total += integer(whole)? * SECOND;
                if let Some(f) = fraction {
                    if f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    let nanos: i128 = format!("{f:0<9}").parse().ok()?;
                    total += if whole.starts_with('-') { -nanos } else { nanos };
                }
            }
        }
    }
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_as_kafka_reads_them() {
        assert_eq!(ShareReset::parse("latest"), Some(ShareReset::Latest));
        assert_eq!(ShareReset::parse("earliest"), Some(ShareReset::Earliest));
        let ms = |v: &str| match ShareReset::parse(v) {
            Some(ShareReset::ByDuration(ms)) => Some(ms),
            _ => None,
        };
        assert_eq!(ms("by_duration:PT1H"), Some(3_600_000));
        assert_eq!(ms("by_duration:pt15m"), Some(900_000));
        assert_eq!(ms("by_duration:P2D"), Some(172_800_000));
        assert_eq!(ms("by_duration:P1DT2H3M4.5S"), Some(93_784_500));
        assert_eq!(ms("by_duration:PT0.001S"), Some(1));
        assert_eq!(ms("by_duration:PT1,25S"), Some(1_250));
        assert_eq!(ms("by_duration:PT0S"), Some(0));
        assert_eq!(ms("by_duration:+PT1M"), Some(60_000));
        assert_eq!(ms("by_duration:PT2H-30M"), Some(5_400_000));
        assert_eq!(ms("by_duration:-PT-1H"), Some(3_600_000));
        assert_eq!(ms("by_duration:PT-0.5S"), None, "negative");
        for bad in [
            "EARLIEST",
            "Latest",
            "none",
            "",
            "by_duration",
            "by_duration:",
            "by_duration:P",
            "by_duration:PT",
            "by_duration:P1DT",
            "by_duration:1H",
            "by_duration:PT1M2H",
            "by_duration:PT1H2",
            "by_duration:PT0.1234567891S",
            "by_duration:-PT1H",
            "by_duration:P1W",
            "by_duration:PT99999999999999999999H",
        ] {
            assert_eq!(ShareReset::parse(bad), None, "{bad:?}");
        }
    }
}
