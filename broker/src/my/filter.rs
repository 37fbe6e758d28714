//! The log page's query: period, service, section and page, parsed strictly from the browser's
//! query string and written back only from the typed value.

use eid_core::Lang;
use eid_core::my_log::{LogCursor, PersonLogQuery, Section};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// Events a page shows.
pub const PAGE_SIZE: u32 = 50;
/// The longest query string the page reads.
const MAX_QUERY: usize = 1024;
/// The longest service id a filter may name.
const MAX_SERVICE: usize = 512;

/// What a person filters their log by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// The first day shown (local calendar day, inclusive).
    pub from: Option<Date>,
    /// The last day shown (inclusive).
    pub to: Option<Date>,
    /// One service (its registered id).
    pub service: Option<String>,
    /// One section.
    pub section: Option<Section>,
    /// The page: events older than this.
    pub before: Option<LogCursor>,
    /// The language the person chose on the page.
    pub lang: Option<Lang>,
}

/// A query the page does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the log's filter is not understood: {0}")]
pub struct BadFilter(pub &'static str);

fn date(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    (s.len() == 10)
        .then(|| Date::parse(s, &format).ok())
        .flatten()
}

fn write_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl LogFilter {
    /// Parses a query string (`from`, `to`, `service`, `kind`, `before`, `lang`; empty values
    /// mean "no filter"). Anything else, repeated, malformed or too long is refused.
    pub fn parse(query: Option<&str>) -> Result<LogFilter, BadFilter> {
        let query = query.unwrap_or_default();
        if query.len() > MAX_QUERY {
            return Err(BadFilter("too long"));
        }
        let mut f = LogFilter::default();
        let mut seen = std::collections::HashSet::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !seen.insert(key.clone()) {
                return Err(BadFilter("a parameter is repeated"));
            }
            if value.is_empty() {
                continue;
            }
            match key.as_ref() {
                "from" => f.from = Some(date(&value).ok_or(BadFilter("from is not a date"))?),
                "to" => f.to = Some(date(&value).ok_or(BadFilter("to is not a date"))?),
                "service" => {
                    if value.len() > MAX_SERVICE || value.chars().any(char::is_control) {
                        return Err(BadFilter("service is not a service"));
                    }
                    f.service = Some(value.into_owned());
                }
                "kind" => {
                    f.section =
                        Some(Section::parse(&value).ok_or(BadFilter("kind is not a kind"))?);
                }
                "before" => {
                    f.before =
                        Some(LogCursor::parse(&value).ok_or(BadFilter("before is not a page"))?);
                }
                "lang" => f.lang = Some(Lang::from_tag(&value).ok_or(BadFilter("lang"))?),
                _ => return Err(BadFilter("an unknown parameter")),
            }
        }
        if let (Some(from), Some(to)) = (f.from, f.to)
            && from > to
        {
            return Err(BadFilter("from is after to"));
        }
        Ok(f)
    }

    /// The query string of this filter (the same filter on another page: `before` included).
    pub fn to_query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(d) = self.from {
            q.append_pair("from", &write_date(d));
        }
        if let Some(d) = self.to {
            q.append_pair("to", &write_date(d));
        }
        if let Some(s) = &self.service {
            q.append_pair("service", s);
        }
        if let Some(s) = self.section {
            q.append_pair("kind", s.as_str());
        }
        if let Some(c) = self.before {
            q.append_pair("before", &c.to_string());
        }
        if let Some(l) = self.lang {
            q.append_pair("lang", l.tag());
        }
        q.finish()
    }

    /// The same filter from the first page.
    pub fn first_page(&self) -> LogFilter {
        LogFilter {
            before: None,
            ..self.clone()
        }
    }

    /// Whether anything but the page and language is set.
    pub fn is_filtered(&self) -> bool {
        self.from.is_some() || self.to.is_some() || self.service.is_some() || self.section.is_some()
    }

    /// The store query for `person`'s log (days are UTC days, the whole of `to` included).
    pub fn query(&self, person: Uuid, limit: u32) -> PersonLogQuery {
        let day_start = |d: Date| d.midnight().assume_utc();
        PersonLogQuery {
            person,
            since: self.from.map(day_start),
            until: self
                .to
                .and_then(|d| d.next_day())
                .map(day_start)
                .or_else(|| self.to.map(|_| OffsetDateTime::now_utc())),
            client: self.service.clone(),
            section: self.section,
            before: self.before,
            limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_filter_round_trips_through_its_query() {
        let f = LogFilter {
            from: date("2026-01-02"),
            to: date("2026-11-30"),
            service: Some("https://sp.example/a b&c".into()),
            section: Some(Section::Releases),
            before: Some(LogCursor { at_us: 5, seq: 7 }),
            lang: Some(Lang::En),
        };
        assert_eq!(LogFilter::parse(Some(&f.to_query())), Ok(f));
        assert_eq!(LogFilter::parse(None), Ok(LogFilter::default()));
        assert_eq!(
            LogFilter::parse(Some("kind=&service=")),
            Ok(LogFilter::default())
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "person=00000000-0000-0000-0000-000000000000",
            "from=2026-13-01",
            "from=26-1-1",
            "to=yesterday",
            "kind=everything",
            "before=1",
            "lang=fr",
            "kind=logins&kind=releases",
            "from=2026-02-01&to=2026-01-01",
            "service=a%0Ab",
        ] {
            assert!(LogFilter::parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(LogFilter::parse(Some(&"a".repeat(MAX_QUERY + 1))).is_err());
    }

    proptest! {
        #[test]
        fn parsing_any_query_never_panics_and_what_parses_round_trips(q in ".{0,300}") {
            if let Ok(f) = LogFilter::parse(Some(&q)) {
                prop_assert_eq!(LogFilter::parse(Some(&f.to_query())), Ok(f));
            }
        }
    }
}
