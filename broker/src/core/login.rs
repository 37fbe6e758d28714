//! The login transaction's decisive step: what a person's successful upstream login leads to, for
//! any frontend. The frontend that began the login answers the outcome in its own protocol.

use eid_core::{Identity, Loa, Mandate, MandateLookup, RelyingParty, ServiceRef, StoreError};
use time::OffsetDateTime;

use super::decision::{AfterLogin, AuthnRequest, after_login};
use super::session::SsoSession;

/// Why a login that succeeded upstream cannot answer the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The upstream authenticated the person below the level the relying party asked for.
    LevelNotReached {
        /// What was asked.
        required: Loa,
        /// What this login achieved.
        achieved: Loa,
    },
    /// The relying party needs a CPR number and the person has none (a foreign eID login).
    CprRequired,
}

/// What happens next.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginStep {
    /// Answer the relying party with the person themselves.
    Authenticated,
    /// The person holds mandates at this relying party: let them choose whom they act for
    /// (themselves included) before answering.
    ChooseRepresentation(Vec<Mandate>),
    /// Answer the relying party with an error.
    Rejected(Rejection),
}

/// A completed login: the browser's session after it, and the next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// The session to keep, and this login as it alone proves it.
    pub after: AfterLogin,
    /// What to do with the request.
    pub step: LoginStep,
}

/// The step of answering `rp` with `login` (a login just completed, or the session for single
/// sign-on): refused when `rp` needs a CPR number the person does not have, or below the
/// requested level; a choice when the person holds mandates at a relying party that accepts
/// representation (never for an eIDAS person: mandates need a CPR number); else the person
/// themselves.
pub async fn next_step(
    mandates: &dyn MandateLookup,
    authn: &AuthnRequest,
    rp: &RelyingParty,
    login: &SsoSession,
    now: OffsetDateTime,
) -> Result<LoginStep, StoreError> {
    let achieved = login.loa;
    if rp.requires_cpr && login.identity.cpr.is_none() {
        return Ok(LoginStep::Rejected(Rejection::CprRequired));
    }
    Ok(match authn.min_loa {
        Some(required) if achieved < required => {
            LoginStep::Rejected(Rejection::LevelNotReached { required, achieved })
        }
        _ if rp.representation && login.identity.eidas_id.is_none() => {
            let found = super::representation::offerable(
                mandates
                    .mandates(
                        &login.identity,
                        ServiceRef {
                            id: &rp.id,
                            areas: &rp.service_areas,
                        },
                        now,
                    )
                    .await?,
            );
            if found.is_empty() {
                LoginStep::Authenticated
            } else {
                LoginStep::ChooseRepresentation(found)
            }
        }
        _ => LoginStep::Authenticated,
    })
}

