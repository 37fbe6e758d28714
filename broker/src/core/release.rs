//! Attribute release: what a relying party receives about a person, per its registration.

use eid_core::RelyingParty;
use serde_json::{Map, Value};

use super::pairwise::PairwiseKey;
use super::session::SsoSession;

/// The claims a relying party may name in `allowed_claims`, and what each releases.
pub const RELEASABLE: &[&str] = &["cpr", "name", "birthdate"];

/// The subject identifier of the session's person for this relying party.
pub fn subject_for(rp: &RelyingParty, session: &SsoSession, key: &PairwiseKey) -> String {
    match rp.subject_type {
        eid_core::SubjectType::Pairwise => key.subject(&rp.sector, &session.person_key()),
        eid_core::SubjectType::Public => session.person_key(),
    }
}

/// The person claims released to `rp` (besides `sub`, `acr`, `amr`, `auth_time`, which every relying
/// party receives). The CPR number only where the registration allows it.
pub fn person_claims(rp: &RelyingParty, session: &SsoSession) -> Map<String, Value> {
    let identity = &session.identity;
    let mut claims = Map::new();
    claims.insert("loa".into(), Value::String(session.loa.as_uri().to_owned()));
    if rp.may_receive("cpr")
        && let Some(cpr) = &identity.cpr
    {
        claims.insert("cpr".into(), Value::String(cpr.clone()));
    }
    if rp.may_receive("name") {
        if let Some(given) = &identity.given_name {
            claims.insert("given_name".into(), Value::String(given.clone()));
        }
        if let Some(family) = &identity.family_name {
            claims.insert("family_name".into(), Value::String(family.clone()));
        }
        if let (Some(given), Some(family)) = (&identity.given_name, &identity.family_name) {
            claims.insert("name".into(), Value::String(format!("{given} {family}")));
        }
    }
    if rp.may_receive("birthdate")
        && let Some(birthdate) = &identity.birthdate
    {
        claims.insert("birthdate".into(), Value::String(birthdate.clone()));
    }
    claims
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_core::Loa;

    fn rp(allowed: &[&str]) -> RelyingParty {
        serde_json::from_value(serde_json::json!({
            "client_id": "rp", "client_name": "RP", "token_endpoint_auth_method": "client_secret_basic",
            "sector": "s", "allowed_claims": allowed,
        }))
        .unwrap()
    }

    fn session() -> SsoSession {
        let mut s = SsoSession::for_test(Loa::Substantial, 1);
        s.identity.cpr = Some("0101701234".into());
        s.identity.given_name = Some("Anna".into());
        s.identity.family_name = Some("Jensen".into());
        s
    }

    #[test]
    fn cpr_only_where_allowed() {
        assert!(!person_claims(&rp(&["name"]), &session()).contains_key("cpr"));
        assert_eq!(
            person_claims(&rp(&["cpr"]), &session())["cpr"],
            "0101701234"
        );
    }

    #[test]
    fn names_only_where_allowed_and_level_always() {
        let none = person_claims(&rp(&[]), &session());
        assert!(!none.contains_key("given_name"));
        assert_eq!(none["loa"], Loa::Substantial.as_uri());
        assert_eq!(
            person_claims(&rp(&["name"]), &session())["name"],
            "Anna Jensen"
        );
    }
}
