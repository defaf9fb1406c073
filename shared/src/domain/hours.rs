//! Business hours: a weekly schedule in the business's time zone, plus holidays.
//!
//! Besides "open now?", it names the off-hours period an instant falls in (the moment the
//! business last closed), so that the off-hours notice can be sent once per period instead of on
//! every message.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

/// The `[hours]` table: `"HH:MM-HH:MM"` per weekday (a missing day is closed) and holidays.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursConfig {
    #[serde(default)]
    pub monday: Option<String>,
    #[serde(default)]
    pub tuesday: Option<String>,
    #[serde(default)]
    pub wednesday: Option<String>,
    #[serde(default)]
    pub thursday: Option<String>,
    #[serde(default)]
    pub friday: Option<String>,
    #[serde(default)]
    pub saturday: Option<String>,
    #[serde(default)]
    pub sunday: Option<String>,
    /// Closed all day, in the business's time zone: `MM-DD` every year (Christmas is
    /// `12-25`), `YYYY-MM-DD` on that date only (a movable holiday such as Carnival).
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Why an `[hours]` table cannot be used; `field` names the key.
#[derive(Debug, PartialEq, Eq)]
pub struct HoursError {
    pub field: String,
    pub problem: String,
}

/// How far back (in days) an off-hours period is looked for: longer closures are one period.
const LOOKBACK_DAYS: i64 = 31;

/// A day off: on one date, or on the same day every year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holiday {
    On(NaiveDate),
    Yearly { month: u32, day: u32 },
}

impl Holiday {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(Self::On(date));
        }
        let (month, day) = text.split_once('-')?;
        let all_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(month) || !all_digits(day) {
            return None;
        }
        let (month, day) = (month.parse().ok()?, day.parse().ok()?);
        // A leap year, so that 02-29 is a day (it falls only in leap years).
        NaiveDate::from_ymd_opt(2024, month, day)?;
        Some(Self::Yearly { month, day })
    }

    fn falls_on(self, date: NaiveDate) -> bool {
        match self {
            Self::On(day) => day == date,
            Self::Yearly { month, day } => date.month() == month && date.day() == day,
        }
    }
}

#[derive(Clone, Debug)]
pub struct BusinessHours {
    tz: Tz,
    /// Monday first.
    week: [Option<(NaiveTime, NaiveTime)>; 7],
    holidays: Vec<Holiday>,
}

impl BusinessHours {
    pub fn new(timezone: &str, config: &HoursConfig) -> Result<Self, HoursError> {
        let err = |field: &str, problem: String| HoursError {
            field: format!("hours.{field}"),
            problem,
        };
        let tz: Tz = timezone.parse().map_err(|_| HoursError {
            field: "timezone".into(),
            problem: format!("is `{timezone}`, not an IANA time zone"),
        })?;
        let days = [
            ("monday", &config.monday),
            ("tuesday", &config.tuesday),
            ("wednesday", &config.wednesday),
            ("thursday", &config.thursday),
            ("friday", &config.friday),
            ("saturday", &config.saturday),
            ("sunday", &config.sunday),
        ];
        let mut week = [None; 7];
        for (i, (name, window)) in days.into_iter().enumerate() {
            let Some(window) = window.as_deref().map(str::trim).filter(|w| !w.is_empty()) else {
                continue;
            };
            let parsed = window.split_once('-').and_then(|(open, close)| {
                let t = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").ok();
                Some((t(open)?, t(close)?))
            });
            match parsed {
                Some((open, close)) if open < close => week[i] = Some((open, close)),
                Some(_) => return Err(err(name, format!("`{window}` closes before it opens"))),
                None => {
                    return Err(err(
                        name,
                        format!("`{window}` is not of the form HH:MM-HH:MM"),
                    ));
                }
            }
        }
        let mut holidays = Vec::new();
        for (i, day) in config.holidays.iter().enumerate() {
            let holiday = Holiday::parse(day).ok_or_else(|| {
                err(
                    &format!("holidays[{i}]"),
                    format!(
                        "`{day}` is neither MM-DD (month first, every year) nor a YYYY-MM-DD date"
                    ),
                )
            })?;
            holidays.push(holiday);
        }
        Ok(Self { tz, week, holidays })
    }

    /// The opening window of a local date, `None` when closed all day.
    fn window(&self, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        if self.holidays.iter().any(|h| h.falls_on(date)) {
            return None;
        }
        self.week[date.weekday().num_days_from_monday() as usize]
    }

