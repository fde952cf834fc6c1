//! Points in time as the commands take them (`--to-datetime`, `consume -o @...`).

use anyhow::Result;

/// kafka-consumer-groups' `--to-datetime` (`YYYY-MM-DDTHH:mm:SS.sss`, an
/// optional `Z` or `±HH:MM`, seconds and millis optional) or epoch ms.
pub fn parse_datetime(s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || anyhow::anyhow!("expected a time, YYYY-MM-DDTHH:mm:SS.sss[Z|+HH:MM] or epoch ms, got '{s}'");
    let (date, rest) = s.split_once(['T', ' ']).ok_or_else(bad)?;
    let (time, offset_min) = match rest.find(['Z', '+', '-']) {
        Some(i) => {
            let (t, z) = rest.split_at(i);
            let off = match z {
                "Z" => 0,
                _ => {
                    let sign = if z.starts_with('-') { -1 } else { 1 };
                    let (h, m) = z[1..].split_once(':').unwrap_or((&z[1..], "0"));
                    sign * (h.parse::<i64>().map_err(|_| bad())? * 60 + m.parse::<i64>().map_err(|_| bad())?)
                }
            };
            (t, off)
        }
        None => (rest, 0),
    };
    let d: Vec<i64> = date.split('-').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let (hms, millis) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let [y, mo, day] = d[..] else { return Err(bad()) };
    let (h, mi, sec) = match t[..] {
        [h, m] => (h, m, 0),
        [h, m, s] => (h, m, s),
        _ => return Err(bad()),
    };
    let ms: i64 = format!("{millis:0<3}")[..3].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Ok(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::parse_datetime;

    #[test]
    fn datetimes_as_kafka_consumer_groups_takes_them() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000").unwrap(), 0);
        assert_eq!(parse_datetime("2026-12-05T10:00:00.000").unwrap(), 1_796_464_800_000);
        assert_eq!(parse_datetime("2026-12-05T10:00:00Z").unwrap(), 1_796_464_800_000);
        assert_eq!(parse_datetime("2026-12-05T11:00:00.000+01:00").unwrap(), 1_796_464_800_000);
        assert_eq!(parse_datetime("2026-12-05T10:00:00.5").unwrap(), 1_796_464_800_500);
        assert_eq!(parse_datetime("2000-02-29T00:00").unwrap(), 951_782_400_000);
        assert_eq!(parse_datetime("1796464800000").unwrap(), 1_796_464_800_000);
        assert!(parse_datetime("2026-13-01T00:00:00").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }
}
