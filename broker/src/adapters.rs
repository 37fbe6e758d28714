//! The ports' production implementations: an OIDC upstream ([`OidcUpstream`]) and back-channel
//! logout over HTTP ([`HttpLogoutNotifier`]).

use async_trait::async_trait;
use eid_core::eidas::PersonIdentifier;
use eid_core::{Cpr, Identity, PersonKey};
use std::time::Duration;
use url::Url;
use uuid::Uuid;

use crate::core::pairwise::PairwiseKey;
use crate::ports::{LogoutNotifier, Upstream, UpstreamKind};
use eid_oidc::rp::{
    ClaimMapping, PendingUpstream, UpstreamClient, UpstreamError, UpstreamIdentity, UpstreamRequest,
};

/// How long one back-channel logout may take.
pub const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(5);

/// An upstream OpenID provider through the generic relying-party client.
pub struct OidcUpstream {
    client: UpstreamClient,
    kind: UpstreamKind,
    key: PairwiseKey,
}

impl OidcUpstream {
    /// The upstream `client` vouching for identities of `kind`, reading the person claims of that
    /// kind ([`ClaimMapping`]); `key` derives the audit ids of persons who are not in the person
    /// register.
    pub fn new(client: UpstreamClient, kind: UpstreamKind, key: PairwiseKey) -> Self {
        let client = client.with_claim_mapping(claim_mapping(kind));
        OidcUpstream { client, kind, key }
    }
}

/// The person claims an upstream of `kind` is read for.
pub fn claim_mapping(kind: UpstreamKind) -> ClaimMapping {
    match kind {
        UpstreamKind::National => ClaimMapping::National,
        UpstreamKind::EuEid => ClaimMapping::Eidas,
    }
}

/// The audit key of a person an upstream of `kind` vouched for, the same as the other
/// components': the national authenticator's subjects are the person register's ids, shared with
/// its own audit events; an `eu_eid` upstream's (the eIDAS PersonIdentifier) is
/// [`eid_core::eidas::audit_id`], shared with the eIDAS connector's events. Anything else is
/// derived with the broker's key ([`PairwiseKey::audit_id`]); none is ever a register id.
pub fn audit_id(kind: UpstreamKind, person: &PersonKey, key: &PairwiseKey) -> Uuid {
    match kind {
        UpstreamKind::National => {
            if let Ok(id) = Uuid::parse_str(&person.subject) {
                return id;
            }
        }
        UpstreamKind::EuEid => {
            if let Ok(id) = PersonIdentifier::parse(&person.subject) {
                return eid_core::eidas::audit_id(&id);
            }
        }
    }
    key.audit_id(&person.pairwise_input())
}

/// The broker's identity of an upstream's verified login.
///
/// A national upstream's person is keyed on its `sub` and keeps a well-formed CPR number; any
/// eIDAS claims it sent are ignored. An `eu_eid` upstream's person is keyed on the eIDAS
/// PersonIdentifier (which must be its `sub`: a login without a valid one fails) and never has a
/// CPR number, whatever it sent.
pub fn identity(
    kind: UpstreamKind,
    key: &PairwiseKey,
    login: UpstreamIdentity,
) -> Result<Identity, UpstreamError> {
    let (subject, cpr, eidas_id) = match kind {
        UpstreamKind::National => {
            let cpr = login.cpr.and_then(|c| match Cpr::parse(&c) {
                Ok(cpr) => Some(cpr),
                Err(_) => {
                    tracing::warn!(upstream = %login.upstream, "the upstream sent a malformed CPR number; ignored");
                    None
                }
            });
            (login.subject, cpr, None)
        }
        UpstreamKind::EuEid => {
            let eidas = login
                .eidas
                .filter(|e| e.person_identifier.as_str() == login.subject)
                .ok_or_else(|| {
                    UpstreamError::IdToken(
                        "the eIDAS upstream sent no valid eidas_person_identifier equal to sub"
                            .into(),
                    )
                })?;
            (login.subject, None, Some(eidas))
        }
    };
    let person = PersonKey {
        upstream: login.upstream,
        subject,
    };
    Ok(Identity {
        audit_id: audit_id(kind, &person, key),
        person,
        loa: login.loa,
        amr: login.amr,
        auth_time: login.auth_time,
        cpr,
        eidas_id,
        given_name: login.given_name,
        family_name: login.family_name,
        birthdate: login.birthdate,
        upstream_sid: login.sid,
    })
}

#[async_trait]
impl Upstream for OidcUpstream {
    fn name(&self) -> &str {
        self.client.name()
    }

