//! The single sign-on service: an AuthnRequest by HTTP-Redirect or HTTP-POST, verified with the
//! service's metadata keys only, checked (version, freshness, destination, single use, ACS from
//! metadata), then single sign-on or a login through the core, as for OIDC.
//!
//! Until the request is verified and its ACS found in metadata nothing goes to the service: the
//! person sees an error page ([`SsoRejection`]), audited as `saml.rejected`. A verified request
//! that cannot be served is answered with a Response carrying the status.

use eid_core::{AuditOutcome, Lang};
use eid_saml::NAMEID_PERSISTENT;
use eid_saml::binding::{MessageKind, decode_post, decode_redirect};
use eid_saml::dsig::{AlgorithmPolicy, Expected, PinnedKeys, verify};
use eid_saml::messages::{AuthnRequest, MessageError, StatusCode};
use eid_saml::xml::QName;
use std::net::IpAddr;
use std::sync::Arc;
use url::Url;

use super::response::failure;
use super::{CLOCK_SKEW, PostPage, REQUEST_ID_TTL, SamlRequest, SsoRejection, sso_url};
use crate::core::only_raises_level;
use crate::core::{
    AuthnRequest as Authn, Decision, LoginStep, Rejection, SsoSession, decide, next_step,
};
use crate::login::flow::{self, Begun};
use crate::login::pending::{Admission, PendingLogin};
use crate::login::{Answer, ExplainedRefusal, FrontendRequest, PendingChoice};
use crate::oidc::BrokerError;
use crate::oidc::audit::{audit_refusal, truncated};
use crate::registry::RegisteredSp;
use crate::state::Broker;

/// The NameID format that leaves the choice to us.
const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// An AuthnRequest as received.
#[derive(Debug, Clone, Copy)]
pub enum Incoming<'a> {
    /// HTTP-Redirect: the raw query string, exactly as received.
    Redirect(&'a str),
    /// HTTP-POST: the form's `SAMLRequest` and `RelayState` fields.
    Post {
        /// `SAMLRequest`.
        request: &'a str,
        /// `RelayState`.
        relay_state: Option<&'a str>,
    },
}

/// What the SSO service answers.
#[derive(Debug)]
pub enum SsoOutcome {
    /// The request could not be verified: an error page (already audited).
    Refused(SsoRejection),
    /// A Response to the verified ACS (an assertion from the session, or a status).
    Post(Box<PostPage>),
    /// To the only upstream that fits the login.
    Redirect(Url),
    /// The identity chooser for this pending login.
    Choose(Box<PendingLogin>),
    /// The page to choose whom the person acts for.
    ChooseRepresentation(Box<PendingChoice>),
    /// Tell the person why the login ends; the page's button posts the Response to the ACS.
    Explain(Box<ExplainedRefusal>),
}

/// A verified request, its sender and the RelayState.
struct Received {
    request: AuthnRequest,
    sp: Arc<RegisteredSp>,
    relay_state: Option<String>,
}

/// The issuer of a message not yet verified (only to find whose keys verify it).
fn claimed_issuer(xml: &str) -> Result<String, SsoRejection> {
    Ok(AuthnRequest::parse(xml)?.issuer)
}

fn lookup(broker: &Broker, issuer: &str) -> Result<Arc<RegisteredSp>, (SsoRejection, String)> {
    broker
        .registry
        .saml(issuer)
        .ok_or_else(|| (SsoRejection::UnknownSp, issuer.to_owned()))
}

/// Decodes and verifies; on failure the rejection and the claimed issuer, if one was read.
fn receive(
    broker: &Broker,
    incoming: Incoming<'_>,
) -> Result<Received, (SsoRejection, Option<String>)> {
    let no_issuer = |e: SsoRejection| (e, None);
    match incoming {
        Incoming::Redirect(query) => {
            let message =
                decode_redirect(query, MessageKind::Request).map_err(|e| no_issuer(e.into()))?;
            let issuer = claimed_issuer(message.xml_unverified()).map_err(no_issuer)?;
            let sp = lookup(broker, &issuer).map_err(|(e, i)| (e, Some(i)))?;
            let with = |e: SsoRejection| (e, Some(issuer.clone()));
            let xml = message
                .verify_with_certificates(&sp.sp.signing_certificates)
                .map_err(|e| with(e.into()))?;
            let request = AuthnRequest::parse(xml).map_err(|e| with(e.into()))?;
            Ok(Received {
                request,
                relay_state: message.relay_state().map(|r| r.as_str().to_owned()),
                sp,
            })
        }
        Incoming::Post {
            request,
            relay_state,
        } => {
            let message = decode_post(MessageKind::Request, request, relay_state)
                .map_err(|e| no_issuer(e.into()))?;
            let issuer = claimed_issuer(&message.xml).map_err(no_issuer)?;
            let sp = lookup(broker, &issuer).map_err(|(e, i)| (e, Some(i)))?;
            let with = |e: SsoRejection| (e, Some(issuer.clone()));
            let keys =
                PinnedKeys::from_certificates(sp.sp.signing_certificates.iter().map(Vec::as_slice))
                    .map_err(|e| with(SsoRejection::Signature(e.to_string())))?;
            let verified = verify(
                &message.xml,
                Expected::Root(QName::AUTHN_REQUEST),
                &keys,
                &AlgorithmPolicy::default(),
            )
            .map_err(|e| with(SsoRejection::Signature(e.to_string())))?;
            // Read only the element the signature covers.
            let request =
                AuthnRequest::parse(&verified.element().to_xml()).map_err(|e| with(e.into()))?;
            if request.issuer != sp.rp.id {
                return Err(with(SsoRejection::IssuerMismatch));
            }
            Ok(Received {
                request,
                relay_state: message.relay_state.map(|r| r.as_str().to_owned()),
                sp,
            })
        }
    }
}

