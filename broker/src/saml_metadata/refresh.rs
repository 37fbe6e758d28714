//! The metadata schedule: each service provider registered by URL (configured or stored) is
//! fetched when its interval has passed. A good document replaces the last good one (stored ones
//! over the revision read, so an admin change made meanwhile wins); a failed fetch or check keeps
//! the last good metadata, and is logged, counted and audited.

use eid_core::{AuditOutcome, SamlSpRegistration, StoreError, StoredSamlSp};
use time::OffsetDateTime;

use super::{MetadataFetcher, MetadataProblem, MetadataSource, check_fetched};
use crate::registry::{RegisteredSp, SpDetails, UrlSpState, prepare_saml};
use crate::state::Broker;

/// What one refresh of a service provider's metadata did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// A good document that differs from the last good one replaced it.
    Updated,
    /// A good document, the same as the last good one.
    Unchanged,
    /// The fetch or a check failed (why); the last good metadata stays.
    Failed(String),
    /// The stored registration changed (or went) while fetching; nothing was written.
    Superseded,
}

/// Fetches `source` and checks the document for `entity_id` with `details` at `now`: the
/// metadata to keep and the registration it makes.
pub async fn fetch_checked(
    fetcher: &MetadataFetcher,
    source: &MetadataSource,
    entity_id: &str,
    details: &SpDetails,
    now: OffsetDateTime,
) -> Result<(String, RegisteredSp), MetadataProblem> {
    let xml = fetcher.fetch(&source.url).await?;
    let kept = check_fetched(&xml, source, entity_id, now)?;
    let sp = prepare_saml(&details.with_metadata(&kept), now)
        .map_err(|e| MetadataProblem::Invalid(e.problem))?;
    Ok((kept, sp))
}

/// Refreshes every configured and stored service provider whose metadata URL is due at `now`;
/// returns what each refresh did, by entity ID.
pub async fn refresh_due(
    broker: &Broker,
    fetcher: &MetadataFetcher,
    now: OffsetDateTime,
) -> Result<Vec<(String, Refreshed)>, StoreError> {
    let mut done = Vec::new();
    for state in broker.registry.configured_url_sps() {
        let (fetched_at, failed) = state.fetched.map_or((None, false), |(at, f)| (Some(at), f));
        if state.sp.source.is_due(fetched_at, failed, now) {
            let outcome = refresh_configured(broker, fetcher, &state, now).await;
            done.push((state.sp.entity_id.clone(), outcome));
        }
    }
    let mut stored_changed = false;
    for stored in broker.saml_service_providers.saml_sps().await? {
        let Some(url) = &stored.registration.metadata_url else {
            continue;
        };
        let due = match MetadataSource::new(
            &url.url,
            url.anchor_certificate.as_deref(),
            Some(url.refresh_interval_secs),
        ) {
            Ok(source) => source.is_due(url.fetched_at, url.last_error.is_some(), now),
            // A source that no longer passes the rules is reported by `refresh_stored`, at the
            // failure interval.
            Err(_) => url
                .fetched_at
                .is_none_or(|at| now - at >= super::RETRY_AFTER_FAILURE),
        };
        if due {
            let outcome = refresh_stored(broker, fetcher, &stored, now).await?;
            stored_changed |= outcome != Refreshed::Superseded;
            done.push((stored.registration.entity_id.clone(), outcome));
        }
    }
    if stored_changed {
        broker
            .registry
            .refresh_saml(broker.saml_service_providers.as_ref(), now)
            .await?;
    }
    Ok(done)
}

