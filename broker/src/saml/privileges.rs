//! What a SAML service learns when the person acts on behalf of someone: an OIO Basic Privilege
//! Profile (BPP 1.2) privilege list, base64 in the `privilegesIntermediate` attribute, with one
//! group scoped to the principal, and for an organisation the professional attributes.
//!
//! The scope of a group for a person is their CPR number only for a service allowed CPR numbers;
//! otherwise the principal's pairwise identifier at this service ([`PAIRWISE_SCOPE`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eid_core::{Access, Attribute, Mandate, Principal, RelyingParty};
use eid_saml::messages::AssertionAttribute;

use crate::core::pairwise::PairwiseKey;
use crate::core::release::{ReleasedAttribute, person_subject};

/// The BPP 1.2 namespace.
pub const BPP_NAMESPACE: &str = "http://digst.dk/oiosaml/basic_privilege_profile";
/// The scope of a group held on behalf of a person, by CPR number (OIO-BPP).
pub const CPR_SCOPE: &str = "urn:dk:gov:saml:cprNumberIdentifier:";
/// The scope of a group held on behalf of an organisation, by CVR number (OIO-BPP).
pub const CVR_SCOPE: &str = "urn:dk:gov:saml:cvrNumberIdentifier:";
/// The scope of a group held on behalf of a person, for a service not allowed CPR numbers: the
/// principal's pairwise identifier at this service (the broker's URN; docs/decisions.md).
pub const PAIRWISE_SCOPE: &str = "urn:eidbroker:saml:pairwiseIdentifier:";
/// The privilege every group carries for a mandate that allows reading only.
pub const READ_PRIVILEGE: &str = "urn:eidbroker:privilege:read";
/// The privilege every group carries for a mandate that allows acting (and reading).
pub const ACT_PRIVILEGE: &str = "urn:eidbroker:privilege:act";
/// The professional attribute of an organisation's CVR number (OIOSAML 3).
pub const PROFESSIONAL_CVR: &str = "https://data.gov.dk/model/core/eid/professional/cvr";
/// The professional attribute of an organisation's name (OIOSAML 3).
pub const PROFESSIONAL_ORG_NAME: &str = "https://data.gov.dk/model/core/eid/professional/orgName";

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The scope of the group of `mandate` at service `sp`.
pub fn scope(mandate: &Mandate, sp: &RelyingParty, key: &PairwiseKey) -> String {
    match &mandate.principal {
        Principal::Person { person, cpr, .. } => match cpr {
            Some(cpr) if sp.may_receive(Attribute::Cpr) => format!("{CPR_SCOPE}{}", cpr.as_str()),
            _ => format!("{PAIRWISE_SCOPE}{}", person_subject(sp, person, key)),
        },
        Principal::Organisation { cvr, .. } => format!("{CVR_SCOPE}{cvr}"),
    }
}

/// Which kinds of a person principal's data the privileges of `mandate` release at service `sp`:
/// their CPR number where the group is scoped by it ([`scope`]); nothing for an organisation (its
/// CVR number and name are no person's data).
pub fn principal_attributes(mandate: &Mandate, sp: &RelyingParty) -> Vec<ReleasedAttribute> {
    match &mandate.principal {
        Principal::Person { cpr: Some(_), .. } if sp.may_receive(Attribute::Cpr) => {
            vec![ReleasedAttribute::Cpr]
        }
        _ => Vec::new(),
    }
}

/// The privileges of the group: what the mandate allows, then its own privileges (each once).
pub fn privileges(mandate: &Mandate) -> Vec<String> {
    let access = match mandate.access {
        Access::Read => READ_PRIVILEGE,
        Access::Act => ACT_PRIVILEGE,
    };
    let mut out = vec![access.to_owned()];
    for p in &mandate.privileges {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// The BPP privilege list XML of `mandate` at service `sp`: one group, scoped to the principal.
pub fn privilege_list(mandate: &Mandate, sp: &RelyingParty, key: &PairwiseKey) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><bpp:PrivilegeList xmlns:bpp=\"{BPP_NAMESPACE}\"><PrivilegeGroup Scope=\"{}\">",
        escape(&scope(mandate, sp, key))
    );
    for p in privileges(mandate) {
        xml.push_str("<Privilege>");
        xml.push_str(&escape(&p));
        xml.push_str("</Privilege>");
    }
    xml.push_str("</PrivilegeGroup></bpp:PrivilegeList>");
    xml
}

