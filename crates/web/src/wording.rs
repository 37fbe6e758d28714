//! A check that pages speak one language: no English word on a Danish page and no Danish word on an
//! English page. Each component's tests feed it every text of both languages (its `Texts` tables,
//! serialised) and its templates, whose own words must all come from those tables.

use std::collections::{BTreeMap, BTreeSet};

/// Words both languages share on our pages: names, loanwords and abbreviations.
pub const SHARED_WORDS: &[&str] = &[
    "mitid",
    "nemlog",
    "in",
    "eid",
    "eidas",
    "eu",
    "cpr",
    "demo",
    "id",
    "app",
    "appen",
    "log",
    "ok",
    "pin",
    "qr",
    "nsis",
    "oauth",
    "oidc",
    "saml",
    "e",
    "mail",
    "dk",
    // Words Danish and English spell alike, and Danish loanwords from English.
    "for",
    "start",
    "browser",
    "login",
    "support",
    "service",
    "status",
    "at",
    "type",
    "under",
    "javascript",
    "computer",
    "person",
];

/// The words of a text: runs of two or more letters, lowercased (a single letter is an
/// abbreviation or a possessive's `s`, not a word of either language).
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() > 1)
        .map(str::to_lowercase)
}

/// Every string in a JSON value (a serialised `Texts` table), with its field name.
pub fn strings(value: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let serde_json::Value::Object(map) = value {
        for (field, v) in map {
            // `lang` is the page's language tag, not a text.
            if field == "lang" {
                continue;
            }
            if let serde_json::Value::String(s) = v {
                out.push((field.clone(), s.clone()));
            }
        }
    }
    out
}

/// The words that appear in both the Danish and the English texts and are not in `shared`
/// (besides [`SHARED_WORDS`]), each with the fields it appears in: a Danish word left on an English
/// page, or an English one on a Danish page. Empty when each language keeps to itself.
pub fn mixed(
    danish: &[(String, String)],
    english: &[(String, String)],
    shared: &[&str],
) -> BTreeMap<String, Vec<String>> {
    let index = |texts: &[(String, String)]| {
        let mut by_word: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (field, text) in texts {
            // Web addresses and placeholders are not words of a language.
            let cleaned: String = text
                .split_whitespace()
                .filter(|w| !w.contains("://") && !w.contains('{'))
                .collect::<Vec<_>>()
                .join(" ");
            for w in words(&cleaned) {
                by_word.entry(w).or_default().insert(field.clone());
            }
        }
        by_word
    };
    let (da, en) = (index(danish), index(english));
    let allowed: BTreeSet<&str> = SHARED_WORDS.iter().chain(shared).copied().collect();
    da.iter()
        .filter(|(w, _)| en.contains_key(*w) && !allowed.contains(w.as_str()))
        .map(|(w, fields)| {
            let mut places: Vec<String> = fields.iter().map(|f| format!("da.{f}")).collect();
            places.extend(en[w].iter().map(|f| format!("en.{f}")));
            (w.clone(), places)
        })
        .collect()
}

/// The words a template writes itself (outside tags, `{{ … }}`, `{% … %}` and `{# … #}`): a page's
/// words must come from the texts of its language, so this should be empty (`allowed` aside).
pub fn template_words(template: &str, allowed: &[&str]) -> Vec<String> {
    let mut text = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['<', '{']) {
        text.push_str(&rest[..i]);
        text.push(' ');
        let close = match (&rest[i..i + 1], rest.get(i + 1..i + 2)) {
            ("<", _) => ">",
            ("{", Some("{")) => "}}",
            ("{", Some("%")) => "%}",
            ("{", Some("#")) => "#}",
            _ => "",
        };
        if close.is_empty() {
            rest = &rest[i + 1..];
            continue;
        }
        rest = match rest[i..].find(close) {
            Some(j) => &rest[i + j + close.len()..],
            None => "",
        };
    }
    text.push_str(rest);
    let allowed: BTreeSet<String> = SHARED_WORDS
        .iter()
        .chain(allowed)
        .map(|w| w.to_lowercase())
        .collect();
    // Entities (`&nbsp;`, `&middot;`) are markup, not words.
    let without_entities: String = text
        .split_whitespace()
        .filter(|w| !(w.starts_with('&') && w.ends_with(';')))
        .collect::<Vec<_>>()
        .join(" ");
    words(&without_entities)
        .filter(|w| !allowed.contains(w))
        .collect()
}

/// What is wrong with a component's pages: the words its serialised Danish and English `Texts`
/// share (besides `shared`), and the words any template in `templates` writes itself. Empty when
/// each page speaks one language and takes every word from the texts.
pub fn problems(
    danish: &serde_json::Value,
    english: &serde_json::Value,
    shared: &[&str],
    templates: &std::path::Path,
) -> Vec<String> {
    let mut out: Vec<String> = mixed(&strings(danish), &strings(english), shared)
        .into_iter()
        .map(|(word, places)| format!("{word:?} in both languages: {places:?}"))
        .collect();
    match std::fs::read_dir(templates) {
        Ok(entries) => {
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                match std::fs::read_to_string(&path) {
                    Ok(html) => {
                        let own = template_words(&html, &[]);
                        if !own.is_empty() {
                            out.push(format!("{} writes {own:?}", path.display()));
                        }
                    }
                    Err(e) => out.push(format!("{}: {e}", path.display())),
                }
            }
        }
        Err(e) => out.push(format!("{}: {e}", templates.display())),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_english_word_on_a_danish_page_is_found_with_its_places() {
        let da = t(&[
            ("level", "Sikringsniveau: High"),
            ("title", "Log på med MitID"),
        ]);
        let en = t(&[
            ("level", "Assurance level: High"),
            ("title", "Log in with MitID"),
        ]);
        let found = mixed(&da, &en, &[]);
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["high"]);
        assert_eq!(found["high"], vec!["da.level", "en.level"]);
        assert!(mixed(&da, &en, &["high"]).is_empty());
    }

    #[test]
    fn a_template_may_write_no_words_of_its_own() {
        let clean = "<h1 class=\"x\">{{ t.title }}</h1>{% if a %}<p>{{ t.body }}</p>{% endif %}";
        assert!(template_words(clean, &[]).is_empty());
        let dirty = "<p>{{ t.body }} Click here</p>{# a comment #}";
        assert_eq!(template_words(dirty, &[]), vec!["click", "here"]);
        assert!(template_words("<p>MitID &middot; {{ x }}</p>", &[]).is_empty());
    }
}