/// Completes a login of `identity` for `authn` from relying party `rp`, given the browser's
/// `existing` session. The session continues (never lower) or starts anew whatever the step, since
/// the person did log in; only the answer to this request depends on the step.
pub async fn complete(
    mandates: &dyn MandateLookup,
    authn: &AuthnRequest,
    rp: &RelyingParty,
    existing: Option<SsoSession>,
    identity: Identity,
    now: OffsetDateTime,
) -> Result<Completed, StoreError> {
    let after = after_login(existing, identity);
    let step = next_step(mandates, authn, rp, &after.this_login, now).await?;
    Ok(Completed { after, step })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_core::{Access, MandateKind, NoMandates, Principal, RpRegistration};
    use std::sync::Mutex;

    struct Holds(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl MandateLookup for Holds {
        async fn mandates(
            &self,
            agent: &Identity,
            service: ServiceRef<'_>,
            _at: OffsetDateTime,
        ) -> Result<Vec<Mandate>, StoreError> {
            self.0
                .lock()
                .unwrap()
                .push(format!("{}@{}", agent.person.subject, service.id));
            Ok(vec![Mandate {
                id: "m".into(),
                kind: MandateKind::BusinessRight,
                principal: Principal::Organisation {
                    cvr: "12345678".into(),
                    name: "Firma".into(),
                },
                access: Access::Act,
                scopes: vec!["rp".into()],
                privileges: Vec::new(),
                valid_until: None,
            }])
        }
    }

    fn rp(representation: bool) -> RelyingParty {
        rp_with(representation, false)
    }

    fn rp_with(representation: bool, requires_cpr: bool) -> RelyingParty {
        let doc: RpRegistration = serde_json::from_value(serde_json::json!({
            "client_id": "rp", "client_name": "RP", "token_endpoint_auth_method": "client_secret_basic",
            "sector": "s", "accepts_representation": representation, "requires_cpr": requires_cpr,
        }))
        .unwrap();
        RelyingParty::try_from(doc).unwrap()
    }

    fn authn(min_loa: Option<Loa>) -> AuthnRequest {
        AuthnRequest {
            rp: "rp".into(),
            min_loa,
            force: false,
            passive: false,
            max_age: None,
        }
    }

    async fn run(
        lookup: &dyn MandateLookup,
        rp: &RelyingParty,
        min: Option<Loa>,
        loa: Loa,
    ) -> Completed {
        let identity = Identity::for_test("agent", loa, 10);
        complete(
            lookup,
            &authn(min),
            rp,
            None,
            identity,
            OffsetDateTime::UNIX_EPOCH,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_login_below_the_requested_level_is_rejected_but_still_a_session() {
        let done = run(&NoMandates, &rp(false), Some(Loa::High), Loa::Substantial).await;
        assert_eq!(
            done.step,
            LoginStep::Rejected(Rejection::LevelNotReached {
                required: Loa::High,
                achieved: Loa::Substantial
            })
        );
        assert_eq!(done.after.session.loa, Loa::Substantial);
    }

    #[tokio::test]
    async fn mandates_are_looked_up_only_for_relying_parties_that_accept_representation() {
        let lookup = Holds(Mutex::new(Vec::new()));
        let done = run(&lookup, &rp(false), None, Loa::Substantial).await;
        assert_eq!(done.step, LoginStep::Authenticated);
        assert!(lookup.0.lock().unwrap().is_empty());
        let done = run(&lookup, &rp(true), None, Loa::Substantial).await;
        assert!(matches!(done.step, LoginStep::ChooseRepresentation(m) if m.len() == 1));
        assert_eq!(*lookup.0.lock().unwrap(), vec!["agent@rp".to_owned()]);
        let done = run(&NoMandates, &rp(true), None, Loa::Substantial).await;
        assert_eq!(done.step, LoginStep::Authenticated);
    }

    fn foreigner() -> Identity {
        let mut identity = Identity::for_test("XA/DK/1", Loa::Substantial, 10);
        identity.person.upstream = "eidas".into();
        identity.eidas_id = Some(eid_core::EidasIdentity {
            person_identifier: eid_core::PersonIdentifier::parse("XA/DK/1").unwrap(),
            country: "XA".into(),
            given_name_native: None,
            family_name_native: None,
            legal_person: None,
        });
        identity
    }

    async fn step(lookup: &dyn MandateLookup, rp: &RelyingParty, identity: Identity) -> LoginStep {
        complete(
            lookup,
            &authn(None),
            rp,
            None,
            identity,
            OffsetDateTime::UNIX_EPOCH,
        )
        .await
        .unwrap()
        .step
    }

    #[tokio::test]
    async fn a_service_that_requires_a_cpr_number_refuses_a_person_without_one() {
        let needs = rp_with(false, true);
        assert_eq!(
            step(&NoMandates, &needs, foreigner()).await,
            LoginStep::Rejected(Rejection::CprRequired)
        );
        let mut dane = Identity::for_test("agent", Loa::Substantial, 10);
        assert_eq!(
            step(&NoMandates, &needs, dane.clone()).await,
            LoginStep::Rejected(Rejection::CprRequired),
            "no CPR number released, none to give"
        );
        dane.cpr = Some(eid_core::Cpr::parse("0101701234").unwrap());
        assert_eq!(
            step(&NoMandates, &needs, dane).await,
            LoginStep::Authenticated
        );
        assert_eq!(
            step(&NoMandates, &rp(false), foreigner()).await,
            LoginStep::Authenticated
        );
    }

    #[tokio::test]
    async fn an_eidas_person_is_never_offered_representation() {
        let lookup = Holds(Mutex::new(Vec::new()));
        assert_eq!(
            step(&lookup, &rp(true), foreigner()).await,
            LoginStep::Authenticated
        );
        assert!(lookup.0.lock().unwrap().is_empty(), "not even looked up");
    }
}
