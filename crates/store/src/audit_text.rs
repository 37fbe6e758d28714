//! Audit text as stored: every value the durable log is given fits every backend, whoever chose it.
//!
//! Audit events carry attacker-chosen text (a `client_id` from an unauthenticated request, a remote
//! address, failure details). PostgreSQL refuses a NUL character in `TEXT`, which used to fail the
//! whole batch transaction, and nothing bounded the length. [`AuditText`] is the stored form:
//!
//! - a backslash becomes `\\` and every control character (Unicode `Cc`: C0, DEL, C1, NUL included)
//!   becomes `\u{hex}`, so the escaping is reversible ([`unescape`]) and ordinary text (no control
//!   character, no backslash) is stored unchanged;
//! - the escaped text is cut, on a whole escape, to a byte budget per field, and then ends with
//!   [`TRUNCATED`] (which cannot come out of the escaping itself, so a cut value is recognisable).
//!
//! [`storable_details`] bounds the JSON details likewise (their control characters are already
//! escaped by JSON).

use serde_json::Value;
use std::fmt::Write;

/// Ends a value that was cut to its budget. Contains no backslash, so escaped text never ends so by
/// accident unless its source did; [`unescape`] refuses it.
pub const TRUNCATED: &str = "…[truncated]";

/// Byte budget of `component` and `kind` (names chosen by the code, not by requests).
pub const MAX_NAME_BYTES: usize = 128;
/// Byte budget of `client` (a client id, possibly a URL; unknown ones come from requests).
pub const MAX_CLIENT_BYTES: usize = 512;
/// Byte budget of `ip`.
pub const MAX_IP_BYTES: usize = 128;
/// Byte budget of each string (and object key) inside `details`.
pub const MAX_DETAIL_STRING_BYTES: usize = 1024;
/// Byte budget of the serialised `details`; larger details are replaced by a note of their size.
pub const MAX_DETAILS_BYTES: usize = 16 * 1024;

/// Text fit for an audit column: escaped and bounded (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditText(String);

