//! Attribute release: what a relying party receives about a person, per its registration, in no
//! protocol's terms. The OIDC frontend maps a [`Released`] to claims; the SAML frontend will map it
//! to attributes.

use eid_core::{Attribute, Cpr, Identity, Loa, Mandate, Principal, RelyingParty, SubjectType};
use serde::{Deserialize, Serialize};
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

/// The subject identifier of an organisation (a principal) for a relying party: pairwise over
/// `cvr:<cvr>` like a person's over their key, so that services cannot link it either.
pub fn organisation_subject(rp: &RelyingParty, cvr: &str, key: &PairwiseKey) -> String {
    let input = format!("cvr:{cvr}");
    match rp.subject_type {
        SubjectType::Pairwise => key.subject(&rp.sector, &input),
        SubjectType::Public => input,
    }
}

/// The subject identifier of a person key for a relying party (a principal's, for instance).
pub fn person_subject(
    rp: &RelyingParty,
    person: &eid_core::PersonKey,
    key: &PairwiseKey,
) -> String {
    subject(rp, person, key)
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
    /// The full name, when only that is known (a principal's name from the mandate registry).
    pub name: Option<String>,
    /// A foreign person's eIDAS identity (identifier, country, legal person; native names only
    /// where names may be released too).
    pub eidas: Option<eid_core::EidasIdentity>,
}

/// The name of a kind of personal data a release carries, as the audit log records it (the
/// `attributes` detail of a release's event: names only, never values). The same for every
/// protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleasedAttribute {
    /// The CPR number.
    Cpr,
    /// A name (given and family names, or the full name).
    Name,
    /// The date of birth.
    Birthdate,
    /// A foreign person's eIDAS PersonIdentifier (which names the issuing country).
    EidasPersonIdentifier,
    /// A foreign person's names in their original script.
    NativeName,
    /// The legal person a foreign person acts for (its identifier and name).
    LegalPerson,
}

impl ReleasedAttribute {
    /// Stable name, as stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleasedAttribute::Cpr => "cpr",
            ReleasedAttribute::Name => "name",
            ReleasedAttribute::Birthdate => "birthdate",
            ReleasedAttribute::EidasPersonIdentifier => "eidas_person_identifier",
            ReleasedAttribute::NativeName => "native_name",
            ReleasedAttribute::LegalPerson => "legal_person",
        }
    }

    /// The stored names of `list`, for an audit event's `attributes` detail.
    pub fn names(list: &[ReleasedAttribute]) -> Vec<&'static str> {
        list.iter().map(|a| a.as_str()).collect()
    }
}

impl Attributes {
    /// Which kinds of personal data these attributes release, each once, in a stable order.
    pub fn released(&self) -> Vec<ReleasedAttribute> {
        let mut out = Vec::new();
        if self.cpr.is_some() {
            out.push(ReleasedAttribute::Cpr);
        }
        if self.given_name.is_some() || self.family_name.is_some() || self.name.is_some() {
            out.push(ReleasedAttribute::Name);
        }
        if self.birthdate.is_some() {
            out.push(ReleasedAttribute::Birthdate);
        }
        if let Some(e) = &self.eidas {
            out.push(ReleasedAttribute::EidasPersonIdentifier);
            if e.given_name_native.is_some() || e.family_name_native.is_some() {
                out.push(ReleasedAttribute::NativeName);
            }
            if e.legal_person.is_some() {
                out.push(ReleasedAttribute::LegalPerson);
            }
        }
        out
    }
}

