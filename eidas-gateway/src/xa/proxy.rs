//! XA's proxy service: a citizen of XA logs in to a Danish service. The Danish connector posts a
//! signed AuthnRequest; XA verifies it against the connector's metadata, keeps it as a pending
//! login under a random handle bound to the browser, lets the person log in from the register
//! and decide whether to send their details, and answers with a signed Response whose assertion
//! is encrypted to the connector.
//!
//! Once a request is verified every ending is a Response to the connector: success, or
//! `RequestDenied` (declined or cancelled), `NoAuthnContext` (the person's level is below the
//! requested one), `AuthnFailed` (too many wrong passwords), `InvalidAttrNameOrValue` (a required
//! attribute XA does not have). Before that, failures are error pages.

use std::time::Duration;

use eid_core::AuditOutcome;
use eid_saml::binding::{MessageKind, PostForm, RelayState, decode_post};
use eid_saml::eidas::{
    AssertionOut, Attribute, AttributeValue, AuthnRequest, Comparison, DATE_OF_BIRTH, EidasError,
    EidasLoa, FAMILY_NAME, GIVEN_NAME, NATURAL_MINIMUM, NodeRole, PERSON_IDENTIFIER,
    PersonIdentifier, RequestExpectations, ResponseKeys, ResponseOut, ResponseOutcome, Status,
    SubStatus, TopStatus, read_authn_request, request_issuer,
};
use eid_saml::enc::RecipientKey;
use eid_saml::messages::{NAMEID_TRANSIENT, new_message_id};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::register::{MAX_FIELD_CHARS, Name, XaPerson};
use super::{DemoCountry, PROXY_METADATA_PATH, PROXY_SSO_PATH, XaError};
use crate::peers::Verified;

/// How long a pending login lives.
pub const LOGIN_TTL: Duration = Duration::from_secs(15 * 60);
/// Wrong passwords allowed in one login; the last one ends it with `AuthnFailed`.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long a request ID is remembered (longer than any `IssueInstant` window).
const REQUEST_ID_MEMORY: Duration = Duration::from_secs(60 * 60);
/// How long an assertion of ours is valid for the connector.
const ASSERTION_VALIDITY: time::Duration = time::Duration::minutes(5);

/// A login between the connector's request and XA's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The verified request.
    pub request: AuthnRequest,
    /// The `RelayState` to echo.
    pub relay_state: Option<String>,
    /// The browser-binding cookie it belongs to.
    browser: String,
    /// The username, once the person has logged in.
    person: Option<String>,
    /// When they logged in (Unix seconds).
    authn_instant: Option<i64>,
}

/// A posted `SAMLRequest` (and `RelayState`), as the form gave them.
#[derive(Debug, Clone)]
pub struct PostedRequest {
    /// The base64 `SAMLRequest`.
    pub saml_request: String,
    /// The `RelayState`, if any.
    pub relay_state: Option<String>,
}

/// What a verified request leads to.
#[derive(Debug)]
pub enum Received {
    /// Show the login page of the pending login with this handle.
    Login(String),
    /// Answer the connector at once (a request XA cannot serve).
    Answer(PostForm),
}

/// What a login attempt leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Logged in: show the consent page.
    Consent,
    /// Wrong username or password; this many attempts are left.
    Retry(u32),
    /// The login ended (level too low, too many attempts): post this to the connector.
    Answer(PostForm),
}

/// What the consent page shows.
#[derive(Debug, Clone)]
pub struct ConsentView {
    /// The person.
    pub person: XaPerson,
    /// The PersonIdentifier that would be sent.
    pub identifier: String,
    /// The level that would be asserted.
    pub loa: EidasLoa,
    /// The names of the attributes that would be sent (requested ones XA has).
    pub attributes: Vec<&'static str>,
    /// The Danish service's name, as its request gave it.
    pub service: Option<String>,
}

fn login_key(handle: &str) -> String {
    format!("xa:proxy:login:{handle}")
}

fn attempts_key(handle: &str) -> String {
    format!("xa:proxy:attempts:{handle}")
}

/// The attributes XA can release.
const RELEASABLE: [&str; 4] = [
    PERSON_IDENTIFIER.name,
    GIVEN_NAME.name,
    FAMILY_NAME.name,
    DATE_OF_BIRTH.name,
];

