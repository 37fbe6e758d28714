//! The demo SAML service's protocol steps, apart from HTTP: a login begins with a signed
//! AuthnRequest by HTTP-Redirect, its ID kept server-side under the RelayState (the Response comes
//! back by a cross-site POST, which carries no `SameSite=Lax` cookie); the ACS reads the Response
//! strictly ([`eid_saml::sp::read_response`]) and hands the login to the browser that began it
//! (each Response is used once: it must answer the request ID taken from the store on its
//! arrival, and the signed assertion must name that ID too); single logout goes out by HTTP-Redirect and comes in by
//! HTTP-Redirect or SOAP.

use eid_core::{Clock, EphemeralStore, Loa, StoreError};
use eid_keys::Alg;
use eid_oidc::random::{digest_key, token256};
use eid_saml::binding::{
    MessageKind, RelayState, SigAlg, decode_post, decode_redirect, signed_redirect_url,
};
use eid_saml::dsig::{SignatureAlg, certificate_for, sign_enveloped};
use eid_saml::messages::{
    LogoutRequest, LogoutRequestOut, LogoutResponse, LogoutResponseOut, NameId, StatusCode,
    new_message_id,
};
use eid_saml::sp::{
    AuthnRequestOut, Expectations, ReceivedAssertion, SpError, SpKeys, check_logout_response,
    read_response, soap,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use super::identity::Identity;
use super::idp::{Idp, IdpSource};

/// How far the broker's clock may be from ours, either way.
pub const SKEW: time::Duration = time::Duration::minutes(5);
/// How long a login or logout may be under way.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long a verified login waits for its browser.
const HANDOFF_TTL: Duration = Duration::from_secs(120);
/// How long a local session lives.
pub const SESSION_TTL: Duration = Duration::from_secs(3600);

/// The demo SAML service: who it is, the broker it trusts, where its state lives.
#[derive(Debug)]
pub struct DemoSp {
    /// Its key and endpoints.
    pub identity: Identity,
    /// The broker's metadata.
    pub idp: IdpSource,
    /// Pending requests, sessions, used IDs.
    pub store: Arc<dyn EphemeralStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// Why a step failed; [`super`] turns each into a page.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker's metadata could not be had.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    /// A message from the broker was refused.
    #[error("refused: {0}")]
    Refused(#[from] SpError),
    /// No login or logout of ours is under way for this RelayState (unsolicited, or used).
    #[error("no outstanding request for this RelayState")]
    Unsolicited,
    /// The broker's LogoutRequest was seen before.
    #[error("replayed")]
    Replayed,
    /// The login was begun in another browser.
    #[error("the login was begun in another browser")]
    OtherBrowser,
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(String),
}

impl From<eid_saml::binding::BindingError> for FlowError {
    fn from(e: eid_saml::binding::BindingError) -> Self {
        FlowError::Refused(SpError::Binding(e))
    }
}

impl From<eid_saml::messages::MessageError> for FlowError {
    fn from(e: eid_saml::messages::MessageError) -> Self {
        FlowError::Refused(SpError::Message(e))
    }
}

/// A login under way: our request, what it asked, and the browser that began it.
#[derive(Serialize, Deserialize)]
struct Pending {
    request_id: String,
    min_loa: Option<Loa>,
    browser: String,
}

/// A verified login waiting for the browser that began it.
#[derive(Serialize, Deserialize)]
struct Handoff {
    session: SamlSession,
    browser: String,
}

/// A logout under way: our LogoutRequest's ID.
#[derive(Serialize, Deserialize)]
struct PendingLogout {
    request_id: String,
}

/// A local session: what the assertion said.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlSession {
    /// The persistent NameID.
    pub name_id: String,
    /// The broker's `SessionIndex`.
    pub session_index: String,
    /// The level.
    pub loa: Loa,
    /// When the person authenticated (Unix seconds).
    pub authn_instant: i64,
    /// The `AuthnContextClassRef`.
    pub authn_context: Option<String>,
    /// Every attribute, in order.
    pub attributes: Vec<(String, Vec<String>)>,
}

impl SamlSession {
    fn of(a: ReceivedAssertion) -> SamlSession {
        SamlSession {
            name_id: a.name_id,
            session_index: a.session_index,
            loa: a.loa,
            authn_instant: a.authn_instant.unix_timestamp(),
            authn_context: a.authn_context,
            attributes: a.attributes,
        }
    }
}

/// What the single logout endpoint did.
#[derive(Debug)]
pub enum SloOutcome {
    /// Our logout is complete.
    LoggedOut,
    /// The broker's LogoutRequest was served: the signed LogoutResponse to send back.
    Answer(String),
}

fn key(kind: &str, value: &str) -> String {
    format!("demo-saml:{kind}:{}", digest_key(value))
}

fn index_key(name_id: &str, session_index: &str) -> String {
    key("index", &format!("{name_id}\u{0}{session_index}"))
}

async fn put_json<T: Serialize>(
    store: &dyn EphemeralStore,
    key: &str,
    value: &T,
    ttl: Duration,
) -> Result<(), FlowError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(store.put(key, &bytes, ttl).await?)
}

