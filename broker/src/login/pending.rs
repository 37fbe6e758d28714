//! A login waiting for the person to choose an identity provider and authenticate there. Bound to
//! the browser by a cookie; its forms carry its CSRF token.
//!
//! Anyone can create one (an authorization request with a valid client is unauthenticated), so
//! they are kept small (every parameter is bounded), short-lived until the person starts the
//! upstream round trip, and counted per browser and per client address ([`PendingLogin::admit`]).

use eid_core::Lang;
use eid_oidc::random::{digest_key, token256};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

use super::frontend::FrontendRequest;
use crate::core::AuthnRequest;
use crate::oidc::BrokerError;
use crate::ports::Upstream;
use crate::state::Broker;
use eid_oidc::rp::PendingUpstream;

/// How long a login may wait on the chooser before the person starts it (or the broker starts the
/// only upstream that fits).
pub const UNSTARTED_TTL: Duration = Duration::from_secs(300);
/// How long a login may take once the person has chosen an identity provider.
pub const PENDING_TTL: Duration = Duration::from_secs(900);
/// The most logins one browser may begin within [`UNSTARTED_TTL`].
pub const MAX_PENDING_PER_BROWSER: u64 = 30;

/// The most logins one client address may begin within [`UNSTARTED_TTL`] from browsers that have
/// none under way (or present no cookie); as many again from browsers that have one.
pub const MAX_PENDING_PER_ADDRESS: u64 = 300;

/// Whether a browser may begin another login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes.
    Admitted,
    /// No: too many logins under way in this browser.
    BrowserFull {
        /// The first refusal in this window (worth an audit event).
        first: bool,
    },
    /// No: too many logins begun from this client address.
    AddressFull {
        /// The first refusal in this window (worth an audit event).
        first: bool,
    },
}

/// A login in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// Identifier (in URLs and forms).
    pub id: String,
    /// What is asked, in protocol-neutral terms.
    pub authn: AuthnRequest,
    /// The frontend's request, to answer when the login ends.
    pub frontend: FrontendRequest,
    /// Digest of the browser cookie it is bound to.
    pub browser: String,
    /// CSRF token of its forms.
    pub csrf: String,
    /// Page language.
    pub lang: Lang,
    /// Whether a session exists that is too weak or too old (re-authenticate upstream).
    pub step_up: bool,
    /// For a login that only raises the level of the browser's session: the upstream that vouched
    /// for the session's person, the only one that fits ([`super::fit::fitting`]).
    #[serde(default)]
    pub session_upstream: Option<String>,
    /// The person's country for an eIDAS upstream (two upper-case letters), from the relying
    /// party's OIDC authorization parameter `country` (a broker extension); sent on only to
    /// `eu_eid` upstreams.
    #[serde(default)]
    pub country: Option<String>,
    /// The relying party asked for the legal person the person represents (scope
    /// `eidas_legal_person`, a service registered for the `eidas` claims): an eIDAS upstream is
    /// asked for its data.
    #[serde(default)]
    pub legal_person: bool,
    /// The upstream round trip under way.
    pub upstream: Option<PendingUpstream>,
}

fn key(id: &str) -> String {
    format!("broker:pending:{id}")
}

fn state_key(state: &str) -> String {
    format!("broker:upstream-state:{}", digest_key(state))
}

fn browser_count_key(browser_cookie: &str) -> String {
    format!("broker:pending-per-browser:{}", digest_key(browser_cookie))
}

/// The counter of an address, apart for browsers with a login under way (`known`) and the rest.
/// IPv6 addresses count per /64 (one subscriber's network, whose addresses cost nothing to vary).
fn address_count_key(address: IpAddr, known: bool) -> String {
    let bucket = eid_web::client_addr::network_bucket(address);
    let kind = if known { "known" } else { "new" };
    format!("broker:pending-per-address:{kind}:{bucket}")
}

/// Admitted while `count` is within `max`; the first count past it is the first refusal.
fn within(count: u64, max: u64) -> Result<(), bool> {
    if count <= max {
        Ok(())
    } else {
        Err(count == max + 1)
    }
}

