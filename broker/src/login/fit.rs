//! Which upstreams fit a login: the identity chooser offers them when several do, the broker
//! starts the only one when one does, and the login is refused when none does.

use std::sync::Arc;

use crate::ports::{Upstream, UpstreamKind, Upstreams};

/// The upstreams that can serve a login, in chooser order.
///
/// Every configured upstream fits, except for a login that only raises the level of the browser's
/// session (a step-up, [`crate::core::decision::only_raises_level`]): `session_upstream`, the
/// upstream that vouched for the session's person, is then the only one. Any other upstream vouches
/// for another person key, so a login there could only replace the session, never raise it. When
/// that upstream is no longer configured, the login is a new one and every upstream fits.
///
/// A service that requires a CPR number (`national_only`) is offered only the national upstreams,
/// the ones that know CPR numbers, when there is one: a foreign eID could only end in the refusal
/// page ([`crate::core::login`]), which stays for a session that already holds a foreign identity.
/// Otherwise the attributes a relying party is registered for do not narrow the choice: a
/// registration says what a service *may* receive, not what it requires; nor does the level, since
/// every kind of upstream can reach every level.
pub fn fitting<'a>(
    upstreams: &'a Upstreams,
    session_upstream: Option<&str>,
    national_only: bool,
) -> Vec<&'a Arc<dyn Upstream>> {
    if let Some(own) = session_upstream.and_then(|name| upstreams.get(name)) {
        return vec![own];
    }
    let national: Vec<_> = upstreams
        .iter()
        .filter(|u| u.kind() == UpstreamKind::National)
        .collect();
    if national_only && !national.is_empty() {
        national
    } else {
        upstreams.iter().collect()
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

    /// Upstreams by name: `eidas` is an EU eID upstream, every other a national one.
    fn upstreams(names: &[&'static str]) -> Upstreams {
        Upstreams::new(
            names
                .iter()
                .map(|n| {
                    let kind = if *n == "eidas" {
                        UpstreamKind::EuEid
                    } else {
                        UpstreamKind::National
                    };
                    Arc::new(Named(n, kind)) as Arc<dyn Upstream>
                })
                .collect(),
        )
    }

    fn names(fit: &[&Arc<dyn Upstream>]) -> Vec<String> {
        fit.iter().map(|u| u.name().to_owned()).collect()
    }

    #[test]
    fn every_configured_upstream_fits_a_new_login_in_chooser_order() {
        let two = upstreams(&["mitid", "eidas"]);
        assert_eq!(names(&fitting(&two, None, false)), ["mitid", "eidas"]);
        assert_eq!(
            names(&fitting(&upstreams(&["mitid"]), None, false)),
            ["mitid"]
        );
        assert!(fitting(&upstreams(&[]), None, false).is_empty());
    }

    #[test]
    fn a_step_up_fits_only_the_upstream_of_the_sessions_person() {
        let two = upstreams(&["mitid", "eidas"]);
        assert_eq!(names(&fitting(&two, Some("eidas"), false)), ["eidas"]);
        assert_eq!(names(&fitting(&two, Some("mitid"), false)), ["mitid"]);
    }

    #[test]
    fn a_step_up_from_an_upstream_no_longer_configured_is_a_new_login() {
        let two = upstreams(&["mitid", "eidas"]);
        assert_eq!(
            names(&fitting(&two, Some("gone"), false)),
            ["mitid", "eidas"]
        );
    }

    #[test]
    fn a_service_that_requires_a_cpr_number_is_offered_the_national_upstreams_only() {
        let two = upstreams(&["mitid", "eidas"]);
        assert_eq!(names(&fitting(&two, None, true)), ["mitid"]);
        // Without a national upstream the login goes on, to the explained refusal.
        assert_eq!(
            names(&fitting(&upstreams(&["eidas"]), None, true)),
            ["eidas"]
        );
        // A session's own upstream still decides a step-up.
        assert_eq!(names(&fitting(&two, Some("eidas"), true)), ["eidas"]);
    }
}
