//! The OIDC frontend's view of a release: the person claims of ID tokens and userinfo.

use serde_json::{Map, Value};

use crate::core::Released;

/// The person claims of a release (besides `sub`, `acr`, `amr`, `auth_time`, which every relying
/// party receives): the level always, the rest only as released.
pub fn person_claims(released: &Released) -> Map<String, Value> {
    let a = &released.attributes;
    let mut claims = Map::new();
    claims.insert(
        "loa".into(),
        Value::String(released.level.as_uri().to_owned()),
    );
    if let Some(cpr) = &a.cpr {
        claims.insert("cpr".into(), Value::String(cpr.as_str().to_owned()));
    }
    if let Some(given) = &a.given_name {
        claims.insert("given_name".into(), Value::String(given.clone()));
    }
    if let Some(family) = &a.family_name {
        claims.insert("family_name".into(), Value::String(family.clone()));
    }
    if let (Some(given), Some(family)) = (&a.given_name, &a.family_name) {
        claims.insert("name".into(), Value::String(format!("{given} {family}")));
    }
    if let Some(birthdate) = &a.birthdate {
        claims.insert("birthdate".into(), Value::String(birthdate.clone()));
    }
    if let Some(actor) = &released.actor {
        // RFC 8693 §4.1: the acting party.
        claims.insert(
            "act".into(),
            serde_json::json!({ "sub": actor.subject, "mandate": actor.mandate }),
        );
    }
    claims
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::core::release::{Actor, Attributes};
    use eid_core::{Cpr, Loa};

    fn released(attributes: Attributes) -> Released {
        Released {
            subject: "s".into(),
            audit_id: uuid::Uuid::nil(),
            actor: None,
            level: Loa::Substantial,
            amr: vec![],
            auth_time: 0,
            attributes,
        }
    }

    #[test]
    fn only_released_attributes_become_claims_and_the_level_always() {
        let none = person_claims(&released(Attributes::default()));
        assert_eq!(none.len(), 1);
        assert_eq!(none["loa"], Loa::Substantial.as_uri());
        let all = person_claims(&released(Attributes {
            cpr: Some(Cpr::parse("0101701234").unwrap()),
            given_name: Some("Anna".into()),
            family_name: Some("Jensen".into()),
            birthdate: Some("1970-01-01".into()),
        }));
        assert_eq!(all["cpr"], "0101701234");
        assert_eq!(all["name"], "Anna Jensen");
        assert_eq!(all["birthdate"], "1970-01-01");
    }

    #[test]
    fn an_actor_is_named_in_act() {
        let mut r = released(Attributes::default());
        r.actor = Some(Actor {
            subject: "agent".into(),
            audit_id: uuid::Uuid::nil(),
            mandate: "m1".into(),
        });
        assert_eq!(person_claims(&r)["act"]["sub"], "agent");
    }
}
