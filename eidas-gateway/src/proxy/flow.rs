//! The proxy service's protocol steps, apart from HTTP: each takes typed input and returns an
//! outcome for the handler to translate ([`SsoOutcome`], [`CallbackOutcome`], a [`PostForm`]).

use eid_core::{AuditOutcome, Lang};
use eid_oidc::random::{digest_key, token256};
use eid_oidc::rp::{PendingUpstream, UpstreamError, UpstreamIdentity, UpstreamRequest};
use eid_saml::binding::{MessageKind, PostForm, RelayState, decode_post};
use eid_saml::dsig::DsigError;
use eid_saml::eidas::{
    AssertionOut, AuthnRequest, Comparison, EidasError, EidasLoa, NodeRole, RequestExpectations,
    ResponseKeys, ResponseOut, ResponseOutcome, Status, SubStatus, TopStatus, read_authn_request,
    request_issuer,
};
use eid_saml::enc::RecipientKey;
use eid_saml::messages::new_message_id;
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

use super::error::ProxyError;
use super::release::{Destination, Released, can_supply, release};
use super::texts::{country_name, texts};
use super::{ASSERTION_TTL, LOGIN_TTL, ProxyService, REQUEST_ID_TTL};
use crate::peers::{PeerError, Verified};

/// The `amr` value of a login with a foreign eID through the eIDAS connector.
const FOREIGN_EID_AMR: &str = "eidas";

/// The longest request or message ID we remember or echo.
const MAX_ID_CHARS: usize = 256;

/// A posted AuthnRequest, as the handler read it from the form.
#[derive(Debug)]
pub struct SsoInput<'a> {
    /// The `SAMLRequest` field (base64).
    pub saml_request: &'a str,
    /// The `RelayState` field.
    pub relay_state: Option<&'a str>,
    /// The page language (from `Accept-Language`).
    pub lang: Lang,
    /// The client's address, for the audit log.
    pub ip: Option<String>,
}

/// What a posted AuthnRequest leads to.
#[derive(Debug)]
pub enum SsoOutcome {
    /// Log in at the broker: redirect there, keeping `handle` in the login cookie.
    Login {
        /// The broker's authorization URL.
        redirect: Url,
        /// The login's handle (the cookie's value).
        handle: String,
    },
    /// A verified request answered at once with a failure Response.
    Answer(PostForm),
}

/// What the broker's callback leads to.
#[derive(Debug)]
pub enum CallbackOutcome {
    /// Show the consent page.
    Consent,
    /// The login failed: a failure Response to the connector.
    Answer(PostForm),
}

/// The citizen's choice on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// "Send".
    Send,
    /// "Do not send".
    Decline,
}

/// What the consent page shows.
#[derive(Debug, Clone)]
pub struct ConsentView {
    /// The connector's country, named in the page's language.
    pub country: String,
    /// The service: `ProviderName`, else RequesterID, else the connector's entity ID.
    pub service: String,
    /// The released attributes' labels and values (the identifier as the pseudonym) with help.
    pub rows: Vec<(&'static str, String, &'static str)>,
    /// The achieved level, named.
    pub level: &'static str,
}

/// A pending login, kept in the ephemeral store under the digest of its handle.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Login {
    /// The verified request.
    request: AuthnRequest,
    /// The connector's country.
    country: String,
    /// The RelayState to echo.
    relay_state: Option<String>,
    /// Where the login is.
    stage: Stage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Stage {
    /// At the broker.
    AtBroker(PendingUpstream),
    /// Logged in; waiting for the citizen's consent.
    Consent(Released),
}

fn login_key(handle: &str) -> String {
    format!("eidas-proxy:login:{}", digest_key(handle))
}

fn request_id_key(issuer: &str, id: &str) -> String {
    format!(
        "eidas-proxy:request-id:{}",
        digest_key(&format!("{issuer}\n{id}"))
    )
}

