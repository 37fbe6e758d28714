//! The page language: Danish or English, chosen by `ui_locales`, then `Accept-Language`.

use serde::{Deserialize, Serialize};

/// A language our pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Danish, the default.
    #[default]
    Da,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag for the `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }

    /// Parses one language tag (`da`, `da-DK`, `en-GB`, …).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "da" => Some(Lang::Da),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first supported language of `ui_locales` (space separated, in preference order), else the
    /// supported language with the highest `q` in `Accept-Language`, else Danish.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = ui_locales.and_then(|l| l.split_whitespace().find_map(Lang::from_tag)) {
            return lang;
        }
        let mut best: Option<(f32, Lang)> = None;
        for part in accept_language.unwrap_or_default().split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::from_tag) else {
                continue;
            };
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_wins_over_accept_language() {
        assert_eq!(Lang::negotiate(Some("fr en"), Some("da")), Lang::En);
    }

    #[test]
    fn accept_language_quality_is_respected() {
        assert_eq!(
            Lang::negotiate(None, Some("de, en-GB;q=0.8, da;q=0.5")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(None, Some("da-DK, en;q=0.9")), Lang::Da);
    }

    #[test]
    fn danish_by_default() {
        assert_eq!(Lang::negotiate(None, None), Lang::Da);
        assert_eq!(Lang::negotiate(Some("sv"), Some("de")), Lang::Da);
    }
}
