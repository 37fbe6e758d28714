//! XA's connector and demo service: a Danish citizen logs in to a service in XA. The service's
//! button sends a signed AuthnRequest (natural-person minimum data set, the chosen level with
//! `minimum`, no SPType: XA's metadata has it) to the Danish proxy service; the request is
//! remembered for the browser that started it, and the Response is accepted once, for that
//! browser and that request only.

use std::time::Duration;

use eid_core::AuditOutcome;
use eid_saml::binding::{MessageKind, PostForm, decode_post};
use eid_saml::eidas::{
    AuthnRequestOut, DATE_OF_BIRTH, EidasAssertion, EidasError, EidasLoa, FAMILY_NAME, GIVEN_NAME,
    NATURAL_MINIMUM, NodeRole, ReadResponse, RequestedAttribute, ResponseExpectations, SubStatus,
    read_response,
};
use eid_saml::messages::new_message_id;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::peers::Verified;

use super::{CONNECTOR_ACS_PATH, CONNECTOR_METADATA_PATH, DemoCountry, SERVICE_PATH, XaError};

/// How long a request waits for its Response.
pub const REQUEST_TTL: Duration = Duration::from_secs(15 * 60);
/// The service name sent as `ProviderName`.
pub const PROVIDER_NAME: &str = "XA demo service";

/// The request a browser is waiting on.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingRequest {
    /// Its ID (the Response's `InResponseTo`).
    id: String,
    /// The level asked for.
    loa: EidasLoa,
    /// The proxy service asked (its entity ID).
    proxy: String,
    /// Attributes asked for with `isRequired`.
    required: Vec<String>,
}

fn pending_key(browser: &str) -> String {
    format!("xa:connector:pending:{browser}")
}

/// What the service received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A Danish identity.
    Identity(Identity),
    /// Nothing: the person declined (`RequestDenied`), or the login failed.
    Nothing {
        /// Whether the person chose not to send their details.
        declined: bool,
    },
}

/// The identity in a Response, as the service shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `DK/XA/…`.
    pub identifier: String,
    /// Given name (Latin script), with the original when it differs.
    pub given_name: Option<(String, Option<String>)>,
    /// Family name, likewise.
    pub family_name: Option<(String, Option<String>)>,
    /// `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    /// The level achieved.
    pub loa: EidasLoa,
}

/// `POST /xa/service/login`: the AuthnRequest for `loa` to the Danish proxy service, as an
/// auto-posting form; the request is remembered for `browser` (a newer one replaces it).
pub async fn start(
    xa: &DemoCountry,
    browser: &str,
    loa: EidasLoa,
    ip: Option<&str>,
) -> Result<PostForm, XaError> {
    let peer = xa
        .dk_proxy
        .configured()
        .first()
        .ok_or(XaError::UnknownPeer)?;
    let verified = xa.dk_proxy.by_country(&peer.country).await?;
    let NodeRole::ProxyService {
        sso_url,
        loas,
        wants_requester_id,
    } = &verified.metadata.role
    else {
        return Err(XaError::PeerMetadata("not a proxy service"));
    };
    if !loas.is_empty() && !loas.contains(&loa) {
        return Err(XaError::PeerMetadata("the level is not offered"));
    }
    let requested: Vec<RequestedAttribute> = NATURAL_MINIMUM
        .iter()
        .map(|d| RequestedAttribute {
            name: d.name.to_owned(),
            required: true,
        })
        .collect();
    let request = AuthnRequestOut {
        id: new_message_id(),
        issue_instant: xa.now(),
        issuer: xa.url(CONNECTOR_METADATA_PATH),
        destination: sso_url.clone(),
        provider_name: Some(PROVIDER_NAME.to_owned()),
        sp_type: None,
        requester_id: wants_requester_id.then(|| xa.url(SERVICE_PATH)),
        requested: requested.clone(),
        loa,
        name_id_format: Some(eid_saml::NAMEID_PERSISTENT.to_owned()),
    };
    let xml = request
        .to_signed_xml(
            &xa.keys.key,
            verified.peer.algorithms.sign,
            &xa.keys.certificate,
        )
        .map_err(|e| XaError::Write(e.to_string()))?;
    let pending = PendingRequest {
        id: request.id.clone(),
        loa,
        proxy: verified.metadata.entity_id.clone(),
        required: requested.into_iter().map(|a| a.name).collect(),
    };
    let bytes = serde_json::to_vec(&pending).map_err(|e| XaError::Write(e.to_string()))?;
    xa.common
        .ephemeral
        .put(&pending_key(browser), &bytes, REQUEST_TTL)
        .await?;
    xa.audit_detached(xa.event(
        "xa.connector.request",
        AuditOutcome::Success,
        ip,
        json!({ "proxy": verified.peer.country, "loa": loa }),
    ));
    Ok(PostForm::new(sso_url, MessageKind::Request, &xml, None))
}