/// Refreshes one configured service provider's metadata now.
pub async fn refresh_configured(
    broker: &Broker,
    fetcher: &MetadataFetcher,
    state: &UrlSpState,
    now: OffsetDateTime,
) -> Refreshed {
    let sp = &state.sp;
    match fetch_checked(fetcher, &sp.source, &sp.entity_id, &sp.details, now).await {
        Ok((_, registered)) => {
            let unchanged = broker
                .registry
                .saml(&sp.entity_id)
                .is_some_and(|current| current.sp == registered.sp && current.rp == registered.rp);
            broker
                .registry
                .record_configured_fetch(&sp.entity_id, now, Some(registered));
            let outcome = if unchanged {
                Refreshed::Unchanged
            } else {
                Refreshed::Updated
            };
            report(broker, &sp.entity_id, &outcome, "configuration").await;
            outcome
        }
        Err(problem) => {
            broker
                .registry
                .record_configured_fetch(&sp.entity_id, now, None);
            let outcome = Refreshed::Failed(problem.to_string());
            report(broker, &sp.entity_id, &outcome, "configuration").await;
            outcome
        }
    }
}

/// Refreshes one stored service provider's metadata now: the registration is written back over
/// the revision read, with the new metadata or with the failure recorded.
pub async fn refresh_stored(
    broker: &Broker,
    fetcher: &MetadataFetcher,
    stored: &StoredSamlSp,
    now: OffsetDateTime,
) -> Result<Refreshed, StoreError> {
    let registration = &stored.registration;
    let Some(url) = &registration.metadata_url else {
        return Ok(Refreshed::Unchanged);
    };
    let fetched = match MetadataSource::new(
        &url.url,
        url.anchor_certificate.as_deref(),
        Some(url.refresh_interval_secs),
    ) {
        Ok(source) => {
            fetch_checked(
                fetcher,
                &source,
                &registration.entity_id,
                &SpDetails::of(registration),
                now,
            )
            .await
        }
        Err(e) => Err(MetadataProblem::Invalid(e.to_string())),
    };
    let mut next: SamlSpRegistration = registration.clone();
    let outcome = match fetched {
        Ok((kept, _)) if kept == registration.metadata => Refreshed::Unchanged,
        Ok((kept, _)) => {
            next.metadata = kept;
            Refreshed::Updated
        }
        Err(problem) => Refreshed::Failed(problem.to_string()),
    };
    if let Some(next_url) = &mut next.metadata_url {
        next_url.fetched_at = Some(now);
        next_url.last_error = match &outcome {
            Refreshed::Failed(why) => Some(why.clone()),
            _ => None,
        };
    }
    if !broker
        .saml_service_providers
        .replace_saml_sp(&next, stored.revision)
        .await?
    {
        return Ok(Refreshed::Superseded);
    }
    report(broker, &registration.entity_id, &outcome, "admin").await;
    Ok(outcome)
}

/// Logs, counts and (for a change or a failure) audits one refresh.
async fn report(broker: &Broker, entity_id: &str, outcome: &Refreshed, registered_by: &str) {
    let label = match outcome {
        Refreshed::Updated => "updated",
        Refreshed::Unchanged => "unchanged",
        Refreshed::Failed(_) => "failed",
        Refreshed::Superseded => "superseded",
    };
    broker.metrics.inc(
        "broker_saml_metadata_refreshes_total",
        "Fetches of SAML service providers' metadata URLs, by outcome.",
        &[("outcome", label)],
    );
    let event = match outcome {
        Refreshed::Updated => {
            tracing::info!(entity_id, "SAML service provider metadata updated");
            broker.event("saml.metadata_updated", AuditOutcome::Success)
        }
        Refreshed::Failed(why) => {
            tracing::warn!(
                entity_id,
                problem = %why,
                "SAML service provider metadata refresh failed; keeping the last good metadata"
            );
            broker
                .event("saml.metadata_refresh_failed", AuditOutcome::Failure)
                .detail("reason", why.as_str())
        }
        Refreshed::Unchanged | Refreshed::Superseded => return,
    };
    let event = event
        .client(entity_id)
        .detail("registered_by", registered_by);
    if let Err(e) = broker.audit(event).await {
        tracing::warn!(error = %e, "could not audit a SAML metadata refresh");
    }
}
