//! Attribute release: what a relying party receives about a person, per its registration, in no
//! protocol's terms. The OIDC frontend maps a [`Released`] to claims; the SAML frontend will map it
//! to attributes.

use eid_core::{Attribute, Cpr, Identity, Loa, Mandate, Principal, RelyingParty, SubjectType};
use uuid::Uuid;

use super::pairwise::PairwiseKey;
use super::session::SsoSession;

/// The subject identifier of a person key for a relying party.
fn subject(rp: &RelyingParty, person: &eid_core::PersonKey, key: &PairwiseKey) -> String {
    match rp.subject_type {
        SubjectType::Pairwise => key.subject(&rp.sector, &person.pairwise_input()),
        SubjectType::Public => person.pairwise_input(),
    }
}

/// The subject identifier of the session's person for this relying party.
pub fn subject_for(rp: &RelyingParty, session: &SsoSession, key: &PairwiseKey) -> String {
    subject(rp, &session.identity.person, key)
}

/// The person attributes released, each only where the registration allows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// The CPR number.
    pub cpr: Option<Cpr>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Date of birth.
    pub birthdate: Option<String>,
}

/// Who acts, when someone acts on behalf of the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting person's subject identifier at this relying party.
    pub subject: String,
    /// The acting person's audit key.
    pub audit_id: Uuid,
    /// The mandate they act under.
    pub mandate: String,
}

/// What a relying party receives about one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The subject identifier: the person's, or the principal's when someone acts for them.
    pub subject: String,
    /// The audit key of the person who logged in (the subject, or the actor acting for the
    /// subject), named in the release's audit event.
    pub audit_id: Uuid,
    /// The acting person, when it is not the subject.
    pub actor: Option<Actor>,
    /// The achieved level.
    pub level: Loa,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// When the person authenticated (Unix seconds).
    pub auth_time: i64,
    /// The released attributes.
    pub attributes: Attributes,
}

/// What `rp` receives about the login of `identity` at `level` (the session's, or this login's),
/// acting for `mandate`'s principal when one was chosen.
pub fn release(
    rp: &RelyingParty,
    identity: &Identity,
    level: Loa,
    auth_time: i64,
    mandate: Option<&Mandate>,
    key: &PairwiseKey,
) -> Released {
    let own = || Attributes {
        cpr: identity
            .cpr
            .clone()
            .filter(|_| rp.may_receive(Attribute::Cpr)),
        given_name: identity
            .given_name
            .clone()
            .filter(|_| rp.may_receive(Attribute::Name)),
        family_name: identity
            .family_name
            .clone()
            .filter(|_| rp.may_receive(Attribute::Name)),
        birthdate: identity
            .birthdate
            .clone()
            .filter(|_| rp.may_receive(Attribute::Birthdate)),
    };
    let me = subject(rp, &identity.person, key);
    let (subject, attributes, actor) = match mandate.map(|m| (m, &m.principal)) {
        None => (me, own(), None),
        Some((m, principal)) => {
            let actor = Some(Actor {
                subject: me,
                audit_id: identity.audit_id,
                mandate: m.id.clone(),
            });
            match principal {
                // The principal's own data comes from the registry with the delegation issue; the
                // name the mandate carries is released where names may be.
                Principal::Person { person, name, .. } => (
                    subject(rp, person, key),
                    Attributes {
                        given_name: Some(name.clone()).filter(|_| rp.may_receive(Attribute::Name)),
                        ..Attributes::default()
                    },
                    actor,
                ),
                Principal::Organisation { cvr, .. } => {
                    (format!("urn:dk:cvr:{cvr}"), Attributes::default(), actor)
                }
            }
        }
    };
    Released {
        subject,
        audit_id: identity.audit_id,
        actor,
        level,
        amr: identity.amr.clone(),
        auth_time,
        attributes,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_core::RpRegistration;

    fn rp(allowed: &[&str]) -> RelyingParty {
        let doc: RpRegistration = serde_json::from_value(serde_json::json!({
            "client_id": "rp", "client_name": "RP", "token_endpoint_auth_method": "client_secret_basic",
            "sector": "s", "allowed_claims": allowed,
        }))
        .unwrap();
        RelyingParty::try_from(doc).unwrap()
    }

    fn identity() -> Identity {
        let mut i = Identity::for_test("person", Loa::Substantial, 1);
        i.cpr = Some(Cpr::parse("0101701234").unwrap());
        i.given_name = Some("Anna".into());
        i.family_name = Some("Jensen".into());
        i.birthdate = Some("1970-01-01".into());
        i
    }

    fn key() -> PairwiseKey {
        PairwiseKey::new(&[7u8; 32]).unwrap()
    }

    fn released(allowed: &[&str]) -> Released {
        release(&rp(allowed), &identity(), Loa::Substantial, 1, None, &key())
    }

    #[test]
    fn cpr_only_where_allowed() {
        assert_eq!(released(&["name"]).attributes.cpr, None);
        assert_eq!(
            released(&["cpr"])
                .attributes
                .cpr
                .map(String::from)
                .as_deref(),
            Some("0101701234")
        );
    }

    #[test]
    fn names_and_birthdate_only_where_allowed() {
        let none = released(&[]);
        assert_eq!(none.attributes, Attributes::default());
        assert_eq!(none.level, Loa::Substantial);
        let named = released(&["name"]).attributes;
        assert_eq!(
            (named.given_name.as_deref(), named.family_name.as_deref()),
            (Some("Anna"), Some("Jensen"))
        );
        assert_eq!(named.birthdate, None);
        assert_eq!(
            released(&["birthdate"]).attributes.birthdate.as_deref(),
            Some("1970-01-01")
        );
    }

    #[test]
    fn acting_for_someone_releases_the_principal_as_subject_and_names_the_actor() {
        let principal = eid_core::PersonKey {
            upstream: "idp".into(),
            subject: "mother".into(),
        };
        let mandate = Mandate {
            id: "m1".into(),
            kind: eid_core::MandateKind::PowerOfAttorney,
            principal: Principal::Person {
                person: principal.clone(),
                cpr: None,
                name: "Mor".into(),
            },
            access: eid_core::Access::Act,
            scopes: vec!["rp".into()],
            privileges: Vec::new(),
            valid_until: None,
        };
        let rp = rp(&["cpr"]);
        let r = release(&rp, &identity(), Loa::High, 1, Some(&mandate), &key());
        assert_eq!(r.subject, subject(&rp, &principal, &key()));
        assert_eq!(r.attributes.cpr, None, "never the agent's own CPR number");
        let actor = r.actor.unwrap();
        assert_eq!(actor.subject, subject(&rp, &identity().person, &key()));
        assert_eq!(actor.mandate, "m1");
    }
}
