//! RP-Initiated Logout 1.0 requests as every provider reads them: the parameters of an
//! end-session request, bounded, and the claims of an `id_token_hint` whose signature verified.
//!
//! What a request may end (a session cookie, a hint naming the session, a confirmation page) is
//! each provider's own policy; this module only reads and checks what they share.
//!
//! [`RawParams`] already refuses control characters and caps each parameter at
//! [`max_len`](crate::params::max_len), which is as tight as a logout needs for `client_id` and
//! `post_logout_redirect_uri`; [`LogoutParams::from_raw`] caps the rest tighter: they are echoed to
//! the relying party, put in a form, or compared with a `sid`.

use serde::Deserialize;

use crate::RawParams;

/// The longest `id_token_hint` accepted.
pub const MAX_ID_TOKEN_HINT_LEN: usize = 8192;
/// The longest `logout_hint` accepted (a `sid` is 43 characters).
pub const MAX_LOGOUT_HINT_LEN: usize = 128;
/// The longest `state` accepted (it is echoed to the relying party and put in a form).
pub const MAX_STATE_LEN: usize = 512;

/// Why a logout request's parameters or its hint's claims are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutRejection {
    /// A parameter exceeds its bound or holds a control character.
    #[error("{0} is too long or malformed")]
    Malformed(&'static str),
    /// The hint's claims cannot be read.
    #[error("id_token_hint is malformed")]
    HintMalformed,
    /// The hint names another issuer.
    #[error("id_token_hint was issued by someone else")]
    HintForeign,
}

/// A logout request's parameters: bounded, not yet checked against keys or registrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutParams {
    /// `id_token_hint`.
    pub id_token_hint: Option<String>,
    /// `logout_hint` (read only by a provider that honours it).
    pub logout_hint: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: Option<String>,
    /// `state`.
    pub state: Option<String>,
}

/// The value of `name`, refused when longer than `max` (control characters and the general bound
/// of [`max_len`](crate::params::max_len) were refused by [`RawParams`]).
fn bounded(
    params: &RawParams,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, LogoutRejection> {
    match params.get(name) {
        Some(v) if v.len() > max => Err(LogoutRejection::Malformed(name)),
        v => Ok(v.map(str::to_owned)),
    }
}

impl LogoutParams {
    /// Reads the parameters, `logout_hint` included, refusing an over-long one.
    pub fn from_raw(params: &RawParams) -> Result<Self, LogoutRejection> {
        Self::read(params, true)
    }

    /// Reads the parameters of a provider that does not honour `logout_hint`: it is left unread
    /// (`None`), so not refused either.
    pub fn from_raw_without_logout_hint(params: &RawParams) -> Result<Self, LogoutRejection> {
        Self::read(params, false)
    }

    fn read(params: &RawParams, logout_hint: bool) -> Result<Self, LogoutRejection> {
        Ok(LogoutParams {
            id_token_hint: bounded(params, "id_token_hint", MAX_ID_TOKEN_HINT_LEN)?,
            logout_hint: if logout_hint {
                bounded(params, "logout_hint", MAX_LOGOUT_HINT_LEN)?
            } else {
                None
            },
            client_id: params.get("client_id").map(str::to_owned),
            post_logout_redirect_uri: params.get("post_logout_redirect_uri").map(str::to_owned),
            state: bounded(params, "state", MAX_STATE_LEN)?,
        })
    }
}

/// What a verified `id_token_hint` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// Its audience: the relying party it was issued to.
    pub client_id: String,
    /// Its `sid` (the session's `sid` towards that relying party).
    pub sid: Option<String>,
}

#[derive(Deserialize)]
struct HintClaims {
    iss: String,
    aud: serde_json::Value,
    sid: Option<String>,
}