async fn take_json<T: for<'de> Deserialize<'de>>(
    store: &dyn EphemeralStore,
    key: &str,
) -> Result<Option<T>, FlowError> {
    Ok(store
        .take(key)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

impl DemoSp {
    async fn broker(&self) -> Result<Arc<Idp>, FlowError> {
        self.idp
            .get(self.clock.now())
            .await
            .map_err(FlowError::Unavailable)
    }

    fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, eid_keys::KeyError> {
        self.identity.key.sign_as(Alg::RS256, bytes)
    }

    /// Begins a login of the browser `browser` at level `min_loa` or more: the URL of the signed
    /// AuthnRequest at the broker.
    pub async fn begin_login(
        &self,
        browser: &str,
        min_loa: Option<Loa>,
    ) -> Result<String, FlowError> {
        let idp = self.broker().await?;
        let request = AuthnRequestOut {
            id: new_message_id(),
            issue_instant: self.clock.now(),
            destination: idp.descriptor.sso_redirect.clone(),
            issuer: self.identity.entity_id.clone(),
            acs_url: self.identity.acs_url.clone(),
            force_authn: false,
            min_loa,
        };
        let relay = token256();
        let pending = Pending {
            request_id: request.id.clone(),
            min_loa,
            browser: digest_key(browser),
        };
        put_json(
            self.store.as_ref(),
            &key("pending", &relay),
            &pending,
            PENDING_TTL,
        )
        .await?;
        signed_redirect_url(
            &idp.descriptor.sso_redirect,
            MessageKind::Request,
            &request.to_xml(),
            Some(&RelayState::new(relay)?),
            SigAlg::RsaSha256,
            |b| self.sign(b),
        )
        .map_err(|e| FlowError::Signing(e.to_string()))
    }

    /// Reads the Response posted to the ACS for the login under way of its RelayState; the verified
    /// login waits for its browser under the RelayState, which is returned.
    pub async fn receive(
        &self,
        saml_response: &str,
        relay_state: Option<&str>,
    ) -> Result<String, FlowError> {
        let posted = decode_post(MessageKind::Response, saml_response, relay_state)?;
        let relay = posted.relay_state.ok_or(FlowError::Unsolicited)?;
        let store = self.store.as_ref();
        let pending: Pending = take_json(store, &key("pending", relay.as_str()))
            .await?
            .ok_or(FlowError::Unsolicited)?;
        let idp = self.broker().await?;
        let now = self.clock.now();
        let assertion = read_response(
            &posted.xml,
            &Expectations {
                idp_entity_id: &idp.descriptor.entity_id,
                sp_entity_id: &self.identity.entity_id,
                acs_url: &self.identity.acs_url,
                request_id: &pending.request_id,
                min_loa: pending.min_loa,
                now,
                skew: SKEW,
            },
            &SpKeys {
                idp: &idp.keys,
                decryption: &self.identity.decryption,
            },
        )?;
        let handoff = Handoff {
            session: SamlSession::of(assertion),
            browser: pending.browser,
        };
        put_json(
            store,
            &key("handoff", relay.as_str()),
            &handoff,
            HANDOFF_TTL,
        )
        .await?;
        Ok(relay.as_str().to_owned())
    }

    /// Completes the login of `relay` in `browser`, the one that began it: a new local session,
    /// whose cookie value is returned with it.
    pub async fn finish(
        &self,
        relay: &str,
        browser: &str,
    ) -> Result<(String, SamlSession), FlowError> {
        let store = self.store.as_ref();
        let handoff: Handoff = take_json(store, &key("handoff", relay))
            .await?
            .ok_or(FlowError::Unsolicited)?;
        if handoff.browser != digest_key(browser) {
            return Err(FlowError::OtherBrowser);
        }
        let cookie = token256();
        let session = handoff.session;
        put_json(store, &key("session", &cookie), &session, SESSION_TTL).await?;
        store
            .put(
                &index_key(&session.name_id, &session.session_index),
                key("session", &cookie).as_bytes(),
                SESSION_TTL,
            )
            .await?;
        Ok((cookie, session))
    }

    /// The local session of a cookie value.
    pub async fn session(&self, cookie: &str) -> Option<SamlSession> {
        let bytes = self.store.get(&key("session", cookie)).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Ends the local session of `cookie` and, when there was one, begins single logout at the
    /// broker: the URL of the signed LogoutRequest.
    pub async fn begin_logout(&self, cookie: &str) -> Result<Option<String>, FlowError> {
        let store = self.store.as_ref();
        let Some(session) = take_json::<SamlSession>(store, &key("session", cookie)).await? else {
            return Ok(None);
        };
        store
            .delete(&index_key(&session.name_id, &session.session_index))
            .await?;
        let idp = self.broker().await?;
        let Some(slo) = idp.descriptor.slo_redirect.clone() else {
            return Ok(None);
        };
        let now = self.clock.now();
        let request = LogoutRequestOut {
            id: new_message_id(),
            issue_instant: now,
            destination: slo.clone(),
            not_on_or_after: now + SKEW,
            issuer: self.identity.entity_id.clone(),
            name_id: persistent(&session.name_id),
            session_index: session.session_index,
        };
        let relay = token256();
        put_json(
            store,
            &key("logout", &relay),
            &PendingLogout {
                request_id: request.id.clone(),
            },
            PENDING_TTL,
        )
        .await?;
        signed_redirect_url(
            &slo,
            MessageKind::Request,
            &request.to_xml(),
            Some(&RelayState::new(relay)?),
            SigAlg::RsaSha256,
            |b| self.sign(b),
        )
        .map(Some)
        .map_err(|e| FlowError::Signing(e.to_string()))
    }

    /// A message at the single logout endpoint by HTTP-Redirect: the broker's LogoutResponse to
    /// our logout, or its own LogoutRequest (answered with a signed LogoutResponse by Redirect).
    pub async fn slo_redirect(&self, query: &str) -> Result<SloOutcome, FlowError> {
        let kind =
            if url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "SAMLResponse") {
                MessageKind::Response
            } else {
                MessageKind::Request
            };
        let message = decode_redirect(query, kind)?;
        let idp = self.broker().await?;
        let xml = message.verify_with_certificates(&idp.descriptor.signing_certificates)?;
        let now = self.clock.now();
        if kind == MessageKind::Response {
            let response = LogoutResponse::parse(xml)?;
            let relay = message.relay_state().ok_or(FlowError::Unsolicited)?;
            let pending: PendingLogout =
                take_json(self.store.as_ref(), &key("logout", relay.as_str()))
                    .await?
                    .ok_or(FlowError::Unsolicited)?;
            check_logout_response(
                &response,
                &idp.descriptor.entity_id,
                &pending.request_id,
                &self.identity.slo_url,
                now,
                SKEW,
            )?;
            return Ok(SloOutcome::LoggedOut);
        }
        let request = LogoutRequest::parse(xml)?;
        let Some(slo) = idp.descriptor.slo_redirect.clone() else {
            return Err(FlowError::Unavailable(
                "the broker has no single logout endpoint".into(),
            ));
        };
        let status = self
            .serve_logout(&idp, &request, &self.identity.slo_url)
            .await?;
        let answer = LogoutResponseOut {
            id: new_message_id(),
            in_response_to: request.id,
            issue_instant: now,
            destination: Some(slo.clone()),
            issuer: self.identity.entity_id.clone(),
            status,
        };
        signed_redirect_url(
            &slo,
            MessageKind::Response,
            &answer.to_xml(),
            message.relay_state(),
            SigAlg::RsaSha256,
            |b| self.sign(b),
        )
        .map(SloOutcome::Answer)
        .map_err(|e| FlowError::Signing(e.to_string()))
    }

    /// The broker's back-channel LogoutRequest (a SOAP envelope): the SOAP envelope of our signed
    /// LogoutResponse.
    pub async fn slo_soap(&self, body: &str) -> Result<String, FlowError> {
        let idp = self.broker().await?;
        let request = soap::logout_request(body, &idp.keys, &idp.descriptor.entity_id)?;
        let status = self
            .serve_logout(&idp, &request, &self.identity.soap_url)
            .await?;
        let answer = LogoutResponseOut {
            id: new_message_id(),
            in_response_to: request.id,
            issue_instant: self.clock.now(),
            destination: None,
            issuer: self.identity.entity_id.clone(),
            status,
        };
        let certificate = certificate_for(&self.identity.key, super::identity::NAME)
            .map_err(|e| FlowError::Signing(e.to_string()))?;
        let signed = sign_enveloped(
            &answer.to_xml(),
            &answer.id,
            &self.identity.key,
            SignatureAlg::RsaSha256,
            &certificate,
        )
        .map_err(|e| FlowError::Signing(e.to_string()))?;
        Ok(soap::envelope(&signed))
    }

    /// Checks the broker's LogoutRequest (issuer, freshness, `Destination` = `endpoint`, used
    /// once) and ends every local session of its NameID and SessionIndexes.
    async fn serve_logout(
        &self,
        idp: &Idp,
        request: &LogoutRequest,
        endpoint: &str,
    ) -> Result<StatusCode, FlowError> {
        if request.issuer != idp.descriptor.entity_id {
            return Err(SpError::WrongIssuer.into());
        }
        request.check(self.clock.now(), SKEW, endpoint)?;
        let store = self.store.as_ref();
        let fresh = store
            .put_if_absent(&key("idp-logout", &request.id), b"1", PENDING_TTL)
            .await?;
        if !fresh {
            return Err(FlowError::Replayed);
        }
        for index in &request.session_indexes {
            if let Some(session) = store
                .take(&index_key(&request.name_id.value, index))
                .await?
            {
                store.delete(&String::from_utf8_lossy(&session)).await?;
            }
        }
        Ok(StatusCode::Success)
    }
}

fn persistent(value: &str) -> NameId {
    NameId {
        value: value.to_owned(),
        format: Some(eid_saml::NAMEID_PERSISTENT.to_owned()),
        name_qualifier: None,
        sp_name_qualifier: None,
    }
}
