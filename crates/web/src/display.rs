//! How pages show values to people: times in Danish local time, in the page's language.

use eid_core::Lang;
use time::OffsetDateTime;

/// The time zone citizens read times in.
pub const TIME_ZONE: &str = "Europe/Copenhagen";

const MONTHS_DA: [&str; 12] = [
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `at` as a person in Denmark reads it: "30. november 2026 kl. 09.15" (Danish) or
/// "30 November 2026 at 09:15" (English), in Copenhagen time (summer time included).
pub fn local_time(at: OffsetDateTime, lang: Lang) -> String {
    let zoned = jiff::Timestamp::from_second(at.unix_timestamp())
        .ok()
        .and_then(|ts| {
            jiff::tz::TimeZone::get(TIME_ZONE)
                .ok()
                .map(|tz| ts.to_zoned(tz))
        });
    let Some(z) = zoned else {
        // Outside jiff's range or no zone data: UTC, said so.
        return format!("{} UTC", at.unix_timestamp());
    };
    let month = usize::try_from(z.month() - 1).unwrap_or(0).min(11);
    match lang {
        Lang::Da => format!(
            "{}. {} {} kl. {:02}.{:02}",
            z.day(),
            MONTHS_DA[month],
            z.year(),
            z.hour(),
            z.minute()
        ),
        Lang::En => format!(
            "{} {} {} at {:02}:{:02}",
            z.day(),
            MONTHS_EN[month],
            z.year(),
            z.hour(),
            z.minute()
        ),
    }
}

/// The day of `at` in Copenhagen, as a person reads it: "30. november 2026" (Danish) or
/// "30 November 2026" (English).
pub fn local_date(at: OffsetDateTime, lang: Lang) -> String {
    let Some(z) = zoned(at) else {
        return format!("{} UTC", at.unix_timestamp());
    };
    let month = usize::try_from(z.month() - 1).unwrap_or(0).min(11);
    match lang {
        Lang::Da => format!("{}. {} {}", z.day(), MONTHS_DA[month], z.year()),
        Lang::En => format!("{} {} {}", z.day(), MONTHS_EN[month], z.year()),
    }
}

/// The last day something valid until `until` (exclusive) is valid on, in Copenhagen, as
/// [`local_date`] writes it: for an end at midnight, the day before.
pub fn last_local_day(until: OffsetDateTime, lang: Lang) -> String {
    local_date(until - time::Duration::seconds(1), lang)
}

/// The end of `day` in Copenhagen (the following midnight), as an exclusive end of validity for
/// a date a person chose ("valid through 30 November"); `None` outside the supported range.
pub fn end_of_local_day(day: time::Date) -> Option<OffsetDateTime> {
    let next = day.next_day()?;
    let civil = jiff::civil::date(
        i16::try_from(next.year()).ok()?,
        i8::try_from(u8::from(next.month())).ok()?,
        i8::try_from(next.day()).ok()?,
    );
    let tz = jiff::tz::TimeZone::get(TIME_ZONE).ok()?;
    let zoned = civil.to_zoned(tz).ok()?;
    OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second()).ok()
}

/// Today's date in Copenhagen at `now`.
pub fn local_today(now: OffsetDateTime) -> Option<time::Date> {
    let z = zoned(now)?;
    let month = time::Month::try_from(u8::try_from(z.month()).ok()?).ok()?;
    time::Date::from_calendar_date(i32::from(z.year()), month, u8::try_from(z.day()).ok()?).ok()
}

fn zoned(at: OffsetDateTime) -> Option<jiff::Zoned> {
    let ts = jiff::Timestamp::from_second(at.unix_timestamp()).ok()?;
    jiff::tz::TimeZone::get(TIME_ZONE)
        .ok()
        .map(|tz| ts.to_zoned(tz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn winter_and_summer_time_in_both_languages() {
        assert_eq!(
            local_time(datetime!(2026-11-30 08:15 UTC), Lang::Da),
            "30. november 2026 kl. 09.15"
        );
        assert_eq!(
            local_time(datetime!(2026-07-01 22:05 UTC), Lang::Da),
            "2. juli 2026 kl. 00.05"
        );
        assert_eq!(
            local_time(datetime!(2026-11-30 08:15 UTC), Lang::En),
            "30 November 2026 at 09:15"
        );
    }

    #[test]
    fn local_days_and_their_ends_in_copenhagen() {
        use time::macros::date;
        assert_eq!(
            local_date(datetime!(2026-07-01 22:05 UTC), Lang::Da),
            "2. juli 2026"
        );
        assert_eq!(
            local_date(datetime!(2026-11-30 08:15 UTC), Lang::En),
            "30 November 2026"
        );
        // Summer time: midnight after 1 July is 22:00 UTC.
        let end = end_of_local_day(date!(2026 - 07 - 01));
        assert_eq!(end, Some(datetime!(2026-07-01 22:00 UTC)));
        assert_eq!(
            end.map(|e| last_local_day(e, Lang::En)).as_deref(),
            Some("1 July 2026")
        );
        // Winter time: one hour.
        assert_eq!(
            end_of_local_day(date!(2026 - 11 - 30)),
            Some(datetime!(2026-11-30 23:00 UTC))
        );
        assert_eq!(
            local_today(datetime!(2026-07-01 22:30 UTC)),
            Some(date!(2026 - 07 - 02))
        );
    }
}