/// Who acts, when someone acts on behalf of the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting person's subject identifier at this relying party.
    pub subject: String,
    /// The acting person's audit key.
    pub audit_id: Uuid,
    /// The mandate they act under.
    pub mandate: Mandate,
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
        name: None,
        eidas: identity
            .eidas_id
            .clone()
            .filter(|_| rp.may_receive(Attribute::Eidas))
            .map(|mut e| {
                if !rp.may_receive(Attribute::Name) {
                    e.given_name_native = None;
                    e.family_name_native = None;
                }
                e
            }),
    };
    let me = subject(rp, &identity.person, key);
    let (subject, attributes, actor) = match mandate {
        None => (me, own(), None),
        Some(m) => {
            let actor = Some(Actor {
                subject: me,
                audit_id: identity.audit_id,
                mandate: m.clone(),
            });
            // The principal's data only, each where the registration allows it: never the
            // agent's own CPR number or names as the principal's.
            match &m.principal {
                Principal::Person { person, cpr, name } => (
                    subject(rp, person, key),
                    Attributes {
                        cpr: cpr.clone().filter(|_| rp.may_receive(Attribute::Cpr)),
                        name: Some(name.clone()).filter(|_| rp.may_receive(Attribute::Name)),
                        ..Attributes::default()
                    },
                    actor,
                ),
                Principal::Organisation { cvr, .. } => (
                    organisation_subject(rp, cvr, key),
                    Attributes::default(),
                    actor,
                ),
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

    fn eidas(native: bool, legal: bool) -> eid_core::EidasIdentity {
        use eid_core::eidas::{LegalPerson, PersonIdentifier};
        eid_core::EidasIdentity {
            person_identifier: PersonIdentifier::parse("XA/DK/123").unwrap(),
            country: "XA".into(),
            given_name_native: native.then(|| "Ελένη".into()),
            family_name_native: None,
            legal_person: legal.then(|| LegalPerson {
                identifier: PersonIdentifier::parse("XA/DK/L-9").unwrap(),
                name: "Demo SA".into(),
            }),
        }
    }

    #[test]
    fn a_release_is_named_by_the_kinds_of_data_it_carries_never_their_values() {
        use ReleasedAttribute::*;
        assert!(Attributes::default().released().is_empty());
        let all = released(&["cpr", "name", "birthdate"]).attributes;
        assert_eq!(all.released(), vec![Cpr, Name, Birthdate]);
        assert_eq!(
            ReleasedAttribute::names(&all.released()),
            vec!["cpr", "name", "birthdate"]
        );
        // Each kind on its own, so that none is named without being released.
        for (allowed, expected) in [
            ("cpr", vec![Cpr]),
            ("name", vec![Name]),
            ("birthdate", vec![Birthdate]),
        ] {
            assert_eq!(released(&[allowed]).attributes.released(), expected);
        }
        let only_family = Attributes {
            family_name: Some("Jensen".into()),
            ..Attributes::default()
        };
        assert_eq!(only_family.released(), vec![Name]);
        let principal = Attributes {
            name: Some("Karen Hansen".into()),
            ..Attributes::default()
        };
        assert_eq!(principal.released(), vec![Name]);
        let foreign = |native, legal| Attributes {
            eidas: Some(eidas(native, legal)),
            ..Attributes::default()
        };
        assert_eq!(
            foreign(false, false).released(),
            vec![EidasPersonIdentifier]
        );
        assert_eq!(
            foreign(true, true).released(),
            vec![EidasPersonIdentifier, NativeName, LegalPerson]
        );
        let text = serde_json::to_string(&ReleasedAttribute::names(&all.released())).unwrap();
        assert!(
            !text.contains("0101701234") && !text.contains("Anna"),
            "{text}"
        );
        for a in [
            Cpr,
            Name,
            Birthdate,
            EidasPersonIdentifier,
            NativeName,
            LegalPerson,
        ] {
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                a.as_str(),
                "stored as named"
            );
        }
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
        assert_eq!(r.attributes.name, None, "no names to this service");
        let actor = r.actor.unwrap();
        assert_eq!(actor.subject, subject(&rp, &identity().person, &key()));
        assert_eq!(actor.mandate.id, "m1");
    }

    fn power_of_attorney(cpr: Option<&str>) -> Mandate {
        Mandate {
            id: "m1".into(),
            kind: eid_core::MandateKind::PowerOfAttorney,
            principal: Principal::Person {
                person: eid_core::PersonKey {
                    upstream: "idp".into(),
                    subject: "mother".into(),
                },
                cpr: cpr.map(|c| Cpr::parse(c).unwrap()),
                name: "Karen Hansen".into(),
            },
            access: eid_core::Access::Read,
            scopes: vec!["rp".into()],
            privileges: Vec::new(),
            valid_until: None,
        }
    }

    #[test]
    fn the_principals_cpr_number_and_name_go_only_where_allowed_and_never_the_agents() {
        let m = power_of_attorney(Some("0202505678"));
        let allowed = release(
            &rp(&["cpr", "name"]),
            &identity(),
            Loa::High,
            1,
            Some(&m),
            &key(),
        );
        assert_eq!(
            allowed.attributes.cpr.map(String::from).as_deref(),
            Some("0202505678"),
            "the principal's, not the agent's 0101701234"
        );
        assert_eq!(allowed.attributes.name.as_deref(), Some("Karen Hansen"));
        assert_eq!(allowed.attributes.given_name, None, "not the agent's names");
        assert_eq!(allowed.attributes.family_name, None);
        let denied = release(&rp(&["name"]), &identity(), Loa::High, 1, Some(&m), &key());
        assert_eq!(denied.attributes.cpr, None);
    }

    #[test]
    fn an_organisation_principal_has_a_pairwise_subject_of_its_own() {
        let mut m = power_of_attorney(None);
        m.principal = Principal::Organisation {
            cvr: "12345678".into(),
            name: "Demo ApS".into(),
        };
        let rp = rp(&["cpr", "name"]);
        let r = release(&rp, &identity(), Loa::High, 1, Some(&m), &key());
        assert_eq!(r.subject, organisation_subject(&rp, "12345678", &key()));
        assert!(
            !r.subject.contains("12345678"),
            "pairwise, not the CVR number"
        );
        assert_eq!(r.attributes, Attributes::default());
    }
}