    fn kind(&self) -> UpstreamKind {
        self.kind
    }

    async fn begin(
        &self,
        request: &UpstreamRequest,
    ) -> Result<(Url, PendingUpstream), UpstreamError> {
        self.client.begin(request).await
    }

    async fn complete(
        &self,
        pending: &PendingUpstream,
        params: &[(String, String)],
    ) -> Result<Identity, UpstreamError> {
        let login = self.client.complete(pending, params).await?;
        identity(self.kind, &self.key, login)
    }

    async fn end_session_url(
        &self,
        hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
    ) -> Option<Url> {
        self.client
            .end_session_url(hint, post_logout_redirect_uri)
            .await
    }
}

/// Back-channel logout over HTTP: a form POST, no redirects followed, within
/// [`BACKCHANNEL_TIMEOUT`].
pub struct HttpLogoutNotifier {
    http: reqwest::Client,
}

impl HttpLogoutNotifier {
    /// A notifier with its own HTTP client.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(BACKCHANNEL_TIMEOUT)
            .build()?;
        Ok(HttpLogoutNotifier { http })
    }
}

#[async_trait]
impl LogoutNotifier for HttpLogoutNotifier {
    async fn deliver(&self, uri: &str, logout_token: &str) -> bool {
        self.http
            .post(uri)
            .form(&[("logout_token", logout_token)])
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    }

    async fn deliver_soap(&self, uri: &str, envelope: &str) -> Option<String> {
        let mut reply = self
            .http
            .post(uri)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                "http://www.oasis-open.org/committees/security",
            )
            .body(envelope.to_owned())
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())?;
        if reply
            .content_length()
            .is_some_and(|n| n > MAX_SOAP_REPLY_BYTES as u64)
        {
            return None;
        }
        // Read in chunks, so that a reply without a length cannot grow past the bound.
        let mut bytes = Vec::new();
        while let Some(chunk) = reply.chunk().await.ok()? {
            if bytes.len() + chunk.len() > MAX_SOAP_REPLY_BYTES {
                return None;
            }
            bytes.extend_from_slice(&chunk);
        }
        String::from_utf8(bytes).ok()
    }
}

/// The largest SOAP reply to a back-channel LogoutRequest we read.
pub const MAX_SOAP_REPLY_BYTES: usize = 64 * 1024;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_national_authenticators_person_id_is_the_audit_key_and_others_are_derived() {
        let key = PairwiseKey::new(&[7u8; 32]).unwrap();
        let id = "6f1c2a3e-1111-4222-8333-444455556666";
        let national = PersonKey {
            upstream: "idp".into(),
            subject: id.into(),
        };
        assert_eq!(
            audit_id(UpstreamKind::National, &national, &key).to_string(),
            id
        );
        let foreign = audit_id(UpstreamKind::EuEid, &national, &key);
        assert_ne!(
            foreign.to_string(),
            id,
            "a foreign upstream cannot claim a register id"
        );
        assert_eq!(
            foreign,
            key.audit_id("idp:6f1c2a3e-1111-4222-8333-444455556666")
        );
        let not_a_uuid = PersonKey {
            upstream: "idp".into(),
            subject: "not-a-uuid".into(),
        };
        assert_eq!(
            audit_id(UpstreamKind::National, &not_a_uuid, &key),
            key.audit_id("idp:not-a-uuid")
        );
    }

    #[test]
    fn a_foreign_persons_audit_key_is_the_eidas_one_the_connector_uses_too() {
        let key = PairwiseKey::new(&[7u8; 32]).unwrap();
        let other_key = PairwiseKey::new(&[8u8; 32]).unwrap();
        let eleni = PersonKey {
            upstream: "eidas".into(),
            subject: "SE/DK/199001011234".into(),
        };
        let expected =
            eid_core::eidas::audit_id(&PersonIdentifier::parse("SE/DK/199001011234").unwrap());
        assert_eq!(audit_id(UpstreamKind::EuEid, &eleni, &key), expected);
        assert_eq!(
            audit_id(UpstreamKind::EuEid, &eleni, &other_key),
            expected,
            "not keyed by the broker: the connector derives the same"
        );
        // Whatever the upstream is named: the identifier is the person.
        let renamed = PersonKey {
            upstream: "eu".into(),
            ..eleni.clone()
        };
        assert_eq!(audit_id(UpstreamKind::EuEid, &renamed, &key), expected);
        // A national upstream cannot name a foreign person's log.
        assert_ne!(audit_id(UpstreamKind::National, &eleni, &key), expected);
    }
}