/// Audits a refusal: a registered service is named (and the write awaited); anything else is
/// unauthenticated noise, budgeted (see [`audit_refusal`]).
pub(super) async fn audit_rejected(
    broker: &Broker,
    issuer: Option<&str>,
    reason: String,
) -> Result<(), BrokerError> {
    let event = broker
        .event("saml.rejected", AuditOutcome::Failure)
        .detail("reason", reason);
    match issuer.filter(|i| broker.registry.saml(i).is_some()) {
        Some(sp) => broker.audit(event.client(sp.to_owned())).await?,
        None => {
            let event = match issuer {
                Some(i) => event.detail("unregistered_issuer", truncated(i, 64).to_owned()),
                None => event,
            };
            audit_refusal(broker, None, event).await?;
        }
    }
    Ok(())
}

/// Audits a refusal of a message whose signature was not verified: whoever sent it, its issuer is
/// only claimed, so it is never written as that service's event nor awaited; it is budgeted
/// unauthenticated noise (see [`audit_refusal`]), the claimed issuer a truncated detail.
pub(super) async fn audit_unverified(
    broker: &Broker,
    claimed_issuer: Option<&str>,
    reason: String,
) -> Result<(), BrokerError> {
    let event = broker
        .event("saml.rejected", AuditOutcome::Failure)
        .detail("reason", reason);
    let event = match claimed_issuer {
        Some(i) => event.detail("claimed_issuer", truncated(i, 64).to_owned()),
        None => event,
    };
    audit_refusal(broker, None, event).await?;
    Ok(())
}

/// Handles an AuthnRequest from the browser with cookie `browser_cookie` at `address`.
pub async fn sso(
    broker: &Broker,
    incoming: Incoming<'_>,
    session_cookie: Option<&str>,
    browser_cookie: &str,
    address: IpAddr,
    accept_language: Option<&str>,
) -> Result<SsoOutcome, BrokerError> {
    let lang = Lang::negotiate(None, accept_language);
    let Received {
        request,
        sp,
        relay_state,
    } = match receive(broker, incoming) {
        Ok(received) => received,
        Err((rejection, issuer)) => {
            audit_unverified(broker, issuer.as_deref(), rejection.reason()).await?;
            return Ok(SsoOutcome::Refused(rejection));
        }
    };
    let checked = request
        .check(broker.clock.now(), CLOCK_SKEW, &sso_url(broker))
        .and_then(|()| request.acs_in(&sp.sp).map(|acs| acs.location.clone()));
    let acs = match checked {
        Ok(acs) => acs,
        Err(e) => {
            let rejection = SsoRejection::from(e);
            audit_rejected(broker, Some(&sp.rp.id), rejection.reason()).await?;
            return Ok(SsoOutcome::Refused(rejection));
        }
    };
    // Single use, remembered past the whole window the request is fresh in.
    let replay_key = format!(
        "broker:saml-request:{}",
        eid_oidc::random::digest_key(&format!("{}\u{0}{}", sp.rp.id, request.id))
    );
    if !broker
        .ephemeral
        .put_if_absent(&replay_key, b"1", REQUEST_ID_TTL)
        .await?
    {
        let rejection = SsoRejection::Replayed;
        audit_rejected(broker, Some(&sp.rp.id), rejection.reason()).await?;
        return Ok(SsoOutcome::Refused(rejection));
    }
    let mut saml = SamlRequest {
        request_id: request.id.clone(),
        sp: sp.rp.id.clone(),
        acs,
        relay_state,
        min_loa: None,
        lang,
    };
    // From here the service hears of every problem, at its verified ACS.
    let status = match (request.minimum_loa(), &request.name_id_policy) {
        (Err(e), _) => Some((e.status(), e.to_string())),
        (Ok(_), Some(policy))
            if policy
                .format
                .as_deref()
                .is_some_and(|f| f != NAMEID_PERSISTENT && f != NAMEID_UNSPECIFIED) =>
        {
            let e = MessageError::Unsupported("NameIDPolicy Format");
            Some((StatusCode::RequestUnsupported, e.to_string()))
        }
        (Ok(min), _) => {
            saml.min_loa = min;
            None
        }
    };
    if let Some((status, reason)) = status {
        audit_rejected(broker, Some(&sp.rp.id), reason).await?;
        return Ok(SsoOutcome::Post(Box::new(failure(broker, &saml, status))));
    }
    // Accepted: kept as evidence, as it came. Not awaited: a Response to it waits for its own
    // commit, which the writer's first-in-first-out queue makes come after this one.
    super::evidence::authn_request(broker, &sp.rp.id, &request.id, incoming)?;
    let authn = Authn {
        rp: sp.rp.id.clone(),
        min_loa: saml.min_loa,
        force: request.force_authn,
        passive: request.is_passive,
        max_age: None,
    };
    login(
        broker,
        &sp,
        saml,
        authn,
        session_cookie,
        browser_cookie,
        address,
    )
    .await
}

