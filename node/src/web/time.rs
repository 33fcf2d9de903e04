//! Times as the store's staff read them: in the store's time zone
//! (`web.time_zone`, else the system's), short.
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The store's clock face.
#[derive(Clone, Debug)]
pub struct StoreClock {
    tz: TimeZone,
}

impl StoreClock {
    pub fn new(tz: TimeZone) -> Self {
        StoreClock { tz }
    }

    fn zoned(&self, ms: u64) -> Option<jiff::ZonedDateTime> {
        let ts = Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()?;
        Some(ts.to_zoned_datetime(self.tz.clone()))
    }

    /// Local midnight today, as unix ms.
    pub fn day_start_ms(&self) -> u64 {
        self.day_start_of(crate::store::now_ms())
    }

    pub fn day_start_of(&self, ms: u64) -> u64 {
        self.zoned(ms)
            .and_then(|z| z.start_of_day().ok())
            .map(|z| z.timestamp().as_millisecond())
            .and_then(|m| u64::try_from(m).ok())
            .unwrap_or(0)
    }

    /// "14:05" today, "Tue 14:05" within the week around today, else
    /// "2026-12-01 14:05".
    pub fn short(&self, ms: u64) -> String {
        let (Some(z), Some(now)) = (self.zoned(ms), self.zoned(crate::store::now_ms())) else {
            return "?".into();
        };
        if z.date() == now.date() {
            z.strftime("%H:%M").to_string()
        } else if (z.timestamp().as_millisecond() - now.timestamp().as_millisecond()).abs()
            < 6 * 86_400_000
        {
            z.strftime("%a %H:%M").to_string()
        } else {
            z.strftime("%Y-%m-%d %H:%M").to_string()
        }
    }

    /// Date and time to the second (the audit log).
    pub fn full(&self, ms: u64) -> String {
        self.zoned(ms)
            .map(|z| z.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "?".into())
    }

    /// The `datetime` attribute of a `<time>`: UTC, machine-readable.
    pub fn iso(ms: u64) -> String {
        i64::try_from(ms)
            .ok()
            .and_then(|m| Timestamp::from_millisecond(m).ok())
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    /// Parse "YYYY-MM-DD" (a date field) as local midnight, unix ms.
    pub fn parse_day(&self, text: &str) -> Option<u64> {
        let date: jiff::civil::Date = text.trim().parse().ok()?;
        let z = date.to_zoned_datetime(self.tz.clone()).ok()?;
        u64::try_from(z.timestamp().as_millisecond()).ok()
    }
}

/// "5 min", "2 h 10 min", "3 d" — a duration a person reads at a glance.
pub fn minutes_text(ms: u64) -> String {
    let min = ms / 60_000;
    match min {
        0 => "<1 min".into(),
        1..=59 => format!("{min} min"),
        60..=1439 => format!("{} h {} min", min / 60, min % 60),
        _ => format!("{} d", min / 1440),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_and_durations() {
        let berlin = StoreClock::new(TimeZone::get("Europe/Berlin").expect("tz database"));
        // 2026-12-01 00:30 in Berlin is 2026-11-30 23:30 UTC.
        let t = 1_796_081_400_000; // 2026-11-30T23:30:00Z
        let start = berlin.day_start_of(t);
        assert_eq!(berlin.full(start), "2026-12-01 00:00:00");
        assert_eq!(berlin.parse_day("2026-12-01"), Some(start));
        assert_eq!(minutes_text(59_000), "<1 min");
        assert_eq!(minutes_text(125 * 60_000), "2 h 5 min");
        assert_eq!(minutes_text(3 * 86_400_000), "3 d");
    }
}