/// The connector's ACS and encryption key, from its verified metadata.
fn connector_endpoints(verified: &Verified) -> Result<(String, RecipientKey), XaError> {
    let NodeRole::Connector { acs_url, .. } = &verified.metadata.role else {
        return Err(XaError::PeerMetadata("not a connector"));
    };
    if verified.metadata.node_country != verified.peer.country {
        return Err(XaError::PeerMetadata(
            "NodeCountry is not the configured country",
        ));
    }
    let certificate = verified
        .metadata
        .encryption_certificate
        .as_deref()
        .ok_or(XaError::PeerMetadata("no encryption certificate"))?;
    let recipient = RecipientKey::from_certificate(certificate)
        .map_err(|_| XaError::PeerMetadata("unusable encryption certificate"))?;
    Ok((acs_url.clone(), recipient))
}

/// `POST /xa/proxy/sso`: verifies the connector's request and starts a pending login bound to
/// `browser`. The request ID is used once.
pub async fn receive(
    xa: &DemoCountry,
    posted: &PostedRequest,
    browser: &str,
    ip: Option<&str>,
) -> Result<Received, XaError> {
    let message = decode_post(
        MessageKind::Request,
        &posted.saml_request,
        posted.relay_state.as_deref(),
    )?;
    let issuer = request_issuer(&message.xml)?;
    let mut verified = xa.dk_connector.by_entity_id(&issuer).await?;
    let read = |verified: &Verified| {
        read_authn_request(
            &message.xml,
            &RequestExpectations {
                destination: &xa.url(PROXY_SSO_PATH),
                peer: &verified.metadata,
                policy: &verified.peer.algorithms.accept,
                now: xa.now(),
            },
        )
    };
    let request = match read(&verified) {
        // Signed by a key we do not know yet: the connector may have rolled its key over.
        Err(EidasError::Signature(_)) => {
            verified = xa.dk_connector.refetch(&verified.peer.country).await?;
            read(&verified)?
        }
        other => other?,
    };
    connector_endpoints(&verified)?;
    let seen = format!("xa:proxy:request:{}:{}", verified.peer.country, request.id);
    if !xa
        .common
        .ephemeral
        .put_if_absent(&seen, b"1", REQUEST_ID_MEMORY)
        .await?
    {
        return Err(XaError::Replayed);
    }
    let pending = PendingLogin {
        request,
        relay_state: message.relay_state.map(|r| r.as_str().to_owned()),
        browser: browser.to_owned(),
        person: None,
        authn_instant: None,
    };
    let unserved = pending
        .request
        .requested
        .iter()
        .any(|a| a.required && !RELEASABLE.contains(&a.name.as_str()));
    if !pending.request.asks_natural_person() || unserved {
        xa.audit_detached(xa.event(
            "xa.proxy.request",
            AuditOutcome::Failure,
            ip,
            json!({ "connector": verified.peer.country, "reason": "attributes XA does not have" }),
        ));
        let status = failure(
            TopStatus::Requester,
            SubStatus::InvalidAttrNameOrValue,
            "XA has the natural-person minimum data set only",
        );
        return Ok(Received::Answer(answer(xa, &pending, status).await?));
    }
    let handle = eid_oidc::random::token256();
    store(xa, &handle, &pending).await?;
    xa.audit_detached(xa.event(
        "xa.proxy.request",
        AuditOutcome::Success,
        ip,
        json!({ "connector": verified.peer.country, "loa": pending.request.loa }),
    ));
    Ok(Received::Login(handle))
}

impl PendingLogin {
    /// Whether the person has logged in (the consent page is next).
    pub fn logged_in(&self) -> bool {
        self.person.is_some()
    }
}

async fn store(xa: &DemoCountry, handle: &str, pending: &PendingLogin) -> Result<(), XaError> {
    let bytes = serde_json::to_vec(pending).map_err(|e| XaError::Write(e.to_string()))?;
    xa.common
        .ephemeral
        .put(&login_key(handle), &bytes, LOGIN_TTL)
        .await?;
    Ok(())
}