/// The attributes a service receives besides the agent's own when they act under `mandate`: the
/// base64 privilege list, and an organisation's CVR number and name.
pub fn attributes(
    mandate: &Mandate,
    sp: &RelyingParty,
    key: &PairwiseKey,
) -> Vec<AssertionAttribute> {
    let one = |name: &str, value: String| AssertionAttribute {
        name: name.to_owned(),
        values: vec![value],
    };
    let mut out = Vec::with_capacity(3);
    if let Principal::Organisation { cvr, name } = &mandate.principal {
        out.push(one(PROFESSIONAL_CVR, cvr.clone()));
        out.push(one(PROFESSIONAL_ORG_NAME, name.clone()));
    }
    out.push(one(
        eid_saml::attributes::PRIVILEGES,
        STANDARD.encode(privilege_list(mandate, sp, key)),
    ));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_core::{Cpr, MandateKind, PersonKey, RpRegistration};
    use eid_saml::xml::{Document, QName};
    use proptest::prelude::*;

    fn sp(allowed: &[&str]) -> RelyingParty {
        let doc: RpRegistration = serde_json::from_value(serde_json::json!({
            "client_id": "sp", "client_name": "SP", "token_endpoint_auth_method": "client_secret_basic",
            "sector": "s", "allowed_claims": allowed, "accepts_representation": true,
        }))
        .unwrap();
        RelyingParty::try_from(doc).unwrap()
    }

    fn key() -> PairwiseKey {
        PairwiseKey::new(&[7u8; 32]).unwrap()
    }

    fn mandate(principal: Principal, privileges: Vec<String>) -> Mandate {
        Mandate {
            id: "m1".into(),
            kind: MandateKind::PowerOfAttorney,
            principal,
            access: Access::Act,
            scopes: vec!["sp".into()],
            privileges,
            valid_until: None,
        }
    }

    fn mother() -> Principal {
        Principal::Person {
            person: PersonKey {
                upstream: "idp".into(),
                subject: "mother".into(),
            },
            cpr: Some(Cpr::parse("0202505678").unwrap()),
            name: "Karen".into(),
        }
    }

    /// The groups of a list: (scope, privileges).
    fn groups(xml: &str) -> Vec<(String, Vec<String>)> {
        let doc = Document::parse(xml).unwrap();
        let root = doc.root();
        assert!(root.is(QName::new(BPP_NAMESPACE, "PrivilegeList")));
        root.children()
            .map(|g| {
                assert_eq!(g.local_name(), "PrivilegeGroup");
                assert_eq!(g.namespace(), None, "BPP groups are unqualified");
                (
                    g.attr("Scope").unwrap().to_owned(),
                    g.children()
                        .filter(|p| p.local_name() == "Privilege")
                        .map(|p| p.text().unwrap().into_owned())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_person_is_scoped_by_cpr_only_for_a_service_allowed_cpr_numbers() {
        let m = mandate(mother(), vec!["urn:dk:x:apply".into()]);
        let allowed = groups(&privilege_list(&m, &sp(&["cpr"]), &key()));
        assert_eq!(
            allowed,
            vec![(
                format!("{CPR_SCOPE}0202505678"),
                vec![ACT_PRIVILEGE.to_owned(), "urn:dk:x:apply".to_owned()]
            )]
        );
        let denied = privilege_list(&m, &sp(&["name"]), &key());
        assert!(!denied.contains("0202505678"), "{denied}");
        let expected = key().subject("s", "idp:mother");
        assert_eq!(groups(&denied)[0].0, format!("{PAIRWISE_SCOPE}{expected}"));
        // The principal's log names the CPR number exactly where the scope carries it.
        assert_eq!(
            principal_attributes(&m, &sp(&["cpr"])),
            vec![ReleasedAttribute::Cpr]
        );
        assert!(principal_attributes(&m, &sp(&["name"])).is_empty());
        let without_cpr = mandate(
            Principal::Person {
                person: PersonKey {
                    upstream: "idp".into(),
                    subject: "mother".into(),
                },
                cpr: None,
                name: "Karen".into(),
            },
            vec![],
        );
        assert!(principal_attributes(&without_cpr, &sp(&["cpr"])).is_empty());
    }

    #[test]
    fn an_organisation_is_scoped_by_cvr_and_named_in_the_professional_attributes() {
        let m = mandate(
            Principal::Organisation {
                cvr: "12345678".into(),
                name: "Demo ApS".into(),
            },
            vec![],
        );
        let attrs = attributes(&m, &sp(&[]), &key());
        let names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                PROFESSIONAL_CVR,
                PROFESSIONAL_ORG_NAME,
                eid_saml::attributes::PRIVILEGES
            ]
        );
        let xml = String::from_utf8(STANDARD.decode(&attrs[2].values[0]).unwrap()).unwrap();
        assert_eq!(groups(&xml)[0].0, format!("{CVR_SCOPE}12345678"));
        assert!(
            principal_attributes(&m, &sp(&["cpr"])).is_empty(),
            "no person's data"
        );
    }

    proptest! {
        /// Whatever the registry's privileges and names hold, the list is well-formed XML that
        /// reads back exactly.
        #[test]
        fn the_privilege_list_reads_back_whatever_it_holds(
            privileges in proptest::collection::vec("[ -~]{1,40}", 0..5),
            name in "\\PC{1,30}",
        ) {
            let m = mandate(
                Principal::Organisation { cvr: "12345678".into(), name },
                privileges.clone(),
            );
            let read = groups(&privilege_list(&m, &sp(&[]), &key()));
            prop_assert_eq!(read.len(), 1);
            let mut expected = vec![ACT_PRIVILEGE.to_owned()];
            for p in privileges {
                if !expected.contains(&p) {
                    expected.push(p);
                }
            }
            prop_assert_eq!(&read[0].1, &expected);
        }
    }
}
