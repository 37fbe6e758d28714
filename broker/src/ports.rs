//! The broker's ports besides the stores: its upstream identity providers and the delivery of
//! back-channel logouts. The flows call these traits; [`crate::adapters`] implements them over HTTP
//! and the component tests put fakes in their place.

use async_trait::async_trait;
use eid_core::Identity;
use std::sync::Arc;
use url::Url;

use eid_oidc::rp::{PendingUpstream, UpstreamError, UpstreamRequest};

/// What kind of identity an upstream vouches for: it decides how the identity chooser shows it and
/// how the person is keyed in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamKind {
    /// The national authenticator (MitID): its subjects are the person register's ids.
    #[default]
    National,
    /// The eIDAS connector: foreign EU citizens with their own national eID.
    EuEid,
}

/// An upstream identity provider, as the login flow sees it.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// Our name for it (in URLs and in person keys).
    fn name(&self) -> &str;
    /// What kind of identities it vouches for.
    fn kind(&self) -> UpstreamKind;
    /// Starts a login: where to send the browser, and what to keep until the callback.
    async fn begin(
        &self,
        request: &UpstreamRequest,
    ) -> Result<(Url, PendingUpstream), UpstreamError>;
    /// Completes a login from the callback's query.
    async fn complete(
        &self,
        pending: &PendingUpstream,
        params: &[(String, String)],
    ) -> Result<Identity, UpstreamError>;
    /// Its logout URL for the login whose upstream session id is `hint`, returning to
    /// `post_logout_redirect_uri`; `None` when it offers none.
    async fn end_session_url(
        &self,
        hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
    ) -> Option<Url>;
}

/// The configured upstreams, in the order the identity chooser shows them.
#[derive(Clone, Default)]
pub struct Upstreams(Vec<Arc<dyn Upstream>>);

impl Upstreams {
    /// The upstreams, in chooser order.
    pub fn new(upstreams: Vec<Arc<dyn Upstream>>) -> Self {
        Upstreams(upstreams)
    }

    /// The upstream called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Upstream>> {
        self.0.iter().find(|u| u.name() == name)
    }

    /// Every upstream, in chooser order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Upstream>> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Delivers back-channel logout tokens to relying parties.
#[async_trait]
pub trait LogoutNotifier: Send + Sync {
    /// POSTs `logout_token` to `uri`; whether the relying party acknowledged it.
    async fn deliver(&self, uri: &str, logout_token: &str) -> bool;

    /// POSTs a SOAP envelope (a signed SAML LogoutRequest) to a service's SOAP single logout
    /// endpoint `uri`; the reply body when it answered with a success status (the broker checks
    /// the LogoutResponse in it). By default nothing is sent.
    async fn deliver_soap(&self, uri: &str, envelope: &str) -> Option<String> {
        let _ = (uri, envelope);
        None
    }
}
