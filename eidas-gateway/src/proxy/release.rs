//! What the proxy service releases about a citizen: the per-country pseudonym, the attributes a
//! connector asked for, and the NameID. Pure functions over the broker's verified identity; no
//! CPR number ever (the broker does not release one to us, and [`release`] never reads it).

use eid_oidc::rp::UpstreamIdentity;
use eid_saml::eidas::{
    Attribute, AttributeValue, DATE_OF_BIRTH, EidasLoa, FAMILY_NAME, GIVEN_NAME, PERSON_IDENTIFIER,
    PersonIdentifier, RequestedAttribute,
};
use ring::hmac;
use serde::{Deserialize, Serialize};

/// `NameIDPolicy@Format` persistent.
pub const NAME_ID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// `NameIDPolicy@Format` transient.
pub const NAME_ID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// The attributes this proxy service can supply: the natural-person minimum data set.
pub const SUPPLIED: [&str; 4] = [
    PERSON_IDENTIFIER.name,
    GIVEN_NAME.name,
    FAMILY_NAME.name,
    DATE_OF_BIRTH.name,
];

/// The longest name or date accepted from the broker.
const MAX_VALUE_CHARS: usize = 256;

/// The pseudonym of a person towards one country: lowercase hex of HMAC-SHA256(secret,
/// `"<country>:" + broker sub`), 64 characters. Stable per person and country, different per
/// country, and neither the CPR number nor the broker's `sub`.
pub fn pseudonym(secret: &[u8; 32], country: &str, broker_sub: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, format!("{country}:{broker_sub}").as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What was released about a person, kept between the broker's callback and the consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// The PersonIdentifier `DK/<country>/<pseudonym>`.
    pub person_identifier: String,
    /// The NameID and its format.
    pub name_id: String,
    /// The NameID format URI.
    pub name_id_format: String,
    /// The achieved level.
    pub loa: EidasLoa,
    /// When the person authenticated (Unix seconds).
    pub auth_time: i64,
    /// The requested attributes with their values, in request order.
    pub attributes: Vec<Attribute>,
}

/// Why nothing can be released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// A required attribute has no value (the broker released none, or an unusable one), or is
    /// one this proxy service never supplies (a legal person's, say).
    #[error("required attribute unavailable")]
    RequiredUnavailable,
    /// The identifier could not be formed (a country code outside the pattern).
    #[error("the person identifier cannot be formed")]
    Identifier,
}

/// A value from the broker, if it is fit to send: not empty, bounded, no control characters.
fn usable(value: Option<&str>) -> Option<String> {
    let v = value?.trim();
    (!v.is_empty() && v.chars().count() <= MAX_VALUE_CHARS && !v.chars().any(char::is_control))
        .then(|| v.to_owned())
}

/// A date of birth as `YYYY-MM-DD` (the only form eIDAS carries).
fn usable_date(value: Option<&str>) -> Option<String> {
    let v = value?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(v, &format).ok().map(|_| v.to_owned())
}

/// Who the identifier is made for: our country, the connector's, and the key of the pseudonyms.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// Our country (`DK`): the issuing `XX`.
    pub our_country: &'a str,
    /// The connector's country: the `YY`, and what the pseudonym is keyed on.
    pub connector_country: &'a str,
    /// The pseudonym key.
    pub secret: &'a [u8; 32],
}

/// The attributes, NameID and level to send to the connector of `to` for `requested`.
/// Only requested attributes are released; an optional one without a value is left out; a
/// required one without a value fails the whole release ([`ReleaseError::RequiredUnavailable`],
/// answered `InvalidAttrNameOrValue`). `transient_id` is the NameID used when the request asks for
/// the transient format (a fresh random value).
pub fn release(
    identity: &UpstreamIdentity,
    loa: EidasLoa,
    to: &Destination<'_>,
    requested: &[RequestedAttribute],
    name_id_format: Option<&str>,
    transient_id: String,
) -> Result<Released, ReleaseError> {
    let id = PersonIdentifier::new(
        to.our_country,
        to.connector_country,
        &pseudonym(to.secret, to.connector_country, &identity.subject),
    )
    .ok_or(ReleaseError::Identifier)?;
    let mut attributes = Vec::new();
    for wanted in requested {
        let value = match wanted.name.as_str() {
            n if n == PERSON_IDENTIFIER.name => Some(id.as_str().to_owned()),
            n if n == GIVEN_NAME.name => usable(identity.given_name.as_deref()),
            n if n == FAMILY_NAME.name => usable(identity.family_name.as_deref()),
            n if n == DATE_OF_BIRTH.name => usable_date(identity.birthdate.as_deref()),
            _ => None,
        };
        match value {
            Some(value) => attributes.push(Attribute {
                name: wanted.name.clone(),
                values: vec![AttributeValue {
                    value,
                    latin_script: true,
                }],
            }),
            None if wanted.required => return Err(ReleaseError::RequiredUnavailable),
            None => {}
        }
    }
    let (name_id, name_id_format) = if name_id_format == Some(NAME_ID_TRANSIENT) {
        (transient_id, NAME_ID_TRANSIENT.to_owned())
    } else {
        (id.as_str().to_owned(), NAME_ID_PERSISTENT.to_owned())
    };
    Ok(Released {
        person_identifier: id.as_str().to_owned(),
        name_id,
        name_id_format,
        loa,
        auth_time: identity.auth_time,
        attributes,
    })
}