/// The pending login `handle` of `browser` (a handle is 43 base64url characters).
pub async fn pending(
    xa: &DemoCountry,
    handle: &str,
    browser: Option<&str>,
) -> Result<PendingLogin, XaError> {
    let well_formed = handle.len() == 43
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let browser = browser.ok_or(XaError::NoPending)?;
    if !well_formed {
        return Err(XaError::NoPending);
    }
    let bytes = xa
        .common
        .ephemeral
        .get(&login_key(handle))
        .await?
        .ok_or(XaError::NoPending)?;
    let pending: PendingLogin = serde_json::from_slice(&bytes).map_err(|_| XaError::NoPending)?;
    if pending.browser != browser {
        return Err(XaError::NoPending);
    }
    Ok(pending)
}

/// Ends the pending login `handle` (taken once: of two concurrent endings one wins).
async fn finish(xa: &DemoCountry, handle: &str) -> Result<(), XaError> {
    match xa.common.ephemeral.take(&login_key(handle)).await? {
        Some(_) => Ok(()),
        None => Err(XaError::NoPending),
    }
}

/// The level to assert for `person`, if they reach the requested one.
pub fn asserted_loa(request: &AuthnRequest, person: &XaPerson) -> Option<EidasLoa> {
    (person.level >= request.loa).then_some(match request.comparison {
        Comparison::Minimum => person.level,
        Comparison::Exact => request.loa,
    })
}

fn failure(top: TopStatus, sub: SubStatus, message: &str) -> ResponseOutcome {
    ResponseOutcome::Failure(Status {
        top,
        sub: Some(sub),
        message: Some(message.to_owned()),
    })
}

/// `POST /xa/proxy/login`: checks the password of `username`. Input longer than the register
/// holds counts as a wrong password.
pub async fn login(
    xa: &DemoCountry,
    handle: &str,
    browser: Option<&str>,
    username: &str,
    password: &str,
    ip: Option<&str>,
) -> Result<LoginOutcome, XaError> {
    let mut pending = pending(xa, handle, browser).await?;
    if pending.person.is_some() {
        return Ok(LoginOutcome::Consent);
    }
    let fits =
        username.chars().count() <= MAX_FIELD_CHARS && password.chars().count() <= MAX_FIELD_CHARS;
    let person = fits
        .then(|| xa.register.authenticate(username, password))
        .flatten();
    let Some(person) = person else {
        let used = xa
            .common
            .ephemeral
            .incr(&attempts_key(handle), LOGIN_TTL)
            .await?;
        let left = u32::try_from(used).map_or(0, |used| MAX_ATTEMPTS.saturating_sub(used));
        xa.audit_detached(xa.event(
            "xa.proxy.login",
            AuditOutcome::Failure,
            ip,
            json!({ "reason": "wrong username or password", "attempts_left": left }),
        ));
        if left > 0 {
            return Ok(LoginOutcome::Retry(left));
        }
        finish(xa, handle).await?;
        let status = failure(
            TopStatus::Responder,
            SubStatus::AuthnFailed,
            "too many attempts",
        );
        return Ok(LoginOutcome::Answer(answer(xa, &pending, status).await?));
    };
    if asserted_loa(&pending.request, person).is_none() {
        finish(xa, handle).await?;
        xa.audit_detached(xa.event(
            "xa.proxy.login",
            AuditOutcome::Failure,
            ip,
            json!({ "reason": "level too low", "requested": pending.request.loa, "level": person.level }),
        ));
        let status = failure(
            TopStatus::Responder,
            SubStatus::NoAuthnContext,
            "the person's eID is below the requested level",
        );
        return Ok(LoginOutcome::Answer(answer(xa, &pending, status).await?));
    }
    pending.person = Some(person.username.clone());
    pending.authn_instant = Some(xa.now().unix_timestamp());
    store(xa, handle, &pending).await?;
    xa.audit_detached(xa.event(
        "xa.proxy.login",
        AuditOutcome::Success,
        ip,
        json!({ "level": person.level }),
    ));
    Ok(LoginOutcome::Consent)
}