fn status(top: TopStatus, sub: SubStatus, message: &str) -> Status {
    Status {
        top,
        sub: Some(sub),
        message: Some(message.to_owned()),
    }
}

/// The `ID` of the root element of a request whose signature over that element verified (used
/// only to answer a verified request that breaks a rule of the profile).
fn root_id(xml: &str) -> Option<String> {
    let doc = eid_saml::xml::Document::parse(xml).ok()?;
    let id = doc.root().attr("ID")?;
    (!id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
    .then(|| id.to_owned())
}

fn peer_error(e: PeerError) -> ProxyError {
    match e {
        PeerError::Unknown => ProxyError::UnknownConnector,
        PeerError::Unavailable(s) => ProxyError::PeerUnavailable(s),
        PeerError::Refused(e) => ProxyError::PeerUnavailable(format!("metadata refused: {e}")),
    }
}

/// The connector's ACS and encryption key from its verified metadata.
fn endpoints(verified: &Verified) -> Result<(String, RecipientKey), ProxyError> {
    let NodeRole::Connector { acs_url, .. } = &verified.metadata.role else {
        return Err(ProxyError::UnusableMetadata("not a connector"));
    };
    let cert = verified
        .metadata
        .encryption_certificate
        .as_deref()
        .ok_or(ProxyError::UnusableMetadata("no encryption certificate"))?;
    let recipient = RecipientKey::from_certificate(cert)
        .map_err(|_| ProxyError::UnusableMetadata("encryption certificate unusable"))?;
    Ok((acs_url.clone(), recipient))
}

impl ProxyService {
    /// `POST sso`: verifies the request and starts the login at the broker, or answers a
    /// verified request that breaks a rule with a failure Response.
    pub async fn sso(&self, input: SsoInput<'_>) -> Result<SsoOutcome, ProxyError> {
        let ip = input.ip.as_deref();
        let result = self.sso_checked(&input).await;
        if let Err(e) = &result {
            // The issuer is named only once it is known to be configured.
            let _ = self
                .audit(
                    "eidas_proxy.request",
                    AuditOutcome::Failure,
                    None,
                    ip,
                    &[("reason", json!(e.reason()))],
                )
                .await;
        }
        result
    }

    async fn sso_checked(&self, input: &SsoInput<'_>) -> Result<SsoOutcome, ProxyError> {
        let ip = input.ip.as_deref();
        let posted = decode_post(MessageKind::Request, input.saml_request, input.relay_state)?;
        let issuer = request_issuer(&posted.xml).map_err(ProxyError::Refused)?;
        let mut verified = self.peers.by_entity_id(&issuer).await.map_err(peer_error)?;
        let destination = self.sso_url();
        let mut read = self.read(&posted.xml, &verified, &destination);
        if matches!(read, Err(EidasError::Signature(DsigError::Invalid))) {
            // Perhaps a key the connector added since we fetched its metadata: fetch once more.
            verified = self
                .peers
                .refetch(&verified.peer.country)
                .await
                .map_err(peer_error)?;
            read = self.read(&posted.xml, &verified, &destination);
        }
        let (acs, _) = endpoints(&verified)?;
        let relay = posted.relay_state;
        let request = match read {
            Ok(request) => request,
            Err(e @ (EidasError::Rule(_) | EidasError::Expired(_))) => {
                // Verified, but against the profile: answer the connector (its metadata ACS).
                let Some(id) = root_id(&posted.xml) else {
                    return Err(ProxyError::Refused(e));
                };
                self.remember_request_id(&issuer, &id).await?;
                self.audit(
                    "eidas_proxy.request",
                    AuditOutcome::Failure,
                    Some(&issuer),
                    ip,
                    &[("reason", json!(e.to_string())), ("answered", json!(true))],
                )
                .await?;
                let form = self.write(
                    &verified,
                    &id,
                    relay.as_ref(),
                    ResponseOutcome::Failure(e.status()),
                )?;
                return Ok(SsoOutcome::Answer(form));
            }
            Err(e) => return Err(ProxyError::Refused(e)),
        };
        self.remember_request_id(&issuer, &request.id).await?;
        let refusal = if request.acs_url.as_deref().is_some_and(|a| a != acs) {
            Some(status(
                TopStatus::Requester,
                SubStatus::RequestDenied,
                "AssertionConsumerServiceURL is not the one of the metadata",
            ))
        } else if !can_supply(&request.requested) {
            Some(status(
                TopStatus::Requester,
                SubStatus::InvalidAttrNameOrValue,
                "a required attribute is not supplied by this proxy service",
            ))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.audit(
                "eidas_proxy.request",
                AuditOutcome::Failure,
                Some(&issuer),
                ip,
                &[
                    ("reason", json!(refusal.message)),
                    ("answered", json!(true)),
                ],
            )
            .await?;
            let form = self.write(
                &verified,
                &request.id,
                relay.as_ref(),
                ResponseOutcome::Failure(refusal),
            )?;
            return Ok(SsoOutcome::Answer(form));
        }
        let (redirect, pending) = self
            .broker
            .begin(&UpstreamRequest {
                acr_min: Some(request.loa.to_nsis()),
                force_login: true,
                ui_locales: Some(input.lang.tag().to_owned()),
                service_name: None,
                ..UpstreamRequest::default()
            })
            .await
            .map_err(ProxyError::Broker)?;
        self.audit(
            "eidas_proxy.request",
            AuditOutcome::Success,
            Some(&issuer),
            ip,
            &[
                ("country", json!(verified.peer.country)),
                ("loa", json!(request.loa.uri())),
                ("comparison", json!(request.comparison)),
                ("sp_type", json!(request.sp_type.as_str())),
                (
                    "requested",
                    json!(
                        request
                            .requested
                            .iter()
                            .map(|a| a.name.as_str())
                            .collect::<Vec<_>>()
                    ),
                ),
            ],
        )
        .await?;
        let handle = token256();
        let login = Login {
            request,
            country: verified.peer.country.clone(),
            relay_state: relay.map(|r| r.as_str().to_owned()),
            stage: Stage::AtBroker(pending),
        };
        self.store(&handle, &login).await?;
        Ok(SsoOutcome::Login { redirect, handle })
    }

    fn read(
        &self,
        xml: &str,
        verified: &Verified,
        destination: &str,
    ) -> Result<AuthnRequest, EidasError> {
        read_authn_request(
            xml,
            &RequestExpectations {
                destination,
                peer: &verified.metadata,
                policy: &verified.peer.algorithms.accept,
                now: self.common.clock.now(),
            },
        )
    }

    /// Marks a request ID used; a second use is refused.
    async fn remember_request_id(&self, issuer: &str, id: &str) -> Result<(), ProxyError> {
        let fresh = self
            .common
            .ephemeral
            .put_if_absent(&request_id_key(issuer, id), b"1", REQUEST_ID_TTL)
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(ProxyError::Replayed)
        }
    }

    async fn store(&self, handle: &str, login: &Login) -> Result<(), ProxyError> {
        let bytes = serde_json::to_vec(login)
            .map_err(|e| ProxyError::Store(eid_core::StoreError::Corrupt(e.to_string())))?;
        self.common
            .ephemeral
            .put(&login_key(handle), &bytes, LOGIN_TTL)
            .await?;
        Ok(())
    }

    async fn load(&self, handle: Option<&str>, take: bool) -> Result<Login, ProxyError> {
        let handle = handle.filter(|h| !h.is_empty() && h.len() <= 64);
        let Some(handle) = handle else {
            return Err(ProxyError::NoLogin);
        };
        let key = login_key(handle);
        let bytes = if take {
            self.common.ephemeral.take(&key).await?
        } else {
            self.common.ephemeral.get(&key).await?
        };
        let bytes = bytes.ok_or(ProxyError::NoLogin)?;
        serde_json::from_slice(&bytes).map_err(|_| ProxyError::NoLogin)
    }

    /// `GET callback`: completes the broker login of the browser's pending login (`handle` from
    /// its cookie) with the callback's query parameters.
    pub async fn callback(
        &self,
        handle: Option<&str>,
        params: &[(String, String)],
        ip: Option<&str>,
    ) -> Result<CallbackOutcome, ProxyError> {
        let peek = self.load(handle, false).await;
        let result = match peek {
            Ok(Login {
                stage: Stage::AtBroker(_),
                ..
            }) => self.callback_checked(handle, params, ip).await,
            Ok(_) => Err(ProxyError::WrongStep),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            let _ = self
                .audit(
                    "eidas_proxy.login",
                    AuditOutcome::Failure,
                    None,
                    ip,
                    &[("reason", json!(e.reason()))],
                )
                .await;
        }
        result
    }

    async fn callback_checked(
        &self,
        handle: Option<&str>,
        params: &[(String, String)],
        ip: Option<&str>,
    ) -> Result<CallbackOutcome, ProxyError> {
        let mut login = self.load(handle, true).await?;
        let Stage::AtBroker(pending) = &login.stage else {
            return Err(ProxyError::WrongStep);
        };
        let connector = login.request.issuer.clone();
        let failure = match self.broker.complete(pending, params).await {
            Ok(identity) => match self.released(&login, &identity) {
                Ok(released) => {
                    login.stage = Stage::Consent(released);
                    // The same handle: the cookie stays.
                    if let Some(h) = handle {
                        self.store(h, &login).await?;
                    }
                    return Ok(CallbackOutcome::Consent);
                }
                Err(status) => status,
            },
            Err(e) => upstream_status(&e),
        };
        self.audit(
            "eidas_proxy.login",
            AuditOutcome::Failure,
            Some(&connector),
            ip,
            &[
                ("country", json!(login.country)),
                ("reason", json!(failure.message)),
            ],
        )
        .await?;
        let form = self
            .answer(&login, ResponseOutcome::Failure(failure))
            .await?;
        Ok(CallbackOutcome::Answer(form))
    }

    /// Checks the achieved level against the request and releases the requested attributes.
    fn released(&self, login: &Login, identity: &UpstreamIdentity) -> Result<Released, Status> {
        if identity.cpr.is_some() {
            // Never sent on; the broker should not release it to us at all.
            tracing::warn!("the broker released a CPR number to the eIDAS proxy service; ignored");
        }
        // Only a person with a Danish identity may be identified abroad by this node: a login with
        // a foreign eID (the connector's `amr`) would launder it into a `DK/…` identifier. The
        // broker's registration of this client (`requires_cpr`) already keeps such logins out;
        // this holds even if it is misconfigured.
        if identity.amr.iter().any(|m| m == FOREIGN_EID_AMR) || identity.eidas.is_some() {
            return Err(status(
                TopStatus::Requester,
                SubStatus::RequestDenied,
                "only a person with a Danish eID can be identified by this node",
            ));
        }
        let achieved = EidasLoa::from_nsis(identity.loa);
        let level_ok = match login.request.comparison {
            Comparison::Minimum => achieved >= login.request.loa,
            Comparison::Exact => achieved == login.request.loa,
        };
        if !level_ok {
            return Err(status(
                TopStatus::Responder,
                SubStatus::NoAuthnContext,
                "the level of assurance achieved does not meet the request",
            ));
        }
        release(
            identity,
            achieved,
            &Destination {
                our_country: &self.country,
                connector_country: &login.country,
                secret: &self.pseudonym_secret,
            },
            &login.request.requested,
            login.request.name_id_format.as_deref(),
            new_message_id(),
        )
        .map_err(|_| {
            status(
                TopStatus::Responder,
                SubStatus::InvalidAttrNameOrValue,
                "a required attribute is not available",
            )
        })
    }

    /// `GET consent`: what the consent page shows for the browser's login.
    pub async fn consent_view(
        &self,
        handle: Option<&str>,
        lang: Lang,
    ) -> Result<ConsentView, ProxyError> {
        let login = self.load(handle, false).await?;
        let Stage::Consent(released) = &login.stage else {
            return Err(ProxyError::WrongStep);
        };
        let t = texts(lang);
        let service = login
            .request
            .provider_name
            .clone()
            .or_else(|| login.request.requester_id.clone())
            .unwrap_or_else(|| login.request.issuer.clone());
        let rows = released
            .attributes
            .iter()
            .filter_map(|a| {
                let value = a.latin()?.to_owned();
                let (label, help) = match a.name.as_str() {
                    n if n == eid_saml::eidas::PERSON_IDENTIFIER.name => {
                        (t.identifier, t.identifier_help)
                    }
                    n if n == eid_saml::eidas::GIVEN_NAME.name => (t.given_name, ""),
                    n if n == eid_saml::eidas::FAMILY_NAME.name => (t.family_name, ""),
                    n if n == eid_saml::eidas::DATE_OF_BIRTH.name => (t.date_of_birth, ""),
                    _ => return None,
                };
                Some((label, value, help))
            })
            .collect();
        Ok(ConsentView {
            country: country_name(&login.country, lang),
            service,
            rows,
            level: t.loa(released.loa),
        })
    }

    /// `POST consent`: the citizen's decision (CSRF already checked against the cookie). Send → a
    /// Success Response; decline → `RequestDenied` without an assertion. Either is audited first.
    pub async fn consent(
        &self,
        handle: Option<&str>,
        decision: Decision,
        ip: Option<&str>,
    ) -> Result<PostForm, ProxyError> {
        match self.load(handle, false).await? {
            Login {
                stage: Stage::Consent(_),
                ..
            } => {}
            _ => return Err(ProxyError::WrongStep),
        }
        let login = self.load(handle, true).await?;
        let Stage::Consent(released) = &login.stage else {
            return Err(ProxyError::WrongStep);
        };
        let connector = login.request.issuer.clone();
        let names: Vec<&str> = released
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let (kind, outcome) = match decision {
            Decision::Send => ("eidas_proxy.consent.given", AuditOutcome::Success),
            Decision::Decline => ("eidas_proxy.consent.declined", AuditOutcome::Failure),
        };
        self.audit(
            kind,
            outcome,
            Some(&connector),
            ip,
            &[
                ("country", json!(login.country)),
                ("loa", json!(released.loa.uri())),
                ("attributes", json!(names)),
            ],
        )
        .await?;
        let verified = self
            .peers
            .by_entity_id(&connector)
            .await
            .map_err(peer_error)?;
        let outcome = match decision {
            Decision::Decline => ResponseOutcome::Failure(status(
                TopStatus::Requester,
                SubStatus::RequestDenied,
                "the citizen declined to send their data",
            )),
            Decision::Send => {
                let now = self.common.clock.now();
                let (acs, _) = endpoints(&verified)?;
                ResponseOutcome::Success(AssertionOut {
                    id: new_message_id(),
                    name_id: released.name_id.clone(),
                    name_id_format: released.name_id_format.clone(),
                    audience: connector.clone(),
                    recipient: acs,
                    not_on_or_after: now + ASSERTION_TTL,
                    authn_instant: time::OffsetDateTime::from_unix_timestamp(released.auth_time)
                        .unwrap_or(now),
                    loa: released.loa,
                    attributes: released.attributes.clone(),
                })
            }
        };
        self.answer_with(&verified, &login, outcome)
    }

    /// The Response to a pending login's request.
    async fn answer(
        &self,
        login: &Login,
        outcome: ResponseOutcome,
    ) -> Result<PostForm, ProxyError> {
        let verified = self
            .peers
            .by_entity_id(&login.request.issuer)
            .await
            .map_err(peer_error)?;
        self.answer_with(&verified, login, outcome)
    }

    fn answer_with(
        &self,
        verified: &Verified,
        login: &Login,
        outcome: ResponseOutcome,
    ) -> Result<PostForm, ProxyError> {
        let relay = login
            .relay_state
            .as_deref()
            .map(RelayState::new)
            .transpose()
            .map_err(ProxyError::Binding)?;
        self.write(verified, &login.request.id, relay.as_ref(), outcome)
    }

    /// A signed Response (assertion encrypted to the connector) as the form that posts it to the
    /// connector's metadata ACS.
    fn write(
        &self,
        verified: &Verified,
        in_response_to: &str,
        relay: Option<&RelayState>,
        outcome: ResponseOutcome,
    ) -> Result<PostForm, ProxyError> {
        let (acs, recipient) = endpoints(verified)?;
        let algorithms = &verified.peer.algorithms;
        let response = ResponseOut {
            id: new_message_id(),
            in_response_to: in_response_to.to_owned(),
            issue_instant: self.common.clock.now(),
            destination: acs.clone(),
            issuer: self.entity_id(),
            outcome,
        };
        let xml = response
            .to_signed_xml(&ResponseKeys {
                signing: &self.node.key,
                alg: algorithms.sign,
                certificate_der: &self.node.certificate,
                sign_assertion: algorithms.sign_assertion,
                recipient: &recipient,
                encryption: algorithms.encrypt,
            })
            .map_err(ProxyError::Write)?;
        Ok(PostForm::new(&acs, MessageKind::Response, &xml, relay))
    }
}