/// Whether every required attribute of a request is one this proxy service can supply at all
/// (checked before the citizen is sent to log in).
pub fn can_supply(requested: &[RequestedAttribute]) -> bool {
    requested
        .iter()
        .all(|a| !a.required || SUPPLIED.contains(&a.name.as_str()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_core::Loa;
    use proptest::prelude::*;

    const SECRET: [u8; 32] = [7; 32];
    const TO_XA: Destination<'static> = Destination {
        our_country: "DK",
        connector_country: "XA",
        secret: &SECRET,
    };

    fn identity() -> UpstreamIdentity {
        UpstreamIdentity {
            upstream: "broker".into(),
            subject: "pairwise-sub-1".into(),
            loa: Loa::Substantial,
            amr: vec![],
            auth_time: 1_700_000_000,
            cpr: Some("0101701234".into()),
            eidas: None,
            given_name: Some("Karen".into()),
            family_name: Some("Jensen".into()),
            birthdate: Some("1970-01-01".into()),
            id_token: "x.y.z".into(),
            sid: None,
        }
    }

    fn req(name: &str, required: bool) -> RequestedAttribute {
        RequestedAttribute {
            name: name.into(),
            required,
        }
    }

    #[test]
    fn the_pseudonym_is_a_keyed_hash_per_country() {
        let a = pseudonym(&SECRET, "XA", "sub");
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(a, pseudonym(&SECRET, "XA", "sub"));
        assert_ne!(a, pseudonym(&SECRET, "XB", "sub"));
        assert_ne!(a, pseudonym(&[8; 32], "XA", "sub"));
        assert_ne!(a, pseudonym(&SECRET, "XA", "sub2"));
    }

    #[test]
    fn only_requested_attributes_are_released_and_never_the_cpr_number() {
        let r = release(
            &identity(),
            EidasLoa::Substantial,
            &TO_XA,
            &[
                req(PERSON_IDENTIFIER.name, true),
                req(GIVEN_NAME.name, false),
            ],
            None,
            "t".into(),
        )
        .unwrap();
        assert_eq!(r.attributes.len(), 2);
        assert!(r.person_identifier.starts_with("DK/XA/"));
        assert_eq!(r.name_id, r.person_identifier);
        assert_eq!(r.name_id_format, NAME_ID_PERSISTENT);
        let all = format!("{r:?}");
        assert!(!all.contains("0101701234"));
        assert!(!all.contains("pairwise-sub-1"));
    }

    #[test]
    fn a_missing_required_value_fails_and_a_missing_optional_one_is_left_out() {
        let mut id = identity();
        id.birthdate = Some("01-01-1970".into());
        let optional = release(
            &id,
            EidasLoa::Low,
            &TO_XA,
            &[req(DATE_OF_BIRTH.name, false)],
            None,
            "t".into(),
        )
        .unwrap();
        assert!(optional.attributes.is_empty());
        let required = release(
            &id,
            EidasLoa::Low,
            &TO_XA,
            &[req(DATE_OF_BIRTH.name, true)],
            None,
            "t".into(),
        );
        assert_eq!(required, Err(ReleaseError::RequiredUnavailable));
    }

    #[test]
    fn transient_is_used_when_asked() {
        let r = release(
            &identity(),
            EidasLoa::High,
            &TO_XA,
            &[],
            Some(NAME_ID_TRANSIENT),
            "_once".into(),
        )
        .unwrap();
        assert_eq!(r.name_id, "_once");
        assert_eq!(r.name_id_format, NAME_ID_TRANSIENT);
    }

    #[test]
    fn required_legal_person_attributes_cannot_be_supplied() {
        let legal = "http://eidas.europa.eu/attributes/legalperson/LegalName";
        assert!(!can_supply(&[req(legal, true)]));
        assert!(can_supply(&[req(legal, false), req(GIVEN_NAME.name, true)]));
    }

    proptest! {
        /// Whatever the broker sends as names, a released value is bounded and has no control
        /// characters; whatever the sub, the pseudonym is 64 lowercase hex digits.
        #[test]
        fn released_values_are_bounded_and_clean(given in "\\PC{0,300}", sub in ".{0,80}") {
            let mut id = identity();
            id.given_name = Some(given);
            id.subject = sub;
            let r = release(&id, EidasLoa::Low, &TO_XA,
                &[req(GIVEN_NAME.name, false)], None, "t".into()).unwrap();
            for a in &r.attributes {
                for v in &a.values {
                    prop_assert!(!v.value.is_empty() && v.value.chars().count() <= MAX_VALUE_CHARS);
                    prop_assert!(!v.value.chars().any(char::is_control));
                }
            }
            prop_assert_eq!(r.person_identifier.len(), 6 + 64);
        }
    }
}