/// Reads the claims of an `id_token_hint` whose signature verified: issued by `issuer`, to exactly
/// one audience. An expired hint is accepted (RP-Initiated Logout 1.0 §2).
pub fn hint_from_claims(payload: &[u8], issuer: &str) -> Result<Hint, LogoutRejection> {
    let claims: HintClaims =
        serde_json::from_slice(payload).map_err(|_| LogoutRejection::HintMalformed)?;
    if claims.iss != issuer {
        return Err(LogoutRejection::HintForeign);
    }
    let client_id = match &claims.aud {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_owned),
        _ => None,
    }
    .ok_or(LogoutRejection::HintMalformed)?;
    Ok(Hint {
        client_id,
        sid: claims.sid,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::params::{MAX_IDENTIFIER_LEN, max_len};
    use proptest::prelude::*;

    const ISSUER: &str = "https://idp.example";

    fn params(pairs: &[(&str, &str)]) -> RawParams {
        RawParams::from_pairs(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into()))).unwrap()
    }

    #[test]
    fn a_hint_names_one_audience_of_this_issuer() {
        assert_eq!(
            hint_from_claims(
                br#"{"iss":"https://idp.example","aud":["b"],"sid":"s"}"#,
                ISSUER
            ),
            Ok(Hint {
                client_id: "b".into(),
                sid: Some("s".into())
            })
        );
        assert_eq!(
            hint_from_claims(br#"{"iss":"https://idp.example","aud":"b"}"#, ISSUER),
            Ok(Hint {
                client_id: "b".into(),
                sid: None
            })
        );
        assert_eq!(
            hint_from_claims(br#"{"iss":"https://evil","aud":"b"}"#, ISSUER),
            Err(LogoutRejection::HintForeign)
        );
        assert_eq!(
            hint_from_claims(br#"{"iss":"https://idp.example","aud":["a","b"]}"#, ISSUER),
            Err(LogoutRejection::HintMalformed)
        );
    }

    #[test]
    fn an_over_long_state_is_refused_not_echoed() {
        let long = "s".repeat(MAX_STATE_LEN + 1);
        assert_eq!(
            LogoutParams::from_raw(&params(&[("state", &long)])),
            Err(LogoutRejection::Malformed("state"))
        );
        let fine = "s".repeat(MAX_STATE_LEN);
        assert_eq!(
            LogoutParams::from_raw(&params(&[("state", &fine)]))
                .unwrap()
                .state,
            Some(fine)
        );
    }

    #[test]
    fn logout_hint_is_read_only_when_honoured() {
        let long = "h".repeat(MAX_LOGOUT_HINT_LEN + 1);
        let raw = params(&[("logout_hint", &long), ("client_id", "rp")]);
        assert_eq!(
            LogoutParams::from_raw(&raw),
            Err(LogoutRejection::Malformed("logout_hint"))
        );
        assert_eq!(
            LogoutParams::from_raw_without_logout_hint(&raw),
            Ok(LogoutParams {
                client_id: Some("rp".into()),
                ..LogoutParams::default()
            })
        );
        let sid = params(&[("logout_hint", "sid")]);
        assert_eq!(
            LogoutParams::from_raw(&sid).unwrap().logout_hint,
            Some("sid".into())
        );
    }

    #[test]
    fn the_bounds_are_at_least_as_tight_as_the_general_ones() {
        for (name, max) in [
            ("id_token_hint", MAX_ID_TOKEN_HINT_LEN),
            ("logout_hint", MAX_LOGOUT_HINT_LEN),
            ("state", MAX_STATE_LEN),
        ] {
            assert!(max <= max_len(name), "{name}");
        }
        // `client_id` and `post_logout_redirect_uri` rely on the general bounds alone.
        assert!(max_len("client_id") <= 256 && max_len("post_logout_redirect_uri") <= 2048);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any parameters are either read back unchanged within their bounds, or refused as
        /// malformed; a provider that does not honour `logout_hint` never reads it.
        #[test]
        fn logout_parameters_are_read_back_or_refused(
            id_token_hint in proptest::option::of(".{0,40}"),
            logout_hint in proptest::option::of("(?s).{0,200}"),
            client in proptest::option::of("\\PC{0,300}"),
            uri in proptest::option::of(".{0,60}"),
            state in proptest::option::of("(?s).{0,600}"),
        ) {
            let mut pairs = Vec::new();
            for (k, v) in [("id_token_hint", &id_token_hint), ("logout_hint", &logout_hint),
                           ("client_id", &client), ("post_logout_redirect_uri", &uri),
                           ("state", &state)] {
                if let Some(v) = v {
                    pairs.push((k.to_owned(), v.clone()));
                }
            }
            let Ok(raw) = RawParams::from_pairs(pairs) else { return Ok(()); };
            let fits = |v: &Option<String>, max: usize| v.as_ref().is_none_or(|s| {
                s.len() <= max && !s.chars().any(char::is_control)
            });
            let others_fit = fits(&id_token_hint, MAX_ID_TOKEN_HINT_LEN)
                && fits(&client, MAX_IDENTIFIER_LEN)
                && fits(&uri, max_len("post_logout_redirect_uri"))
                && fits(&state, MAX_STATE_LEN);
            let all_fit = others_fit && fits(&logout_hint, MAX_LOGOUT_HINT_LEN);
            let back = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
            match LogoutParams::from_raw(&raw) {
                Ok(p) => {
                    prop_assert!(all_fit);
                    prop_assert_eq!(p.id_token_hint, back(&id_token_hint));
                    prop_assert_eq!(p.logout_hint, back(&logout_hint));
                    prop_assert_eq!(p.client_id, back(&client));
                    prop_assert_eq!(p.post_logout_redirect_uri, back(&uri));
                    prop_assert_eq!(p.state, back(&state));
                }
                Err(LogoutRejection::Malformed(_)) => prop_assert!(!all_fit),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
            match LogoutParams::from_raw_without_logout_hint(&raw) {
                Ok(p) => {
                    prop_assert!(others_fit);
                    prop_assert_eq!(p.logout_hint, None);
                    prop_assert_eq!(p.client_id, back(&client));
                    prop_assert_eq!(p.state, back(&state));
                }
                Err(LogoutRejection::Malformed(name)) => {
                    prop_assert!(!others_fit && name != "logout_hint");
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        /// Arbitrary bytes as hint claims never panic; a hint is accepted only from our issuer.
        #[test]
        fn hint_claims_never_panic_and_need_our_issuer(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            aud in "[a-z-]{1,12}",
            iss in "https://[a-z.]{1,20}",
        ) {
            let _ = hint_from_claims(&payload, ISSUER);
            let claims = serde_json::json!({ "iss": iss, "aud": aud }).to_string();
            let read = hint_from_claims(claims.as_bytes(), ISSUER);
            if iss == ISSUER {
                prop_assert_eq!(read, Ok(Hint { client_id: aud, sid: None }));
            } else {
                prop_assert_eq!(read, Err(LogoutRejection::HintForeign));
            }
        }
    }
}