/// The failure status for a broker login that produced no identity: the citizen cancelled
/// (`access_denied`) → `RequestDenied`; too low a level → `NoAuthnContext`; anything else →
/// `AuthnFailed`. The broker's own text is never passed on.
fn upstream_status(e: &UpstreamError) -> Status {
    match e {
        UpstreamError::Refused { error, .. } if error == "access_denied" => status(
            TopStatus::Requester,
            SubStatus::RequestDenied,
            "the citizen cancelled the login",
        ),
        UpstreamError::AcrTooLow { .. } => status(
            TopStatus::Responder,
            SubStatus::NoAuthnContext,
            "the level of assurance achieved does not meet the request",
        ),
        UpstreamError::Unavailable(_) | UpstreamError::Discovery(_) => status(
            TopStatus::Responder,
            SubStatus::AuthnFailed,
            "the national login is unavailable",
        ),
        _ => status(
            TopStatus::Responder,
            SubStatus::AuthnFailed,
            "authentication failed",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelling_is_request_denied_and_a_low_level_no_authn_context() {
        let cancel = upstream_status(&UpstreamError::Refused {
            error: "access_denied".into(),
            description: Some("<script>".into()),
        });
        assert_eq!(cancel.sub, Some(SubStatus::RequestDenied));
        assert!(!cancel.message.unwrap_or_default().contains("script"));
        let low = upstream_status(&UpstreamError::AcrTooLow {
            requested: eid_core::Loa::High,
            got: None,
        });
        assert_eq!(low.sub, Some(SubStatus::NoAuthnContext));
        let forged = upstream_status(&UpstreamError::StateMismatch);
        assert_eq!(forged.sub, Some(SubStatus::AuthnFailed));
    }

    #[test]
    fn root_ids_are_bounded_ncname_like() {
        assert_eq!(root_id("<a ID=\"_abc-1.2\"/>").as_deref(), Some("_abc-1.2"));
        assert_eq!(root_id("<a ID=\"x y\"/>"), None);
        assert_eq!(root_id("<a/>"), None);
        let long = format!("<a ID=\"{}\"/>", "a".repeat(MAX_ID_CHARS + 1));
        assert_eq!(root_id(&long), None);
    }
}