/// What the consent page of `handle` shows (the person must have logged in).
pub async fn consent_view(
    xa: &DemoCountry,
    handle: &str,
    browser: Option<&str>,
) -> Result<ConsentView, XaError> {
    let pending = pending(xa, handle, browser).await?;
    let (person, loa) = logged_in(xa, &pending)?;
    let verified = xa
        .dk_connector
        .by_entity_id(&pending.request.issuer)
        .await?;
    let identifier = identifier(xa, &verified, person)?;
    Ok(ConsentView {
        person: person.clone(),
        identifier: identifier.to_string(),
        loa,
        attributes: released(&pending.request),
        service: pending.request.provider_name.clone(),
    })
}

fn logged_in<'a>(
    xa: &'a DemoCountry,
    pending: &PendingLogin,
) -> Result<(&'a XaPerson, EidasLoa), XaError> {
    let person = pending
        .person
        .as_deref()
        .and_then(|u| xa.register.person(u))
        .ok_or(XaError::NoPending)?;
    let loa = asserted_loa(&pending.request, person).ok_or(XaError::NoPending)?;
    Ok((person, loa))
}

/// The requested attributes XA releases, in the profile's order.
fn released(request: &AuthnRequest) -> Vec<&'static str> {
    NATURAL_MINIMUM
        .iter()
        .map(|d| d.name)
        .filter(|name| request.requested.iter().any(|a| a.name == *name))
        .collect()
}

fn identifier(
    xa: &DemoCountry,
    verified: &Verified,
    person: &XaPerson,
) -> Result<PersonIdentifier, XaError> {
    PersonIdentifier::new(&xa.code, &verified.metadata.node_country, &person.id).ok_or(
        XaError::Write("the person's identifier is not well-formed".into()),
    )
}

/// `POST /xa/proxy/consent` or the login page's cancel: ends the login with the person's
/// details (`send`) or with `RequestDenied`.
pub async fn decide(
    xa: &DemoCountry,
    handle: &str,
    browser: Option<&str>,
    send: bool,
    ip: Option<&str>,
) -> Result<PostForm, XaError> {
    let pending = pending(xa, handle, browser).await?;
    if !send {
        finish(xa, handle).await?;
        xa.audit_detached(xa.event(
            "xa.proxy.response",
            AuditOutcome::Failure,
            ip,
            json!({ "reason": "declined" }),
        ));
        let status = failure(
            TopStatus::Requester,
            SubStatus::RequestDenied,
            "the citizen declined",
        );
        return answer(xa, &pending, status).await;
    }
    let (person, loa) = logged_in(xa, &pending)?;
    finish(xa, handle).await?;
    let verified = xa
        .dk_connector
        .by_entity_id(&pending.request.issuer)
        .await?;
    let identifier = identifier(xa, &verified, person)?;
    let now = xa.now();
    let attributes = released(&pending.request)
        .into_iter()
        .map(|name| Attribute {
            name: name.to_owned(),
            values: values(name, person, &identifier),
        })
        .collect();
    let (name_id, name_id_format) = match pending.request.name_id_format.as_deref() {
        Some(NAMEID_TRANSIENT) => (new_message_id(), NAMEID_TRANSIENT),
        _ => (identifier.to_string(), eid_saml::NAMEID_PERSISTENT),
    };
    let (acs_url, _) = connector_endpoints(&verified)?;
    let authn_instant = pending
        .authn_instant
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or(now);
    let outcome = ResponseOutcome::Success(AssertionOut {
        id: new_message_id(),
        name_id,
        name_id_format: name_id_format.to_owned(),
        audience: pending.request.issuer.clone(),
        recipient: acs_url,
        not_on_or_after: now + ASSERTION_VALIDITY,
        authn_instant,
        loa,
        attributes,
    });
    let form = answer(xa, &pending, outcome).await?;
    // The release is audited before the form leaves.
    xa.common
        .audit
        .record(xa.event(
            "xa.proxy.response",
            AuditOutcome::Success,
            ip,
            json!({ "connector": verified.peer.country, "loa": loa }),
        ))
        .await?;
    Ok(form)
}

fn name_values(name: &Name) -> Vec<AttributeValue> {
    let mut values = Vec::new();
    if let Some(native) = &name.native {
        values.push(AttributeValue {
            value: native.clone(),
            latin_script: false,
        });
    }
    values.push(AttributeValue {
        value: name.latin.clone(),
        latin_script: true,
    });
    values
}

