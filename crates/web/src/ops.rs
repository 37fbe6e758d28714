//! Operations endpoints every listener serves: `/healthz`, `/readyz` and `/metrics`.

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use eid_core::{DurableHealth, EphemeralStore};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;

/// How long one readiness check may take before it counts as failed.
pub const READINESS_TIMEOUT: Duration = Duration::from_millis(1500);

/// Something `/readyz` must find answering: a store, an upstream.
#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// The name shown in the 503 body (`ephemeral`, `durable`).
    fn name(&self) -> &str;
    /// `Ok` when it answers; the error is shown to operators (never a secret).
    async fn check(&self) -> Result<(), String>;
}

/// Readiness of an ephemeral store.
pub struct EphemeralReady(pub Arc<dyn EphemeralStore>);

#[async_trait]
impl ReadinessCheck for EphemeralReady {
    fn name(&self) -> &str {
        "ephemeral_store"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// Readiness of a durable store.
pub struct DurableReady(pub Arc<dyn DurableHealth>);

#[async_trait]
impl ReadinessCheck for DurableReady {
    fn name(&self) -> &str {
        "durable_store"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// Set when the node is about to stop: `/readyz` fails from then on, while requests are still
/// served, so that a load balancer takes the node out of rotation first.
#[derive(Debug, Clone, Default)]
pub struct Draining(pub Arc<std::sync::atomic::AtomicBool>);

impl Draining {
    /// From now on, the node is not ready.
    pub fn start(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[async_trait]
impl ReadinessCheck for Draining {
    fn name(&self) -> &str {
        "shutdown"
    }
    async fn check(&self) -> Result<(), String> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) {
            Err("stopping: finishing what it holds".to_owned())
        } else {
            Ok(())
        }
    }
}

#[derive(Clone)]
struct OpsState {
    checks: Arc<[Arc<dyn ReadinessCheck>]>,
    metrics: Metrics,
}

/// The operations routes, to be merged into a component's router.
pub fn ops_router<S>(checks: Vec<Arc<dyn ReadinessCheck>>, metrics: Metrics) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(OpsState {
            checks: checks.into(),
            metrics,
        })
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "alive" }))
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let results = futures_join_all(state.checks.iter().cloned().map(|check| async move {
        let outcome = match tokio::time::timeout(READINESS_TIMEOUT, check.check()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {READINESS_TIMEOUT:?}")),
        };
        (check.name().to_owned(), outcome)
    }))
    .await;
    let failures: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .filter_map(|(name, outcome)| outcome.err().map(|e| (name, e.into())))
        .collect();
    if failures.is_empty() {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
            .into_response()
    } else {
        tracing::warn!(reasons = ?failures, "not ready");
        state.metrics.inc(
            "readiness_failures_total",
            "Readiness checks that failed.",
            &[],
        );
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "reasons": failures })),
        )
            .into_response()
    }
}

async fn metrics_text(State(state): State<OpsState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(value) = handle.await {
            out.push(value);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    struct Fixed(&'static str, Result<(), String>);

    #[async_trait]
    impl ReadinessCheck for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        async fn check(&self) -> Result<(), String> {
            self.1.clone()
        }
    }

    struct Hangs;

    #[async_trait]
    impl ReadinessCheck for Hangs {
        fn name(&self) -> &str {
            "hangs"
        }
        async fn check(&self) -> Result<(), String> {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
    }

    async fn get_status(router: Router, path: &str) -> (StatusCode, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn ready_when_every_check_answers() {
        let router: Router = ops_router(vec![Arc::new(Fixed("a", Ok(())))], Metrics::new("t"));
        assert_eq!(
            get_status(router.clone(), "/readyz").await.0,
            StatusCode::OK
        );
        assert_eq!(get_status(router, "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn not_ready_names_the_failing_check() {
        let router: Router = ops_router(
            vec![
                Arc::new(Fixed("a", Ok(()))),
                Arc::new(Fixed("redis", Err("down".into()))),
            ],
            Metrics::new("t"),
        );
        let (status, body) = get_status(router, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"redis\":\"down\""), "{body}");
    }

    #[tokio::test]
    async fn a_hanging_check_fails_within_the_timeout() {
        let router: Router = ops_router(vec![Arc::new(Hangs)], Metrics::new("t"));
        let started = std::time::Instant::now();
        let (status, _) = get_status(router, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let router: Router = ops_router(vec![], Metrics::new("t"));
        let (status, body) = get_status(router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("# TYPE http_request_duration_seconds histogram"));
    }
}
