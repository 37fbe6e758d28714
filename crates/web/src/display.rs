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
}
