//! Which upstreams fit a login: the identity chooser offers them when several do, the broker
//! starts the only one when one does, and the login is refused when none does.

use std::sync::Arc;

use crate::ports::{Upstream, Upstreams};

/// The upstreams that can serve a login, in chooser order.
///
/// Every configured upstream fits, except for a login that only raises the level of the browser's
/// session (a step-up, [`crate::core::decision::only_raises_level`]): `session_upstream`, the
/// upstream that vouched for the session's person, is then the only one. Any other upstream vouches
/// for another person key, so a login there could only replace the session, never raise it. When
/// that upstream is no longer configured, the login is a new one and every upstream fits.
///
/// The attributes a relying party is registered for do not narrow the choice: a registration says
/// what a service *may* receive (the CPR number only from the national authenticator), not what it
/// requires; nor does the level, since every kind of upstream can reach every level.
pub fn fitting<'a>(
    upstreams: &'a Upstreams,
    session_upstream: Option<&str>,
) -> Vec<&'a Arc<dyn Upstream>> {
    match session_upstream.and_then(|name| upstreams.get(name)) {
        Some(own) => vec![own],
        None => upstreams.iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::UpstreamKind;
    use async_trait::async_trait;
    use eid_core::Identity;
    use eid_oidc::rp::{PendingUpstream, UpstreamError, UpstreamRequest};
    use url::Url;

    struct Named(&'static str, UpstreamKind);

    #[async_trait]
    impl Upstream for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn kind(&self) -> UpstreamKind {
            self.1
        }
        async fn begin(
            &self,
            _: &UpstreamRequest,
        ) -> Result<(Url, PendingUpstream), UpstreamError> {
            Err(UpstreamError::StateMismatch)
        }
        async fn complete(
            &self,
            _: &PendingUpstream,
            _: &[(String, String)],
        ) -> Result<Identity, UpstreamError> {
            Err(UpstreamError::StateMismatch)
        }
        async fn end_session_url(&self, _: Option<&str>, _: Option<&str>) -> Option<Url> {
            None
        }
    }

    fn upstreams(names: &[&'static str]) -> Upstreams {
        Upstreams::new(
            names
                .iter()
                .map(|n| Arc::new(Named(n, UpstreamKind::National)) as Arc<dyn Upstream>)
                .collect(),
        )
    }

    fn names(fit: &[&Arc<dyn Upstream>]) -> Vec<String> {
        fit.iter().map(|u| u.name().to_owned()).collect()
    }

    #[test]
    fn every_configured_upstream_fits_a_new_login_in_chooser_order() {
        let two = upstreams(&["mitid", "eidas"]);
        assert_eq!(names(&fitting(&two, None)), ["mitid", "eidas"]);
        assert_eq!(names(&fitting(&upstreams(&["mitid"]), None)), ["mitid"]);
        assert!(fitting(&upstreams(&[]), None).is_empty());
    }

    #[test]
    fn a_step_up_fits_only_the_upstream_of_the_sessions_person() {
        let two = upstreams(&["mitid", "eidas"]);
        assert_eq!(names(&fitting(&two, Some("eidas"))), ["eidas"]);
        assert_eq!(names(&fitting(&two, Some("mitid"))), ["mitid"]);
    }

    #[test]
    fn a_step_up_from_an_upstream_no_longer_configured_is_a_new_login() {
        let two = upstreams(&["mitid", "eidas"]);
        assert_eq!(names(&fitting(&two, Some("gone"))), ["mitid", "eidas"]);
    }
}
