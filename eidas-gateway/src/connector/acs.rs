//! The assertion consumer service: the proxy service's Response, posted by the browser with our
//! `RelayState`. It completes only the login of the browser that started it, is verified against
//! the chosen country's signed metadata, and is used once (request ID and assertion ID).

use std::time::Duration;

use eid_core::{AuditOutcome, Loa};
use eid_oidc::authorize::success_redirect;
use eid_oidc::grant::{CodeGrant, Grants};
use eid_oidc::random::digest_key;
use eid_saml::binding::{MessageKind, decode_post};
use eid_saml::dsig::DsigError;
use eid_saml::eidas::{
    EidasAssertion, EidasError, NodeRole, ReadResponse, ResponseExpectations, Status, SubStatus,
    TopStatus, read_response, response_issuer,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::claims::{EidasClaims, claims};
use super::error::ConnectorError;
use super::login::{Failure, FailurePage, SentRequest, back_to_client, browser_digest, sent_key};
use super::{Connector, GRANTS};

/// How long past its `NotOnOrAfter` an assertion ID is remembered (the clock skew allowed).
pub const ASSERTION_ID_SLACK: time::Duration = time::Duration::minutes(5);

/// What a code stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorGrant {
    /// The person's claims.
    pub claims: EidasClaims,
    /// When the person authenticated (Unix seconds).
    pub auth_time: i64,
    /// The achieved level, as NSIS.
    pub loa: Loa,
    /// The broker's nonce.
    pub nonce: Option<String>,
    /// The granted scopes.
    pub scopes: Vec<String>,
}

/// The answer to a posted Response.
#[derive(Debug)]
pub enum AcsOutcome {
    /// Logged in: back to the broker with a code.
    Redirect(Url),
    /// The login ended without an identity.
    Failed(FailurePage),
}

/// The page a failure status shows, and what the broker is told.
pub fn failure_of(status: &Status) -> Failure {
    match (status.top, status.sub) {
        (_, Some(SubStatus::RequestDenied)) => Failure::Cancelled,
        (_, Some(SubStatus::NoAuthnContext)) => Failure::LevelNotReached,
        (TopStatus::Responder, _) => Failure::Unavailable,
        _ => Failure::Failed,
    }
}

/// Remembers an assertion ID until its `NotOnOrAfter` (plus the skew); `false` when it was seen.
pub async fn first_use_of_assertion(
    conn: &Connector,
    issuer: &str,
    id: &str,
    not_on_or_after: OffsetDateTime,
) -> Result<bool, ConnectorError> {
    let now = conn.common.clock.now();
    let remaining = (not_on_or_after - now).whole_seconds() + ASSERTION_ID_SLACK.whole_seconds();
    let ttl = Duration::from_secs(u64::try_from(remaining).unwrap_or(0).max(1));
    let key = format!(
        "eidas-connector:assertion:{}",
        digest_key(&format!("{}:{issuer}:{id}", issuer.len()))
    );
    Ok(conn.common.ephemeral.put_if_absent(&key, b"1", ttl).await?)
}

/// The audit key of the person an assertion from `country` names ([`eid_core::eidas::audit_id`],
/// as the broker keys them): only for an identifier that country issued for us, so that a node
/// cannot write into another country's citizen's log.
pub fn person_of(assertion: &EidasAssertion, country: &str) -> Option<uuid::Uuid> {
    let id = assertion.person_identifier()?;
    if id.issuing_country() != country {
        return None;
    }
    eid_core::eidas::PersonIdentifier::parse(id.as_str())
        .ok()
        .map(|id| eid_core::eidas::audit_id(&id))
}

