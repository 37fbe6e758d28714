//! Request parameters as received (a query string or a form body), bounded before anything reads
//! them: at most [`MAX_PARAMS`] parameters, each name at most once, each value within the length
//! its parameter needs ([`max_len`]) and free of control characters. Parsing is linear in the
//! input, and stops at the first violation.

use std::collections::HashSet;

use crate::error::OAuthError;

/// The most parameters one request may carry (an authorization request uses about 15).
pub const MAX_PARAMS: usize = 64;
/// The longest parameter name.
pub const MAX_NAME_LEN: usize = 64;
/// The longest identifier (`client_id`, and the user ID of a `login_hint`).
pub const MAX_IDENTIFIER_LEN: usize = 255;
/// The longest value of a parameter not listed in [`max_len`].
pub const DEFAULT_MAX_LEN: usize = 2048;
/// The longest JWT a parameter may carry (an ID token hint, a client assertion, a logout token).
pub const MAX_JWT_LEN: usize = 16 * 1024;

/// The longest value (in bytes) parameter `name` may have. Each bound is generous for honest use
/// and small enough that a pending login, an audit event or a redirect stays small.
pub fn max_len(name: &str) -> usize {
    match name {
        "client_id" | "login_hint" | "logout_hint" => MAX_IDENTIFIER_LEN,
        "state" => 1024,
        "nonce" => 512,
        "scope" | "acr_values" => 1024,
        "ui_locales" | "claims_locales" => 128,
        "response_type"
        | "response_mode"
        | "prompt"
        | "display"
        | "code_challenge_method"
        | "token_type_hint" => 64,
        "grant_type" | "client_assertion_type" => 128,
        "max_age" => 20,
        // RFC 7636 §4.1: a verifier is 43 to 128 characters; an S256 challenge is 43.
        "code_verifier" | "code_challenge" => 128,
        "code" | "request_uri" | "refresh_token" | "client_secret" | "tx" | "csrf" => 512,
        // At most MAX_SERVICE_NAME_CHARS characters of up to four bytes.
        "service_name" => 4 * MAX_SERVICE_NAME_CHARS,
        "redirect_uri" | "post_logout_redirect_uri" => DEFAULT_MAX_LEN,
        "id_token_hint" | "client_assertion" | "logout_token" | "request" | "token" => MAX_JWT_LEN,
        _ => DEFAULT_MAX_LEN,
    }
}

/// Whether `value` is a well-formed identifier: non-empty, at most [`MAX_IDENTIFIER_LEN`] bytes,
/// no control characters (so it is safe for every store and the audit log).
pub fn is_valid_identifier(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_IDENTIFIER_LEN && !value.chars().any(char::is_control)
}

/// The longest `service_name`, in characters.
pub const MAX_SERVICE_NAME_CHARS: usize = 100;

/// Whether `name` may be shown as a service's name: not blank, at most
/// [`MAX_SERVICE_NAME_CHARS`] characters, no control or bidirectional-formatting characters (which
/// could make a page read otherwise than it says). Shared by the sender and the receiver.
pub fn valid_service_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_SERVICE_NAME_CHARS
        && !name.chars().any(eid_core::person::is_hidden)
}

/// Request parameters, each name at most once, all within bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawParams(Vec<(String, String)>);

impl RawParams {
    /// Collects pairs, refusing with `invalid_request` a repeated parameter (RFC 6749 §3.1), more
    /// than [`MAX_PARAMS`] parameters, an over-long name or value, or a control character.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, OAuthError> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (k, v) in pairs {
            if out.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request(format!(
                    "more than {MAX_PARAMS} parameters"
                )));
            }
            check(&k, &v)?;
            if !seen.insert(k.clone()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {k} repeated"
                )));
            }
            out.push((k, v));
        }
        Ok(RawParams(out))
    }

    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(encoded: &str) -> Result<Self, OAuthError> {
        Self::from_pairs(url::form_urlencoded::parse(encoded.as_bytes()).into_owned())
    }

    /// The value of `name`; an empty value counts as absent (OIDC Core §3.1.2.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The parameters in the order received.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Checks one parameter; the error names the parameter (never echoes its value).