impl PendingLogin {
    /// A new pending login for the browser with cookie `browser_cookie`.
    pub fn new(
        authn: AuthnRequest,
        frontend: FrontendRequest,
        browser_cookie: &str,
        lang: Lang,
        step_up: bool,
    ) -> Self {
        PendingLogin {
            id: token256(),
            authn,
            frontend,
            browser: digest_key(browser_cookie),
            csrf: token256(),
            lang,
            step_up,
            session_upstream: None,
            country: None,
            legal_person: false,
            upstream: None,
        }
    }

    /// The upstreams that can serve this login, in chooser order ([`super::fit::fitting`]).
    pub fn fitting_upstreams<'a>(&self, broker: &'a Broker) -> Vec<&'a Arc<dyn Upstream>> {
        super::fit::fitting(
            &broker.upstreams,
            self.session_upstream.as_deref(),
            broker.registry.requires_cpr(&self.authn.rp),
        )
    }

    /// Counts a new login of the browser with cookie `browser_cookie` from `address`.
    ///
    /// The cookie is the client's choice, so a browser that began no login within
    /// [`UNSTARTED_TTL`] (a fresh or unknown cookie, or none) is counted against its address
    /// ([`MAX_PENDING_PER_ADDRESS`]) before it gets a counter of its own. A browser that did is held
    /// to [`MAX_PENDING_PER_BROWSER`] and to a separate allowance of its address, so that a
    /// cookieless flood from its network does not lock it out. A refusal stores nothing new.
    pub async fn admit(
        broker: &Broker,
        browser_cookie: &str,
        address: IpAddr,
    ) -> Result<Admission, BrokerError> {
        let store = broker.ephemeral.as_ref();
        let browser_key = browser_count_key(browser_cookie);
        let known = store.get(&browser_key).await?.is_some();
        if known {
            let count = store.incr(&browser_key, UNSTARTED_TTL).await?;
            if let Err(first) = within(count, MAX_PENDING_PER_BROWSER) {
                return Ok(Admission::BrowserFull { first });
            }
        }
        let count = store
            .incr(&address_count_key(address, known), UNSTARTED_TTL)
            .await?;
        if let Err(first) = within(count, MAX_PENDING_PER_ADDRESS) {
            return Ok(Admission::AddressFull { first });
        }
        if !known {
            store.incr(&browser_key, UNSTARTED_TTL).await?;
        }
        Ok(Admission::Admitted)
    }

    /// How long it is kept: briefly until the person starts the upstream round trip.
    pub fn ttl(&self) -> Duration {
        if self.upstream.is_some() {
            PENDING_TTL
        } else {
            UNSTARTED_TTL
        }
    }

    /// Saves it.
    pub async fn save(&self, broker: &Broker) -> Result<(), BrokerError> {
        let bytes = serde_json::to_vec(self).map_err(|e| BrokerError::BadRequest(e.to_string()))?;
        broker
            .ephemeral
            .put(&key(&self.id), &bytes, self.ttl())
            .await?;
        Ok(())
    }

    /// Loads it and checks the browser.
    pub async fn load(
        broker: &Broker,
        id: &str,
        browser_cookie: Option<&str>,
    ) -> Result<PendingLogin, BrokerError> {
        if id.is_empty() || id.len() > 64 {
            return Err(BrokerError::Expired);
        }
        let bytes = broker
            .ephemeral
            .get(&key(id))
            .await?
            .ok_or(BrokerError::Expired)?;
        let pending: PendingLogin =
            serde_json::from_slice(&bytes).map_err(|_| BrokerError::Expired)?;
        let browser = browser_cookie.map(digest_key).unwrap_or_default();
        if !bool::from(browser.as_bytes().ct_eq(pending.browser.as_bytes())) {
            return Err(BrokerError::Expired);
        }
        Ok(pending)
    }

    /// Loads it for a form post: also checks the CSRF token.
    pub async fn load_for_form(
        broker: &Broker,
        id: &str,
        browser_cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<PendingLogin, BrokerError> {
        let pending = Self::load(broker, id, browser_cookie).await?;
        match csrf {
            Some(c) if bool::from(c.as_bytes().ct_eq(pending.csrf.as_bytes())) => Ok(pending),
            _ => Err(BrokerError::Csrf),
        }
    }

    /// Remembers which pending login an upstream `state` belongs to.
    pub async fn index_state(&self, broker: &Broker, state: &str) -> Result<(), BrokerError> {
        broker
            .ephemeral
            .put(&state_key(state), self.id.as_bytes(), PENDING_TTL)
            .await?;
        Ok(())
    }

    /// The pending login of an upstream callback's `state`; single use. The browser is checked
    /// before the state is spent, so a `state` presented from another browser burns nothing.
    pub async fn by_state(
        broker: &Broker,
        state: &str,
        browser_cookie: Option<&str>,
    ) -> Result<PendingLogin, BrokerError> {
        if state.is_empty() || state.len() > 256 {
            return Err(BrokerError::Expired);
        }
        let id = broker
            .ephemeral
            .get(&state_key(state))
            .await?
            .ok_or(BrokerError::Expired)?;
        let pending = Self::load(broker, &String::from_utf8_lossy(&id), browser_cookie).await?;
        // This browser's: now spend the state, once (of two concurrent callbacks one wins).
        broker
            .ephemeral
            .take(&state_key(state))
            .await?
            .ok_or(BrokerError::Expired)?;
        Ok(pending)
    }

    /// Ends it.
    pub async fn finish(&self, broker: &Broker) -> Result<bool, BrokerError> {
        Ok(broker.ephemeral.take(&key(&self.id)).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eid_oidc::{AuthorizeRequest, Prompt};

    fn pending() -> PendingLogin {
        let request = AuthorizeRequest {
            client_id: "rp".into(),
            redirect_uri: "https://rp.example/cb".into(),
            state: None,
            nonce: None,
            scopes: vec!["openid".into()],
            acr_min: None,
            prompt: Prompt::Default,
            max_age: None,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            ui_locales: None,
            login_hint: None,
        };
        let authn = AuthnRequest {
            rp: request.client_id.clone(),
            min_loa: None,
            force: false,
            passive: false,
            max_age: None,
        };
        PendingLogin::new(
            authn,
            FrontendRequest::Oidc(Box::new(request)),
            "browser",
            Lang::default(),
            false,
        )
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn an_ipv6_network_is_counted_as_one_address() {
        let key = |a: &str, known| address_count_key(a.parse().unwrap(), known);
        assert_eq!(
            key("2001:db8:1:2::1", false),
            key("2001:db8:1:2:ff::9", false)
        );
        assert_ne!(key("2001:db8:1:2::1", false), key("2001:db8:1:3::1", false));
        assert_eq!(key("::ffff:192.0.2.1", false), key("192.0.2.1", false));
        assert_ne!(key("192.0.2.1", false), key("192.0.2.2", false));
        assert_ne!(key("192.0.2.1", false), key("192.0.2.1", true));
    }

    #[test]
    fn a_login_nobody_started_is_kept_briefly() {
        let p = pending();
        assert_eq!(p.ttl(), UNSTARTED_TTL);
        assert!(UNSTARTED_TTL < PENDING_TTL);
    }

    #[test]
    fn a_pending_login_stays_small_even_with_every_parameter_at_its_cap() {
        use eid_oidc::params::max_len;
        let mut p = pending();
        let FrontendRequest::Oidc(request) = &mut p.frontend else {
            unreachable!("an OIDC login")
        };
        request.state = Some("s".repeat(max_len("state")));
        request.nonce = Some("n".repeat(max_len("nonce")));
        request.login_hint = Some("h".repeat(max_len("login_hint")));
        request.ui_locales = Some("u".repeat(max_len("ui_locales")));
        request.scopes = "openid "
            .repeat(max_len("scope") / 7)
            .split(' ')
            .map(str::to_owned)
            .collect();
        let bytes = serde_json::to_vec(&p).unwrap_or_default();
        assert!(bytes.len() < 8 * 1024, "{} bytes", bytes.len());
    }
}