/// Handles a posted `SAMLResponse` (form field, base64) with its `RelayState`, from the browser
/// holding the binding cookie `browser`.
pub async fn acs(
    conn: &Connector,
    saml_response: Option<&str>,
    relay_state: Option<&str>,
    browser: Option<&str>,
    ip: &str,
) -> Result<AcsOutcome, ConnectorError> {
    let rejected = |reason: String| {
        conn.event("connector.response_rejected", AuditOutcome::Failure)
            .ip(ip)
            .detail("reason", reason)
    };
    let message = match decode_post(
        MessageKind::Response,
        saml_response.unwrap_or_default(),
        relay_state,
    ) {
        Ok(m) => m,
        Err(e) => {
            conn.audit(rejected(e.to_string())).await?;
            return Err(ConnectorError::BadRequest(e.to_string()));
        }
    };
    let Some(relay) = message.relay_state.as_ref().map(|r| r.as_str().to_owned()) else {
        conn.audit(rejected("no RelayState".into())).await?;
        return Err(ConnectorError::Expired);
    };
    let key = sent_key(&relay);
    let Some(stored) = conn.common.ephemeral.get(&key).await? else {
        conn.audit(rejected("unknown, expired or finished login".into()))
            .await?;
        return Err(ConnectorError::Expired);
    };
    let sent: SentRequest = serde_json::from_slice(&stored).map_err(|_| ConnectorError::Expired)?;
    let client = sent.login.req.client_id.clone();
    // Only the browser that started the login may finish it: a Response posted by another
    // (login CSRF, a stolen RelayState) is refused and leaves the login as it was.
    if browser.map(browser_digest).as_deref() != Some(sent.login.browser.as_str()) {
        conn.audit(rejected("the login was started in another browser".into()).client(client))
            .await?;
        return Err(ConnectorError::WrongBrowser);
    }
    let verified = verify(conn, &sent, &message.xml).await;
    // The login ends here, whatever the Response says: it is taken once.
    if conn.common.ephemeral.take(&key).await?.is_none() {
        conn.audit(rejected("login already finished".into()).client(client))
            .await?;
        return Err(ConnectorError::Expired);
    }
    let country_name = conn
        .country(&sent.country)
        .map_or_else(|| sent.country.clone(), |c| c.name.clone());
    let fail = |failure: Failure| -> Result<AcsOutcome, ConnectorError> {
        Ok(AcsOutcome::Failed(FailurePage {
            failure,
            country: country_name.clone(),
            lang: sent.login.lang,
            back: back_to_client(conn, &sent.login.req, failure)?,
        }))
    };
    let (issuer, assertion) = match verified {
        Ok((_, ReadResponse::Failure(status))) => {
            let failure = failure_of(&status);
            conn.audit(
                conn.event("connector.login_failed", AuditOutcome::Failure)
                    .client(client)
                    .ip(ip)
                    .detail("country", sent.country.clone())
                    .detail("status", format!("{:?}", status.top))
                    .detail(
                        "sub_status",
                        status.sub.map(|s| format!("{s:?}")).unwrap_or_default(),
                    ),
            )
            .await?;
            return fail(failure);
        }
        Ok((issuer, ReadResponse::Success(assertion))) => (issuer, assertion),
        Err(reason) => {
            conn.audit(
                rejected(reason)
                    .client(client)
                    .detail("country", sent.country.clone()),
            )
            .await?;
            return fail(Failure::Refused);
        }
    };
    // From here the Response is verified: a refusal names the person it is about, when known.
    let person = person_of(&assertion, &sent.country);
    let refused = |reason: String| {
        let event = rejected(reason)
            .client(client.clone())
            .detail("country", sent.country.clone());
        match person {
            Some(p) => event.person(p),
            None => event,
        }
    };
    // We asked with ForceAuthn="true": an authentication from before our request is a session
    // the proxy service reused.
    if assertion.authn_instant.unix_timestamp()
        < sent.sent_at - eid_saml::eidas::CLOCK_SKEW.whole_seconds()
    {
        conn.audit(refused(
            "the person did not authenticate after our request (ForceAuthn)".into(),
        ))
        .await?;
        return fail(Failure::Refused);
    }
    if !first_use_of_assertion(conn, &issuer, &assertion.id, assertion.not_on_or_after).await? {
        conn.audit(refused("assertion replayed".into())).await?;
        return fail(Failure::Refused);
    }
    let claims = match claims(&assertion, &sent.country, &conn.country, sent.login.legal) {
        Ok(claims) => claims,
        Err(e) => {
            conn.audit(refused(e.to_string())).await?;
            return fail(Failure::Refused);
        }
    };
    let legal_person = claims.eidas_legal_person_identifier.is_some();
    let url = issue_code(conn, &sent, &assertion, claims).await?;
    let mut event = conn
        .event("connector.login", AuditOutcome::Success)
        .client(client)
        .ip(ip)
        .detail("country", sent.country.clone())
        .detail("loa", assertion.loa.to_nsis().as_word())
        .detail("legal_person", legal_person);
    if let Some(p) = person {
        event = event.person(p);
    }
    conn.audit(event).await?;
    Ok(AcsOutcome::Redirect(url))
}