fn values(name: &str, person: &XaPerson, identifier: &PersonIdentifier) -> Vec<AttributeValue> {
    let latin = |value: String| {
        vec![AttributeValue {
            value,
            latin_script: true,
        }]
    };
    match name {
        n if n == GIVEN_NAME.name => name_values(&person.given_name),
        n if n == FAMILY_NAME.name => name_values(&person.family_name),
        n if n == DATE_OF_BIRTH.name => latin(person.birthdate.to_string()),
        _ => latin(identifier.to_string()),
    }
}

/// The signed Response to the pending login's connector, as an auto-posting form to its ACS.
async fn answer(
    xa: &DemoCountry,
    pending: &PendingLogin,
    outcome: ResponseOutcome,
) -> Result<PostForm, XaError> {
    let verified = xa
        .dk_connector
        .by_entity_id(&pending.request.issuer)
        .await?;
    let (acs_url, recipient) = connector_endpoints(&verified)?;
    let response = ResponseOut {
        id: new_message_id(),
        in_response_to: pending.request.id.clone(),
        issue_instant: xa.now(),
        destination: acs_url.clone(),
        issuer: xa.url(PROXY_METADATA_PATH),
        outcome,
    };
    let algorithms = &verified.peer.algorithms;
    let xml = response
        .to_signed_xml(&ResponseKeys {
            signing: &xa.keys.key,
            alg: algorithms.sign,
            certificate_der: &xa.keys.certificate,
            sign_assertion: algorithms.sign_assertion,
            recipient: &recipient,
            encryption: algorithms.encrypt,
        })
        .map_err(|e| XaError::Write(e.to_string()))?;
    let relay = pending
        .relay_state
        .as_deref()
        .map(RelayState::new)
        .transpose()?;
    Ok(PostForm::new(
        &acs_url,
        MessageKind::Response,
        &xml,
        relay.as_ref(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_saml::eidas::SpType;

    fn request(loa: EidasLoa, comparison: Comparison) -> AuthnRequest {
        AuthnRequest {
            id: "_r".into(),
            issuer: "https://dk.example/md".into(),
            provider_name: None,
            sp_type: SpType::Public,
            requester_id: None,
            requested: Vec::new(),
            loa,
            comparison,
            name_id_format: None,
            acs_url: None,
        }
    }

    fn person(level: EidasLoa) -> XaPerson {
        let register = super::super::register::Register::parse(&format!(
            r#"[[persons]]
            username = "p"
            password = "pw"
            id = "XA-1"
            given_name = "P"
            family_name = "Q"
            birthdate = "2000-01-01"
            level = "{}""#,
            match level {
                EidasLoa::Low => "low",
                EidasLoa::Substantial => "substantial",
                EidasLoa::High => "high",
            }
        ))
        .unwrap();
        register.persons()[0].clone()
    }

    #[test]
    fn a_person_below_the_requested_level_gets_no_level() {
        let r = request(EidasLoa::High, Comparison::Minimum);
        assert_eq!(asserted_loa(&r, &person(EidasLoa::Substantial)), None);
        assert_eq!(
            asserted_loa(&r, &person(EidasLoa::High)),
            Some(EidasLoa::High)
        );
    }

    #[test]
    fn minimum_asserts_the_persons_level_and_exact_the_requested_one() {
        let min = request(EidasLoa::Low, Comparison::Minimum);
        assert_eq!(
            asserted_loa(&min, &person(EidasLoa::High)),
            Some(EidasLoa::High)
        );
        let exact = request(EidasLoa::Substantial, Comparison::Exact);
        assert_eq!(
            asserted_loa(&exact, &person(EidasLoa::High)),
            Some(EidasLoa::Substantial)
        );
    }

    #[test]
    fn a_non_latin_name_goes_native_first_then_latin() {
        let name = Name {
            latin: "Eleni".into(),
            native: Some("Ελένη".into()),
        };
        let v = name_values(&name);
        assert_eq!(v.len(), 2);
        assert!(!v[0].latin_script && v[0].value == "Ελένη");
        assert!(v[1].latin_script && v[1].value == "Eleni");
        let latin_only = name_values(&Name {
            latin: "Jonas".into(),
            native: None,
        });
        assert_eq!(latin_only.len(), 1);
        assert!(latin_only[0].latin_script);
    }
}
