//! The OIDC frontend's view of a release: the person claims of ID tokens and userinfo.

use eid_core::{Mandate, Principal};
use serde_json::{Map, Value, json};

use crate::core::Released;

/// The RFC 9396 `type` of the authorization details entry that carries a mandate (the broker's
/// own URN; docs/decisions.md).
pub const MANDATE_DETAILS_TYPE: &str = "urn:eidbroker:mandate";

/// The RFC 9396 authorization details entry of a mandate used at relying party `rp`: the
/// mandate's id, kind, the kind of principal (and an organisation's CVR number and name), the
/// relying party as its location, what it allows as actions, its privileges and scopes.
pub fn mandate_details(mandate: &Mandate, rp: &str) -> Value {
    let actions = match mandate.access {
        eid_core::Access::Read => json!(["read"]),
        eid_core::Access::Act => json!(["read", "act"]),
    };
    let mut entry = json!({
        "type": MANDATE_DETAILS_TYPE,
        "identifier": mandate.id,
        "mandate_type": mandate.kind.as_str(),
        "locations": [rp],
        "actions": actions,
        "privileges": mandate.privileges,
        "scopes": mandate.scopes,
    });
    match &mandate.principal {
        Principal::Person { .. } => entry["principal_type"] = json!("person"),
        Principal::Organisation { cvr, name } => {
            entry["principal_type"] = json!("organisation");
            entry["organisation"] = json!({ "cvr": cvr, "name": name });
        }
    }
    if let Some(until) = mandate.valid_until.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    }) {
        entry["valid_until"] = json!(until);
    }
    entry
}

/// The person claims of a release to relying party `rp` (besides `sub`, `acr`, `amr`,
/// `auth_time`, which every relying party receives): the level always, the rest only as
/// released; when someone acts for the subject, `act` (RFC 8693 §4.1: the actor's `sub` only) and
/// the mandate as `authorization_details` (RFC 9396).
pub fn person_claims(released: &Released, rp: &str) -> Map<String, Value> {
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
    } else if let Some(name) = &a.name {
        claims.insert("name".into(), Value::String(name.clone()));
    }
    if let Some(birthdate) = &a.birthdate {
        claims.insert("birthdate".into(), Value::String(birthdate.clone()));
    }
    if let Some(eidas) = &a.eidas {
        let mut put = |name: &str, value: &str| {
            claims.insert(name.into(), Value::String(value.to_owned()));
        };
        put("eidas_person_identifier", eidas.person_identifier.as_str());
        put("eidas_country", &eidas.country);
        if let Some(n) = &eidas.given_name_native {
            put("eidas_given_name_native", n);
        }
        if let Some(n) = &eidas.family_name_native {
            put("eidas_family_name_native", n);
        }
        if let Some(lp) = &eidas.legal_person {
            put("eidas_legal_person_identifier", lp.identifier.as_str());
            put("eidas_legal_name", &lp.name);
        }
    }
    if let Some(actor) = &released.actor {
        // RFC 8693 §4.1: the acting party.
        claims.insert("act".into(), json!({ "sub": actor.subject }));
        claims.insert(
            "authorization_details".into(),
            json!([mandate_details(&actor.mandate, rp)]),
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
        let none = person_claims(&released(Attributes::default()), "rp");
        assert_eq!(none.len(), 1);
        assert_eq!(none["loa"], Loa::Substantial.as_uri());
        let all = person_claims(
            &released(Attributes {
                cpr: Some(Cpr::parse("0101701234").unwrap()),
                given_name: Some("Anna".into()),
                family_name: Some("Jensen".into()),
                birthdate: Some("1970-01-01".into()),
                name: None,
                eidas: None,
            }),
            "rp",
        );
        assert_eq!(all["cpr"], "0101701234");
        assert_eq!(all["name"], "Anna Jensen");
        assert_eq!(all["birthdate"], "1970-01-01");
    }

    #[test]
    fn an_actor_is_named_in_act_and_the_mandate_in_authorization_details() {
        let mut r = released(Attributes::default());
        let mandate = Mandate {
            id: "m1".into(),
            kind: eid_core::MandateKind::BusinessRight,
            principal: Principal::Organisation {
                cvr: "12345678".into(),
                name: "Demo ApS".into(),
            },
            access: eid_core::Access::Act,
            scopes: vec!["area:housing".into()],
            privileges: vec!["urn:dk:example:apply".into()],
            valid_until: None,
        };
        r.actor = Some(Actor {
            subject: "agent".into(),
            audit_id: uuid::Uuid::nil(),
            mandate,
        });
        let claims = person_claims(&r, "rp");
        assert_eq!(claims["act"], json!({ "sub": "agent" }), "RFC 8693 shape");
        let details = &claims["authorization_details"][0];
        assert_eq!(details["type"], MANDATE_DETAILS_TYPE);
        assert_eq!(details["identifier"], "m1");
        assert_eq!(details["mandate_type"], "business_right");
        assert_eq!(details["principal_type"], "organisation");
        assert_eq!(details["organisation"]["cvr"], "12345678");
        assert_eq!(details["locations"], json!(["rp"]));
        assert_eq!(details["actions"], json!(["read", "act"]));
        assert_eq!(details["privileges"], json!(["urn:dk:example:apply"]));
        assert!(details.get("valid_until").is_none());
    }
}