    /// A local date and time as an instant (the earlier one when a clock change repeats it,
    /// an hour later when a clock change skips it).
    fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let local = date.and_time(time);
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                self.tz
                    .from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// Whether the business is open at `at` (opening time included, closing time excluded).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        self.window(local.date_naive())
            .is_some_and(|(open, close)| open <= local.time() && local.time() < close)
    }

    /// The off-hours period `at` falls in, named by the instant the business last closed;
    /// `None` while open. Every instant of one closed stretch gives the same value. A closure
    /// longer than a month is named by its first month's end.
    pub fn closed_since(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at) {
            return None;
        }
        let today = at.with_timezone(&self.tz).date_naive();
        for back in 0..=LOOKBACK_DAYS {
            let date = today - Duration::days(back);
            if let Some((_, close)) = self.window(date) {
                let closed_at = self.instant(date, close);
                if closed_at <= at {
                    return Some(closed_at);
                }
            }
        }
        Some(self.instant(today - Duration::days(LOOKBACK_DAYS), NaiveTime::MIN))
    }

    /// When the business opens next after `at` (`at` itself when open), within a month.
    /// `at` as people at the business read it: "30/11 às 08:00" (pt-BR's day/month).
    pub fn local_day_and_time(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.tz)
            .format("%d/%m às %H:%M")
            .to_string()
    }

    pub fn next_opening(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at) {
            return Some(at);
        }
        let today = at.with_timezone(&self.tz).date_naive();
        (0..=LOOKBACK_DAYS).find_map(|ahead| {
            let date = today + Duration::days(ahead);
            let (open, _) = self.window(date)?;
            let opening = self.instant(date, open);
            (opening > at).then_some(opening)
        })
    }

    pub fn weekday_window(&self, day: Weekday) -> Option<(NaiveTime, NaiveTime)> {
        self.week[day.num_days_from_monday() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default schedule: Mon–Thu 8–18, Fri 8–17, Sat 9–13, Sun closed; Christmas off
    /// every year, Carnival Tuesday 2027 off.
    fn default_week() -> BusinessHours {
        let config = HoursConfig {
            monday: Some("08:00-18:00".into()),
            tuesday: Some("08:00-18:00".into()),
            wednesday: Some("08:00-18:00".into()),
            thursday: Some("08:00-18:00".into()),
            friday: Some("08:00-17:00".into()),
            saturday: Some("09:00-13:00".into()),
            sunday: None,
            holidays: vec!["12-25".into(), "2027-02-09".into()],
        };
        BusinessHours::new("America/Sao_Paulo", &config).unwrap()
    }

    /// São Paulo local time (UTC-3, no daylight saving since 2019) as an instant.
    fn sp(s: &str) -> DateTime<Utc> {
        let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        (local + Duration::hours(3)).and_utc()
    }

    #[test]
    fn open_and_closed_through_a_week() {
        let hours = default_week();
        // 2026-11-23 is a Monday.
        for (at, open) in [
            ("2026-11-23 07:59", false),
            ("2026-11-23 08:00", true),
            ("2026-11-23 17:59", true),
            ("2026-11-23 18:00", false),
            ("2026-11-27 17:30", false), // Friday closes at 17
            ("2026-11-28 12:59", true),  // Saturday 9–13
            ("2026-11-28 13:00", false),
            ("2026-11-29 10:00", false), // Sunday
            ("2026-12-25 10:00", false), // Christmas, a Friday
            ("2031-12-25 10:00", false), // and every year (a Thursday)
            ("2031-12-24 10:00", true),
            ("2027-02-09 10:00", false), // Carnival Tuesday, that year only
            ("2028-02-08 10:00", true),  // a Tuesday the next year
        ] {
            assert_eq!(hours.is_open(sp(at)), open, "{at}");
        }
    }

    #[test]
    fn one_off_hours_period_has_one_name() {
        let hours = default_week();
        // Saturday 13:00 until Monday 08:00 is one period.
        let weekend = sp("2026-11-28 13:00");
        for at in [
            "2026-11-28 13:00",
            "2026-11-28 22:10",
            "2026-11-29 09:00",
            "2026-11-30 07:59",
        ] {
            assert_eq!(hours.closed_since(sp(at)), Some(weekend), "{at}");
        }
        assert_eq!(hours.closed_since(sp("2026-11-30 08:30")), None);
        // Monday night is the next period.
        assert_eq!(
            hours.closed_since(sp("2026-11-30 23:00")),
            Some(sp("2026-11-30 18:00"))
        );
        // Christmas Friday joins Thursday night to the weekend.
        assert_eq!(
            hours.closed_since(sp("2026-12-26 08:00")),
            Some(sp("2026-12-24 18:00"))
        );
    }

    #[test]
    fn next_opening_skips_closed_days() {
        let hours = default_week();
        assert_eq!(
            hours.next_opening(sp("2026-11-28 14:00")),
            Some(sp("2026-11-30 08:00"))
        );
        assert_eq!(
            hours.next_opening(sp("2026-12-24 19:00")),
            Some(sp("2026-12-26 09:00"))
        );
        let now = sp("2026-11-24 10:00");
        assert_eq!(hours.next_opening(now), Some(now));
    }

    #[test]
    fn bad_tables_name_the_field() {
        let bad = |config: HoursConfig| {
            BusinessHours::new("America/Sao_Paulo", &config)
                .unwrap_err()
                .field
        };
        assert_eq!(
            bad(HoursConfig {
                monday: Some("8h-18h".into()),
                ..Default::default()
            }),
            "hours.monday"
        );
        assert_eq!(
            bad(HoursConfig {
                friday: Some("17:00-08:00".into()),
                ..Default::default()
            }),
            "hours.friday"
        );
        assert_eq!(
            bad(HoursConfig {
                holidays: vec!["2026-12-25".into(), "25/12".into()],
                ..Default::default()
            }),
            "hours.holidays[1]"
        );
        for not_a_day in ["02-30", "13-01", "1-05", "12-25-2026", "natal"] {
            assert_eq!(
                bad(HoursConfig {
                    holidays: vec!["12-25".into(), not_a_day.into()],
                    ..Default::default()
                }),
                "hours.holidays[1]",
                "{not_a_day}"
            );
        }
        assert!(
            BusinessHours::new(
                "America/Sao_Paulo",
                &HoursConfig {
                    holidays: vec!["02-29".into()],
                    ..Default::default()
                }
            )
            .is_ok(),
            "the 29th of February, in leap years"
        );
        assert_eq!(
            BusinessHours::new("Brasil", &HoursConfig::default())
                .unwrap_err()
                .field,
            "timezone"
        );
    }
}