/// Verifies the Response against the chosen country's metadata (fetched again once when it is
/// signed by a key we do not know); the issuer and what it says, or why it was refused.
async fn verify(
    conn: &Connector,
    sent: &SentRequest,
    xml: &str,
) -> Result<(String, ReadResponse), String> {
    let issuer = response_issuer(xml).map_err(|e| e.to_string())?;
    let verified = conn
        .peers
        .by_entity_id(&issuer)
        .await
        .map_err(|e| format!("issuer: {e}"))?;
    if verified.peer.country != sent.country {
        return Err("the Response is from another country than the one chosen".into());
    }
    let acs_url = conn.acs_url();
    let audience = conn.entity_id();
    let read = |metadata: &eid_saml::eidas::PeerMetadata| {
        if !matches!(metadata.role, NodeRole::ProxyService { .. }) {
            return Err(EidasError::Rule("the issuer is not a proxy service"));
        }
        read_response(
            xml,
            &ResponseExpectations {
                request_id: &sent.request_id,
                acs_url: &acs_url,
                audience: &audience,
                requested_loa: sent.loa,
                required: &sent.required,
                peer: metadata,
                signature_policy: &verified.peer.algorithms.accept,
                decryption: &conn.node.decryption,
                decrypt_policy: &verified.peer.algorithms.decrypt,
                now: conn.common.clock.now(),
            },
        )
    };
    let read = match read(&verified.metadata) {
        Err(EidasError::Signature(DsigError::Invalid)) => {
            // Perhaps a key it rolled over to: its metadata again, once.
            let again = conn
                .peers
                .refetch(&sent.country)
                .await
                .map_err(|e| format!("metadata: {e}"))?;
            read(&again.metadata)
        }
        other => other,
    };
    read.map(|r| (issuer, r)).map_err(|e| e.to_string())
}

/// Issues the code of a successful login and the redirect that carries it to the broker.
async fn issue_code(
    conn: &Connector,
    sent: &SentRequest,
    assertion: &EidasAssertion,
    claims: EidasClaims,
) -> Result<Url, ConnectorError> {
    let req = &sent.login.req;
    let grant = CodeGrant {
        grant_id: String::new(), // named by issue_code
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        payload: ConnectorGrant {
            claims,
            auth_time: assertion.authn_instant.unix_timestamp(),
            loa: assertion.loa.to_nsis(),
            nonce: req.nonce.clone(),
            scopes: req.scopes.clone(),
        },
    };
    let code = Grants::new(conn.common.ephemeral.as_ref(), GRANTS)
        .issue_code(grant)
        .await?;
    success_redirect(&req.redirect_uri, &code, req.state.as_deref(), &conn.issuer)
        .map_err(|e| ConnectorError::BadRequest(e.description))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_saml::eidas::{Attribute, AttributeValue, EidasLoa, PERSON_IDENTIFIER};

    fn naming(id: &str) -> EidasAssertion {
        EidasAssertion {
            id: "_a".into(),
            name_id: id.into(),
            loa: EidasLoa::Substantial,
            authn_instant: OffsetDateTime::UNIX_EPOCH,
            not_on_or_after: OffsetDateTime::UNIX_EPOCH,
            attributes: vec![Attribute {
                name: PERSON_IDENTIFIER.name.to_owned(),
                values: vec![AttributeValue {
                    value: id.to_owned(),
                    latin_script: true,
                }],
            }],
        }
    }

    #[test]
    fn the_person_is_named_only_by_an_identifier_the_country_issued_for_us() {
        let id = eid_core::eidas::PersonIdentifier::parse("XA/DK/123").unwrap();
        assert_eq!(
            person_of(&naming("XA/DK/123"), "XA"),
            Some(eid_core::eidas::audit_id(&id))
        );
        assert_eq!(
            person_of(&naming("XA/DK/123"), "XB"),
            None,
            "another country's"
        );
        assert_eq!(person_of(&naming("XA/SE/123"), "XA"), None, "not for us");
        let mut none = naming("XA/DK/123");
        none.attributes.clear();
        assert_eq!(person_of(&none, "XA"), None);
    }
}