/// `POST /xa/connector/acs`: reads the Response to the request `browser` is waiting on (signed
/// by the Danish proxy service, answering that request, its assertion decrypted and checked),
/// then uses the request and the assertion ID once.
pub async fn acs(
    xa: &DemoCountry,
    browser: Option<&str>,
    saml_response: &str,
    relay_state: Option<&str>,
    ip: Option<&str>,
) -> Result<Received, XaError> {
    let message = decode_post(MessageKind::Response, saml_response, relay_state)?;
    let browser = browser.ok_or(XaError::NoPending)?;
    let key = pending_key(browser);
    let bytes = xa
        .common
        .ephemeral
        .get(&key)
        .await?
        .ok_or(XaError::NoPending)?;
    let pending: PendingRequest = serde_json::from_slice(&bytes).map_err(|_| XaError::NoPending)?;
    let mut verified = xa.dk_proxy.by_entity_id(&pending.proxy).await?;
    let acs_url = xa.url(CONNECTOR_ACS_PATH);
    let audience = xa.url(CONNECTOR_METADATA_PATH);
    let read = |verified: &Verified| {
        read_response(
            &message.xml,
            &ResponseExpectations {
                request_id: &pending.id,
                acs_url: &acs_url,
                audience: &audience,
                requested_loa: pending.loa,
                required: &pending.required,
                peer: &verified.metadata,
                signature_policy: &verified.peer.algorithms.accept,
                decryption: &xa.keys.decryption,
                decrypt_policy: &verified.peer.algorithms.decrypt,
                now: xa.now(),
            },
        )
    };
    let read = match read(&verified) {
        // Signed by a key we do not know yet: the proxy service may have rolled its key over.
        Err(EidasError::Signature(_)) => {
            verified = xa.dk_proxy.refetch(&verified.peer.country).await?;
            read(&verified)?
        }
        other => other?,
    };
    // The request is answered once: of two concurrent uses, one takes it.
    match xa.common.ephemeral.take(&key).await? {
        Some(taken) if taken == bytes => {}
        Some(newer) => {
            // The browser started another request meanwhile: leave that one waiting.
            xa.common.ephemeral.put(&key, &newer, REQUEST_TTL).await?;
            return Err(XaError::Replayed);
        }
        None => return Err(XaError::Replayed),
    }
    match read {
        ReadResponse::Failure(status) => {
            let declined = status.sub == Some(SubStatus::RequestDenied);
            xa.audit_detached(xa.event(
                "xa.connector.response",
                AuditOutcome::Failure,
                ip,
                json!({ "reason": if declined { "declined" } else { "failed" } }),
            ));
            Ok(Received::Nothing { declined })
        }
        ReadResponse::Success(assertion) => {
            let identity = identity(xa, &verified.metadata.node_country, &assertion)?;
            let until = (assertion.not_on_or_after - xa.now()) + time::Duration::minutes(5);
            let memory = Duration::from_secs(until.whole_seconds().clamp(60, 24 * 3600) as u64);
            let seen = format!("xa:connector:assertion:{}", assertion.id);
            if !xa
                .common
                .ephemeral
                .put_if_absent(&seen, b"1", memory)
                .await?
            {
                return Err(XaError::Replayed);
            }
            xa.audit_detached(xa.event(
                "xa.connector.response",
                AuditOutcome::Success,
                ip,
                json!({ "proxy": verified.peer.country, "loa": assertion.loa }),
            ));
            Ok(Received::Identity(identity))
        }
    }
}

/// The identity of an assertion: its PersonIdentifier must be issued by the proxy service's
/// country for XA.
fn identity(
    xa: &DemoCountry,
    issuing: &str,
    assertion: &EidasAssertion,
) -> Result<Identity, XaError> {
    let identifier = assertion
        .person_identifier()
        .ok_or(XaError::Identifier("missing or malformed"))?;
    if identifier.issuing_country() != issuing {
        return Err(XaError::Identifier(
            "not issued by the proxy service's country",
        ));
    }
    if identifier.destination_country() != xa.code {
        return Err(XaError::Identifier("not meant for XA"));
    }
    let name = |n: &str| {
        assertion.attribute(n).and_then(|a| {
            let latin = a.latin()?.to_owned();
            let original = a.original().filter(|o| *o != latin).map(str::to_owned);
            Some((latin, original))
        })
    };
    Ok(Identity {
        identifier: identifier.to_string(),
        given_name: name(GIVEN_NAME.name),
        family_name: name(FAMILY_NAME.name),
        birthdate: assertion
            .attribute(DATE_OF_BIRTH.name)
            .and_then(|a| a.latin())
            .map(str::to_owned),
        loa: assertion.loa,
    })
}