impl AuditText {
    /// The stored form of `raw` within `max_bytes` (at least the marker's length is used).
    pub fn new(raw: &str, max_bytes: usize) -> AuditText {
        let needs_escape = raw.chars().any(|c| c == '\\' || c.is_control());
        if !needs_escape && raw.len() <= max_bytes {
            return AuditText(raw.to_owned());
        }
        let budget = max_bytes.max(TRUNCATED.len());
        let mut out = String::with_capacity(raw.len().min(budget) + 8);
        let mut piece = String::with_capacity(12);
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            piece.clear();
            push_escaped(&mut piece, c);
            // Room for this piece, and for the marker unless it is the very last piece.
            let reserve = if chars.peek().is_some() {
                TRUNCATED.len()
            } else {
                0
            };
            if out
                .len()
                .saturating_add(piece.len())
                .saturating_add(reserve)
                > budget
            {
                // Cut before this piece; the marker always fits.
                if out.len() + TRUNCATED.len() > budget {
                    truncate_to(&mut out, budget - TRUNCATED.len());
                }
                out.push_str(TRUNCATED);
                return AuditText(out);
            }
            out.push_str(&piece);
        }
        AuditText(out)
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn push_escaped(out: &mut String, c: char) {
    if c == '\\' {
        out.push_str("\\\\");
    } else if c.is_control() {
        // Writing to a String cannot fail.
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    } else {
        out.push(c);
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate_to(s: &mut String, max: usize) {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// The original of an escaped, uncut [`AuditText`]; `None` for text that is not such an escape (a
/// lone backslash, a malformed `\u{…}`, an escaped character that needed no escape) or was cut.
pub fn unescape(stored: &str) -> Option<String> {
    if stored.ends_with(TRUNCATED) {
        return None;
    }
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        if c.is_control() {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let mut hex = String::with_capacity(6);
                loop {
                    match chars.next()? {
                        '}' => break,
                        h if h.is_ascii_hexdigit() && hex.len() < 6 => hex.push(h),
                        _ => return None,
                    }
                }
                let code = u32::from_str_radix(&hex, 16).ok()?;
                let escaped = char::from_u32(code).filter(|ch| ch.is_control())?;
                // Only the canonical form (lower-case hex, no leading zeros) round-trips.
                if format!("{code:x}") != hex {
                    return None;
                }
                out.push(escaped);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `details` bounded for storage: every string and key cut to [`MAX_DETAIL_STRING_BYTES`] (control
/// characters are left to JSON's own escaping), and the whole, once serialised, to
/// [`MAX_DETAILS_BYTES`], beyond which it becomes `{"truncated": true, "bytes": <size>}`.
pub fn storable_details(details: &Value) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(details)?;
    if json.len() <= MAX_DETAIL_STRING_BYTES {
        // No string inside can exceed the budget: the common case costs one serialisation.
        return Ok(json);
    }
    let bounded = serde_json::to_string(&bound_strings(details))?;
    if bounded.len() <= MAX_DETAILS_BYTES {
        return Ok(bounded);
    }
    serde_json::to_string(&serde_json::json!({ "truncated": true, "bytes": json.len() }))
}

fn bound_strings(v: &Value) -> Value {
    let cut = |s: &str| -> String {
        if s.len() <= MAX_DETAIL_STRING_BYTES {
            return s.to_owned();
        }
        let mut t = s.to_owned();
        truncate_to(&mut t, MAX_DETAIL_STRING_BYTES - TRUNCATED.len());
        t.push_str(TRUNCATED);
        t
    };
    match v {
        Value::String(s) => Value::String(cut(s)),
        Value::Array(items) => Value::Array(items.iter().map(bound_strings).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (cut(k), bound_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_text_is_unchanged() {
        for s in [
            "broker",
            "https://rp.example/ünï",
            "2001:db8::1",
            "",
            "鍵 ключ",
        ] {
            assert_eq!(AuditText::new(s, MAX_CLIENT_BYTES).as_str(), s);
        }
    }

    #[test]
    fn nul_control_characters_and_backslashes_are_escaped() {
        assert_eq!(AuditText::new("\0", 64).as_str(), "\\u{0}");
        assert_eq!(
            AuditText::new("a\u{7f}b\u{85}\n\\", 64).as_str(),
            "a\\u{7f}b\\u{85}\\u{a}\\\\"
        );
        assert_eq!(
            unescape("a\\u{7f}b\\u{85}\\u{a}\\\\").unwrap(),
            "a\u{7f}b\u{85}\n\\"
        );
    }

    #[test]
    fn long_text_is_cut_on_a_whole_escape_and_marked() {
        let raw = "\0".repeat(1000);
        let stored = AuditText::new(&raw, 40);
        assert!(stored.as_str().len() <= 40, "{}", stored.as_str());
        assert!(stored.as_str().ends_with(TRUNCATED));
        let kept = stored.as_str().strip_suffix(TRUNCATED).unwrap();
        assert_eq!(kept, "\\u{0}".repeat(kept.len() / 5));
        assert_eq!(unescape(stored.as_str()), None);

        // Exactly at the budget: nothing cut.
        assert_eq!(AuditText::new(&"x".repeat(40), 40).as_str(), "x".repeat(40));
        assert!(
            AuditText::new(&"x".repeat(41), 40)
                .as_str()
                .ends_with(TRUNCATED)
        );
    }

    #[test]
    fn unescape_refuses_what_escaping_never_produces() {
        for bad in [
            "\\",
            "\\x",
            "\\u{}",
            "\\u{41}",
            "\\u{0A}",
            "\\u{00}",
            "\\u{0",
            "\\u{0}x\\",
            "a\0",
        ] {
            assert_eq!(unescape(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn large_details_are_bounded() {
        let small = serde_json::json!({"reason": "bad\0password"});
        assert_eq!(
            storable_details(&small).unwrap(),
            serde_json::to_string(&small).unwrap()
        );
        let long = serde_json::json!({"k": "x".repeat(100_000)});
        let stored = storable_details(&long).unwrap();
        assert!(
            stored.len() <= MAX_DETAIL_STRING_BYTES + 32,
            "{}",
            stored.len()
        );
        let many = serde_json::Value::Array(vec![serde_json::json!("y".repeat(900)); 100]);
        let stored: serde_json::Value =
            serde_json::from_str(&storable_details(&many).unwrap()).unwrap();
        assert_eq!(stored["truncated"], true);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text: no NUL or control character is stored, the budget holds, and uncut text
        /// unescapes to the original.
        #[test]
        fn stored_text_is_clean_bounded_and_reversible(raw in ".{0,300}", max in 0usize..400) {
            let stored = AuditText::new(&raw, max);
            let s = stored.as_str();
            prop_assert!(!s.chars().any(char::is_control));
            prop_assert!(s.len() <= max.max(TRUNCATED.len()));
            if !s.ends_with(TRUNCATED) {
                prop_assert_eq!(unescape(s), Some(raw));
            }
        }

        /// Text with no control character and no backslash is stored as is.
        #[test]
        fn ordinary_text_round_trips_unchanged(raw in "[^\\p{Cc}\\\\]{0,100}") {
            prop_assert_eq!(AuditText::new(&raw, 1000).into_string(), raw);
        }

        /// Unescaping arbitrary text never panics, and what it accepts escapes back to itself.
        #[test]
        fn unescape_is_the_inverse_on_what_it_accepts(s in "(\\\\|u|\\{|\\}|[0-9a-f]|.){0,40}") {
            if let Some(raw) = unescape(&s) {
                prop_assert_eq!(AuditText::new(&raw, usize::MAX).into_string(), s);
            }
        }

        /// Details of any shape serialise within the bound.
        #[test]
        fn details_stay_within_the_bound(
            runs in proptest::collection::vec((any::<char>(), 0usize..2000), 0..40)
        ) {
            let strings = runs.into_iter().map(|(c, n)| serde_json::Value::String(c.to_string().repeat(n)));
            let v = serde_json::Value::Array(strings.collect());
            let stored = storable_details(&v).unwrap();
            prop_assert!(stored.len() <= MAX_DETAILS_BYTES);
            let _: serde_json::Value = serde_json::from_str(&stored).unwrap();
        }
    }
}
