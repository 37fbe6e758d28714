//! ID token verification: the upstream's JWKS as decoded keys, the JWS signature (jsonwebtoken on its
//! `aws_lc_rs` backend) and the OIDC Core §3.1.3.7 claim checks (pure, over an explicit `now`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_core::Loa;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer};

use super::UpstreamError;
use super::callback::secret_eq;

/// Allowed difference between our clock and the upstream's, seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// The signature algorithms accepted for ID tokens. `none` and the HMAC family are never accepted.
pub const ACCEPTED_ALGS: [Algorithm; 3] = [Algorithm::ES256, Algorithm::RS256, Algorithm::PS256];

/// One verification key from the upstream's JWKS, decoded once.
#[derive(Clone)]
struct CachedKey {
    kid: Option<String>,
    /// The JWK's `alg`, if it names one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl CachedKey {
    /// Whether this key may verify a signature made with `alg`.
    fn fits(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

/// The usable signature keys of a JWKS (EC P-256 and RSA keys for the accepted algorithms; encryption,
/// symmetric and other keys are left out).
#[derive(Clone, Default)]
pub(crate) struct JwksKeys {
    keys: Vec<CachedKey>,
}

impl std::fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| (&k.kid, k.alg)))
            .finish()
    }
}

fn accepted_alg(alg: &KeyAlgorithm) -> Option<Algorithm> {
    match alg {
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::PS256 => Some(Algorithm::PS256),
        _ => None,
    }
}

impl JwksKeys {
    /// Decodes a JWKS document (`{"keys":[…]}`), skipping keys that cannot verify an accepted algorithm.
    pub(crate) fn from_json(jwks: &serde_json::Value) -> JwksKeys {
        let entries = jwks
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut keys = Vec::with_capacity(entries.len());
        for entry in entries {
            let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
                continue;
            };
            if matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
            ) {
                continue;
            }
            let alg = match &jwk.common.key_algorithm {
                None => None,
                Some(a) => match accepted_alg(a) {
                    Some(a) => Some(a),
                    None => continue,
                },
            };
            let usable = match &jwk.algorithm {
                AlgorithmParameters::EllipticCurve(p) => p.curve == EllipticCurve::P256,
                AlgorithmParameters::RSA(_) => true,
                // Symmetric (`oct`), OKP and unknown key types never verify an ID token here.
                _ => false,
            };
            if !usable {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            keys.push(CachedKey {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        JwksKeys { keys }
    }

    /// How many usable keys there are.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Why a signature could not be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureError {
    /// No key with the token's `kid` (fetching the JWKS again may help).
    UnknownKid(String),
    /// Anything else: the text says what.
    Invalid(String),
}

/// The JOSE header fields we look at.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Verifies the signature of a compact JWS against `keys` and returns its claims (not yet checked).
pub(crate) fn verify_signature(
    token: &str,
    keys: &JwksKeys,
) -> Result<IdTokenClaims, SignatureError> {
    let invalid = |s: String| SignatureError::Invalid(s);
    let mut parts = token.split('.');
    let (Some(header_b64), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a compact JWS (three parts)".into()));
    };
    let header: RawHeader = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("malformed JOSE header".into()))?;
    if header.crit.is_some() {
        return Err(invalid("header has crit extensions".into()));
    }
    let alg = header
        .alg
        .parse::<Algorithm>()
        .ok()
        .filter(|a| ACCEPTED_ALGS.contains(a))
        .ok_or_else(|| invalid(format!("signature algorithm {:?} is refused", header.alg)))?;
    let key = match &header.kid {
        Some(kid) => keys
            .keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid.as_str()))
            .ok_or_else(|| SignatureError::UnknownKid(kid.clone()))?,
        None => {
            let mut fitting = keys.keys.iter().filter(|k| k.fits(alg));
            match (fitting.next(), fitting.next()) {
                (Some(k), None) => k,
                (None, _) => return Err(SignatureError::UnknownKid(String::new())),
                (Some(_), Some(_)) => {
                    return Err(invalid("no kid and several candidate keys".into()));
                }
            }
        }
    };
    if !key.fits(alg) {
        return Err(invalid(format!(
            "key {:?} is not for {alg:?}",
            key.kid.as_deref().unwrap_or_default()
        )));
    }
    // Only the signature is checked here; the claims are checked by `check_claims` with our clock and
    // precise messages.
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<IdTokenClaims>(token, &key.key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                invalid("signature does not verify".into())
            }
            jsonwebtoken::errors::ErrorKind::Json(e) => invalid(format!("claims malformed: {e}")),
            _ => invalid(format!("signature check failed: {e}")),
        })
}

/// `aud`: one string or an array of strings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn as_slice(&self) -> &[String] {
        match self {
            Audience::One(a) => std::slice::from_ref(a),
            Audience::Many(v) => v,
        }
    }
}

/// A NumericDate: integer or (rarely) fractional seconds.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        .ok_or_else(|| serde::de::Error::custom("not a NumericDate"))
}