/// Single sign-on from the session, or a login through an upstream.
async fn login(
    broker: &Broker,
    sp: &RegisteredSp,
    saml: SamlRequest,
    authn: Authn,
    session_cookie: Option<&str>,
    browser_cookie: &str,
    address: IpAddr,
) -> Result<SsoOutcome, BrokerError> {
    let session = SsoSession::find(broker.ephemeral.as_ref(), session_cookie).await?;
    let post = |answer: Answer| match answer {
        Answer::Post(page) => Ok(SsoOutcome::Post(page)),
        Answer::Redirect(url) => Ok(SsoOutcome::Redirect(url)),
        Answer::Explained(page) => Ok(SsoOutcome::Explain(page)),
    };
    match decide(&authn, session.as_ref(), broker.now()) {
        Decision::UseSession => {
            let (Some(mut session), Some(cookie)) = (session, session_cookie) else {
                return Err(BrokerError::Expired);
            };
            let step = next_step(
                broker.mandates.as_ref(),
                &authn,
                &sp.rp,
                &session,
                broker.clock.now(),
            )
            .await?;
            if step == LoginStep::Rejected(Rejection::CprRequired) {
                let lang = saml.lang;
                let answer = flow::refuse_without_cpr(
                    broker,
                    &FrontendRequest::Saml(Box::new(saml)),
                    &sp.rp,
                    session.identity.audit_id,
                    lang,
                    &address.to_string(),
                )
                .await?;
                return post(answer);
            }
            if let LoginStep::ChooseRepresentation(mandates) = step {
                // Single sign-on too: the person chooses again at each service.
                let lang = saml.lang;
                let choice = PendingChoice::offer(
                    broker,
                    FrontendRequest::Saml(Box::new(saml)),
                    &sp.rp.id,
                    session,
                    mandates,
                    browser_cookie,
                    lang,
                )
                .await?;
                return Ok(SsoOutcome::ChooseRepresentation(Box::new(choice)));
            }
            let (page, new_rp) =
                super::response::answer(broker, sp, &saml, &mut session, None).await?;
            if new_rp {
                // The service joins the session (single logout must reach it).
                session
                    .save(broker.ephemeral.as_ref(), cookie, broker.config.session_ttl)
                    .await?;
            }
            broker.metrics.inc(
                "broker_sso_answers_total",
                "Requests answered from an SSO session.",
                &[],
            );
            Ok(SsoOutcome::Post(Box::new(page)))
        }
        Decision::LoginRequired => {
            audit_rejected(
                broker,
                Some(&sp.rp.id),
                "passive and no session fits".into(),
            )
            .await?;
            Ok(SsoOutcome::Post(Box::new(failure(
                broker,
                &saml,
                StatusCode::NoPassive,
            ))))
        }
        Decision::Authenticate { step_up, .. } => {
            match PendingLogin::admit(broker, browser_cookie, address).await? {
                Admission::Admitted => {}
                Admission::BrowserFull { first } | Admission::AddressFull { first } => {
                    if first {
                        audit_rejected(broker, Some(&sp.rp.id), "too many logins begun".into())
                            .await?;
                    }
                    return Ok(SsoOutcome::Post(Box::new(failure(
                        broker,
                        &saml,
                        StatusCode::Responder,
                    ))));
                }
            }
            let lang = saml.lang;
            let session_upstream = session
                .filter(|s| only_raises_level(&authn, s, broker.now()))
                .map(|s| s.identity.person.upstream);
            let mut pending = PendingLogin::new(
                authn,
                FrontendRequest::Saml(Box::new(saml)),
                browser_cookie,
                lang,
                step_up,
            );
            pending.session_upstream = session_upstream;
            match flow::begin(broker, pending, &address.to_string()).await? {
                Begun::Upstream(url) => Ok(SsoOutcome::Redirect(url)),
                Begun::Choose(pending) => Ok(SsoOutcome::Choose(pending)),
                Begun::Refused(answer) => post(answer),
            }
        }
    }
}