fn check(name: &str, value: &str) -> Result<(), OAuthError> {
    if name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(OAuthError::invalid_request("malformed parameter name"));
    }
    if value.len() > max_len(name) {
        return Err(OAuthError::invalid_request(format!(
            "parameter {name} is too long"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(OAuthError::invalid_request(format!(
            "parameter {name} contains a control character"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn service_names_are_printable_and_bounded() {
        assert!(valid_service_name("Borger.dk – Flyttetjenesten"));
        assert!(valid_service_name(&"æ".repeat(MAX_SERVICE_NAME_CHARS)));
        assert!(!valid_service_name(&"x".repeat(MAX_SERVICE_NAME_CHARS + 1)));
        assert!(!valid_service_name(""));
        assert!(!valid_service_name("  "));
        assert!(!valid_service_name("Bank\nNemID"));
        assert!(!valid_service_name("Bank\u{202E}kd"));
        assert!(!valid_service_name("Bank\u{200B}"));
        assert!(max_len("service_name") >= 4 * MAX_SERVICE_NAME_CHARS);
    }

    fn one(name: &str, value: &str) -> Result<RawParams, OAuthError> {
        RawParams::from_pairs([(name.to_owned(), value.to_owned())])
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(RawParams::parse("a=1&a=2").is_err());
        assert!(RawParams::parse("a=1&b=2").is_ok());
    }

    #[test]
    fn each_parameter_is_capped_at_its_length() {
        for name in [
            "client_id",
            "state",
            "nonce",
            "scope",
            "acr_values",
            "login_hint",
            "ui_locales",
            "redirect_uri",
            "code_challenge",
            "code_verifier",
            "code",
            "max_age",
            "prompt",
            "client_assertion",
            "id_token_hint",
            "something_else",
        ] {
            let cap = max_len(name);
            assert!(one(name, &"a".repeat(cap)).is_ok(), "{name} at its cap");
            let e = one(name, &"a".repeat(cap + 1)).unwrap_err();
            assert!(e.description.contains("too long"), "{name}: {e}");
        }
        assert!(max_len("state") <= 1024 && max_len("client_id") <= MAX_IDENTIFIER_LEN);
        assert!(one(&"n".repeat(MAX_NAME_LEN + 1), "v").is_err());
    }

    #[test]
    fn the_parameter_count_is_capped() {
        let at_cap: String = (0..MAX_PARAMS).map(|i| format!("p{i}=v&")).collect();
        assert!(RawParams::parse(&at_cap).is_ok());
        let over = format!("{at_cap}extra=v");
        let e = RawParams::parse(&over).unwrap_err();
        assert!(e.description.contains("parameters"), "{e}");
    }

    #[test]
    fn a_huge_number_of_distinct_parameters_is_refused() {
        // The body of the attack: 49,000 distinct names (this took 3 s of CPU when quadratic).
        let body: String = (0..49_000).map(|i| format!("p{i}&")).collect();
        let e = RawParams::parse(&body).unwrap_err();
        assert!(e.description.contains("parameters"), "{e}");
    }

    #[test]
    fn control_characters_are_refused_in_names_and_values() {
        for encoded in [
            "client_id=%00",
            "client_id=rp%0A",
            "state=a%7Fb",
            "state=a%C2%85b",
            "a%00=1",
        ] {
            assert!(RawParams::parse(encoded).is_err(), "{encoded}");
        }
        assert!(RawParams::parse("login_hint=S%C3%B8ren%20B").is_ok());
    }

    #[test]
    fn identifiers_are_printable_and_bounded() {
        assert!(is_valid_identifier("rp 1"));
        assert!(!is_valid_identifier(""));
        assert!(!is_valid_identifier("rp\0"));
        assert!(!is_valid_identifier(&"a".repeat(MAX_IDENTIFIER_LEN + 1)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text parses or is refused without a panic; what parses is within every bound and
        /// round-trips through form encoding.
        #[test]
        fn any_input_is_bounded_or_refused(input in "(.|[=&%]|%[0-9A-F]{2}){0,300}") {
            if let Ok(params) = RawParams::parse(&input) {
                let pairs: Vec<(&str, &str)> = params.pairs().collect();
                prop_assert!(pairs.len() <= MAX_PARAMS);
                for (k, v) in &pairs {
                    prop_assert!(v.len() <= max_len(k) && !v.chars().any(char::is_control));
                }
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs.iter())
                    .finish();
                prop_assert_eq!(RawParams::parse(&encoded).unwrap(), params);
            }
        }

        /// Well-formed pairs round-trip; a repeated name is always refused.
        #[test]
        fn distinct_pairs_round_trip_and_repeats_are_refused(
            pairs in proptest::collection::btree_map("[a-z_]{1,12}", "[ -~]{0,40}", 0..20),
        ) {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let parsed = RawParams::parse(&encoded).unwrap();
            for (k, v) in &pairs {
                prop_assert_eq!(parsed.get(k), Some(v.as_str()).filter(|v| !v.is_empty()));
            }
            if let Some((k, v)) = pairs.iter().next() {
                let twice = format!("{encoded}&{}", url::form_urlencoded::Serializer::new(String::new()).append_pair(k, v).finish());
                prop_assert!(RawParams::parse(&twice).is_err());
            }
        }
    }
}