fn opt_numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "numeric_date")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// The claims of an upstream ID token that the broker reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    #[serde(deserialize_with = "numeric_date")]
    pub iat: i64,
    #[serde(default, deserialize_with = "opt_numeric_date")]
    pub nbf: Option<i64>,
    #[serde(default, deserialize_with = "opt_numeric_date")]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub acr: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default)]
    pub cpr: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub birthdate: Option<String>,
    /// The upstream's session id towards the broker (its `logout_hint`).
    #[serde(default)]
    pub sid: Option<String>,
    /// The eIDAS connector's claims (read only under [`super::ClaimMapping::Eidas`]).
    #[serde(flatten)]
    pub eidas: super::eidas::RawEidasClaims,
}

/// What the ID token must say.
#[derive(Debug, Clone)]
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub acr_min: Option<Loa>,
    pub max_age: Option<u64>,
    /// Unix seconds.
    pub now: i64,
}

/// The checked facts of an ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub loa: Loa,
    pub auth_time: i64,
}

/// The OIDC Core §3.1.3.7 checks, in order: iss, aud, azp, exp, iat, nbf, nonce, sub, acr, auth_time.
pub(crate) fn check_claims(
    claims: &IdTokenClaims,
    expected: &Expected<'_>,
) -> Result<Checked, UpstreamError> {
    let bad = |s: &str| Err(UpstreamError::IdToken(s.to_owned()));
    let now = expected.now;
    if claims.iss != expected.issuer {
        return bad("iss is not the upstream's issuer");
    }
    let aud = claims.aud.as_slice();
    if !aud.iter().any(|a| a == expected.client_id) {
        return bad("aud does not contain our client_id");
    }
    match &claims.azp {
        Some(azp) if azp != expected.client_id => return bad("azp is not our client_id"),
        None if aud.len() > 1 => return bad("several audiences but no azp"),
        _ => {}
    }
    if now >= claims.exp.saturating_add(CLOCK_SKEW_SECS) {
        return bad("expired (exp is past)");
    }
    if claims.iat > now.saturating_add(CLOCK_SKEW_SECS) {
        return bad("iat is in the future");
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(CLOCK_SKEW_SECS))
    {
        return bad("not yet valid (nbf is in the future)");
    }
    match &claims.nonce {
        Some(nonce) if secret_eq(nonce, expected.nonce) => {}
        _ => return Err(UpstreamError::NonceMismatch),
    }
    if claims.sub.is_empty() {
        return bad("sub is empty");
    }
    let loa = claims.acr.as_deref().and_then(|acr| Loa::parse(acr).ok());
    let loa = match (loa, expected.acr_min) {
        (Some(loa), Some(min)) if loa < min => {
            return Err(UpstreamError::AcrTooLow {
                requested: min,
                got: Some(loa),
            });
        }
        (Some(loa), _) => loa,
        (None, Some(min)) => {
            return Err(UpstreamError::AcrTooLow {
                requested: min,
                got: None,
            });
        }
        (None, None) if claims.acr.is_none() => return bad("acr is missing"),
        (None, None) => return bad("acr is not a known level of assurance"),
    };
    let auth_time = match (claims.auth_time, expected.max_age) {
        (None, Some(_)) => return bad("auth_time is missing although max_age was requested"),
        (Some(t), _) if t > now.saturating_add(CLOCK_SKEW_SECS) => {
            return bad("auth_time is in the future");
        }
        (Some(t), Some(max_age)) => {
            let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
            if now.saturating_sub(t) > max_age.saturating_add(CLOCK_SKEW_SECS) {
                return bad("auth_time is older than max_age");
            }
            t
        }
        (Some(t), None) => t,
        (None, None) => claims.iat,
    };
    Ok(Checked { loa, auth_time })
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn claims() -> IdTokenClaims {
        IdTokenClaims {
            iss: "https://idp.example".into(),
            sub: "7b6f0c4e-0000-4000-8000-000000000001".into(),
            aud: Audience::One("broker".into()),
            azp: None,
            exp: NOW + 300,
            iat: NOW,
            nbf: None,
            auth_time: Some(NOW - 10),
            nonce: Some("n-1".into()),
            acr: Some("https://data.gov.dk/concept/core/nsis/loa/Substantial".into()),
            amr: vec!["pwd".into()],
            cpr: None,
            given_name: None,
            family_name: None,
            birthdate: None,
            sid: None,
            eidas: Default::default(),
        }
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "broker",
            nonce: "n-1",
            acr_min: None,
            max_age: None,
            now: NOW,
        }
    }

    fn fails(c: &IdTokenClaims, e: &Expected<'_>, what: &str) {
        match check_claims(c, e) {
            Err(UpstreamError::IdToken(msg)) => assert!(msg.contains(what), "{msg} vs {what}"),
            other => panic!("expected IdToken({what}), got {other:?}"),
        }
    }

    #[test]
    fn good_claims_pass() {
        assert_eq!(
            check_claims(&claims(), &expected()),
            Ok(Checked {
                loa: Loa::Substantial,
                auth_time: NOW - 10
            })
        );
    }

    #[test]
    fn issuer_audience_and_azp() {
        let mut c = claims();
        c.iss = "https://idp.example/".into();
        fails(&c, &expected(), "iss");
        let mut c = claims();
        c.aud = Audience::Many(vec!["other".into()]);
        fails(&c, &expected(), "aud");
        let mut c = claims();
        c.aud = Audience::Many(vec!["broker".into(), "other".into()]);
        fails(&c, &expected(), "azp");
        c.azp = Some("other".into());
        fails(&c, &expected(), "azp");
        c.azp = Some("broker".into());
        assert!(check_claims(&c, &expected()).is_ok());
    }

    #[test]
    fn times_allow_sixty_seconds_of_skew() {
        let mut c = claims();
        c.exp = NOW - 59;
        assert!(check_claims(&c, &expected()).is_ok());
        c.exp = NOW - 61;
        fails(&c, &expected(), "exp");
        let mut c = claims();
        c.iat = NOW + 61;
        fails(&c, &expected(), "iat");
        let mut c = claims();
        c.nbf = Some(NOW + 61);
        fails(&c, &expected(), "nbf");
        let mut c = claims();
        c.auth_time = Some(NOW + 61);
        fails(&c, &expected(), "auth_time");
    }

    #[test]
    fn nonce_must_match() {
        let mut c = claims();
        c.nonce = Some("n-2".into());
        assert_eq!(
            check_claims(&c, &expected()),
            Err(UpstreamError::NonceMismatch)
        );
        c.nonce = None;
        assert_eq!(
            check_claims(&c, &expected()),
            Err(UpstreamError::NonceMismatch)
        );
    }

    #[test]
    fn acr_is_required_and_compared_with_the_minimum() {
        let mut e = expected();
        e.acr_min = Some(Loa::High);
        assert_eq!(
            check_claims(&claims(), &e),
            Err(UpstreamError::AcrTooLow {
                requested: Loa::High,
                got: Some(Loa::Substantial)
            })
        );
        let mut c = claims();
        c.acr = None;
        assert_eq!(
            check_claims(&c, &e),
            Err(UpstreamError::AcrTooLow {
                requested: Loa::High,
                got: None
            })
        );
        fails(&c, &expected(), "acr is missing");
        c.acr = Some("urn:unknown".into());
        fails(&c, &expected(), "acr is not");
        // The other NSIS spelling is accepted.
        c.acr = Some("https://data.gov.dk/concept/core/nsis/High".into());
        assert_eq!(check_claims(&c, &e).map(|k| k.loa), Ok(Loa::High));
    }

    #[test]
    fn max_age_needs_a_recent_auth_time() {
        let mut e = expected();
        e.max_age = Some(300);
        let mut c = claims();
        c.auth_time = Some(NOW - 300 - 60);
        assert!(check_claims(&c, &e).is_ok());
        c.auth_time = Some(NOW - 300 - 61);
        fails(&c, &e, "max_age");
        c.auth_time = None;
        fails(&c, &e, "auth_time is missing");
        // Without max_age, a missing auth_time falls back to iat.
        assert_eq!(check_claims(&c, &expected()).map(|k| k.auth_time), Ok(NOW));
    }

    #[test]
    fn jwks_keeps_only_signature_keys_for_accepted_algorithms() {
        let jwks = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "es", "alg": "ES256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256", "kid": "es384", "alg": "ES384",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "whatever"}
        ]});
        let keys = JwksKeys::from_json(&jwks);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys.keys[0].kid.as_deref(), Some("es"));
    }

    #[test]
    fn refused_algorithms_and_unknown_kids() {
        let keys = JwksKeys::default();
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let payload = b64(r#"{"sub":"x"}"#);
        for alg in ["none", "HS256", "ES384", "RS512"] {
            let token = format!("{}.{payload}.", b64(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert!(
                matches!(verify_signature(&token, &keys), Err(SignatureError::Invalid(m)) if m.contains("refused")),
                "{alg}"
            );
        }
        let token = format!("{}.{payload}.c2ln", b64(r#"{"alg":"ES256","kid":"k9"}"#));
        assert_eq!(
            verify_signature(&token, &keys).err(),
            Some(SignatureError::UnknownKid("k9".into()))
        );
        let token = format!(
            "{}.{payload}.c2ln",
            b64(r#"{"alg":"ES256","kid":"k9","crit":["x"]}"#)
        );
        assert!(matches!(
            verify_signature(&token, &keys),
            Err(SignatureError::Invalid(_))
        ));
        assert!(matches!(
            verify_signature("a.b", &keys),
            Err(SignatureError::Invalid(_))
        ));
    }
}

#[cfg(test)]
mod props;
