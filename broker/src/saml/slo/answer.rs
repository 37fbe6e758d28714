//! The signed LogoutResponse we answer a service's LogoutRequest with: by the binding the request
//! came by, at the service's registered endpoint (`ResponseLocation` first).

use eid_core::Lang;
use eid_keys::Alg;
use eid_saml::binding::{MessageKind, PostForm, RelayState, SigAlg, signed_redirect_url};
use eid_saml::dsig::sign_enveloped;
use eid_saml::messages::{
    BINDING_POST, BINDING_REDIRECT, LogoutResponseOut, StatusCode, new_message_id,
};
use serde::{Deserialize, Serialize};

use super::super::idp::{SIGNATURE_ALG, signing_key};
use super::super::{PostPage, SsoRejection, entity_id};
use super::SloOutcome;
use super::soap::soap_envelope;
use crate::logout::LogoutStep;
use crate::oidc::BrokerError;
use crate::registry::RegisteredSp;
use crate::state::Broker;

/// A SAML binding of single logout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// HTTP-Redirect (signature over the query).
    Redirect,
    /// HTTP-POST (enveloped signature).
    Post,
    /// SOAP (back channel; enveloped signature).
    Soap,
}

/// Where and how the LogoutResponse to a service's request goes; kept in a logout chain until
/// the browser comes back to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlAnswer {
    /// The asking service's entity ID.
    pub sp: String,
    /// Its request's `ID`.
    pub in_response_to: String,
    /// The binding its request came by.
    pub binding: Binding,
    /// Its `RelayState`, echoed.
    pub relay_state: Option<String>,
    /// The language of a POST page.
    pub lang: Lang,
}

/// The service's front-channel SLO endpoint of `binding`, or of the other front-channel binding
/// when it has none: `(binding, response URL)`.
fn endpoint(sp: &RegisteredSp, binding: Binding) -> Option<(Binding, String)> {
    let find = |uri: &str| {
        sp.sp
            .slo
            .iter()
            .find(|e| e.binding == uri)
            .map(|e| e.response_location.clone().unwrap_or(e.location.clone()))
    };
    let redirect = || find(BINDING_REDIRECT).map(|u| (Binding::Redirect, u));
    let post = || find(BINDING_POST).map(|u| (Binding::Post, u));
    match binding {
        Binding::Redirect => redirect().or_else(post),
        _ => post().or_else(redirect),
    }
}

impl SamlAnswer {
    /// The signed LogoutResponse with `status`; refused when the service (no longer) has an
    /// endpoint to receive it.
    pub fn respond(&self, broker: &Broker, status: StatusCode) -> Result<SloOutcome, BrokerError> {
        let Some(sp) = broker.registry.saml(&self.sp) else {
            return Ok(SloOutcome::Refused(SsoRejection::UnknownSp));
        };
        let keys_error = |e: String| BrokerError::Keys(e);
        let (key, certificate) = signing_key(broker)?;
        let (binding, destination) = match self.binding {
            Binding::Soap => (Binding::Soap, None),
            front => match endpoint(&sp, front) {
                Some((b, url)) => (b, Some(url)),
                None => return Ok(SloOutcome::Refused(SsoRejection::NoSloEndpoint)),
            },
        };
        let out = LogoutResponseOut {
            id: new_message_id(),
            in_response_to: self.in_response_to.clone(),
            issue_instant: broker.clock.now(),
            destination: destination.clone(),
            issuer: entity_id(broker),
            status,
        };
        let xml = out.to_xml();
        let relay = self
            .relay_state
            .as_deref()
            .and_then(|r| RelayState::new(r).ok());
        let signed = || {
            sign_enveloped(&xml, &out.id, &key, SIGNATURE_ALG, &certificate)
                .map_err(|e| keys_error(e.to_string()))
        };
        let outcome = match (binding, destination) {
            (Binding::Redirect, Some(url)) => signed_redirect_url(
                &url,
                MessageKind::Response,
                &xml,
                relay.as_ref(),
                SigAlg::RsaSha256,
                |bytes| key.sign_as(Alg::RS256, bytes),
            )
            .map(|url| SloOutcome::Step(LogoutStep::Redirect(url)))
            .map_err(|e| keys_error(e.to_string())),
            (Binding::Post, Some(url)) => {
                Ok(SloOutcome::Step(LogoutStep::Post(Box::new(PostPage {
                    form: PostForm::new(&url, MessageKind::Response, &signed()?, relay.as_ref()),
                    lang: self.lang,
                }))))
            }
            _ => Ok(SloOutcome::Soap(soap_envelope(&signed()?))),
        }?;
        // Kept as evidence, as it goes.
        crate::saml::evidence::logout_response(broker, &sp.rp.id, &out, &outcome);
        Ok(outcome)
    }
}
