//! Layers every listener gets: request ids, a tracing span per request, latency metrics, security
//! headers, body limit and timeout.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::metrics::Metrics;

/// The request id header set on every request and echoed on every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest request body any endpoint accepts (SAML POST bindings stay well below).
pub const BODY_LIMIT: usize = 256 * 1024;

/// Longest request target (path and query) any endpoint accepts: more than any legitimate
/// front-channel request needs (a long request goes by PAR or in a POST body), and a bound on what an
/// unauthenticated request can make a handler parse, store or echo.
pub const URI_LIMIT: usize = 8 * 1024;

/// How long a request may take before the server answers 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Which security headers to send.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    /// Send `Strict-Transport-Security` (only outside loopback, where the origin is HTTPS).
    pub hsts: bool,
}

/// Wraps a component router in the common layers.
///
/// The layers are composed into one stack and applied with a single [`Router::layer`]: each
/// `Router::layer` call wraps every route in another boxed service that is cloned, and whose future
/// is boxed, on every request, so six calls cost six of each per request; one `ServiceBuilder` costs
/// one. Outermost first: request id, span, request id echoed, then the URI bound, security headers
/// and latency metric (so that 408 and 413 answers carry the headers too), body limit, timeout.
pub fn common_layers(router: Router, metrics: Metrics, security: SecurityHeaders) -> Router {
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let request_id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // The path only: query strings carry codes and tokens.
            tracing::info_span!(
                "request",
                request_id = %request_id,
                method = %req.method(),
                path = %req.uri().path(),
            )
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        // One middleware for the URI bound, the security headers and the latency metric.
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let metrics = metrics.clone();
            async move {
                let started = Instant::now();
                let response = match refuse_long_uri(&req) {
                    Some(refusal) => refusal,
                    None => next.run(req).await,
                };
                let response = security_headers(response, security);
                metrics.observe_latency(started.elapsed());
                response
            }
        }))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    router.layer(stack)
}

/// The 414 answer to a request target longer than [`URI_LIMIT`], given before any handler reads
/// it; `None` for any other request.
fn refuse_long_uri(req: &Request) -> Option<Response> {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > URI_LIMIT {
        return Some(
            (
                axum::http::StatusCode::URI_TOO_LONG,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "The address is too long. Go back to the service and start again.\n\
                 Adressen er for lang. G\u{e5} tilbage til tjenesten og start forfra.\n",
            )
                .into_response(),
        );
    }
    None
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Adds the security headers to a response.
fn security_headers(mut response: Response, security: SecurityHeaders) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if security.hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn every_response_carries_security_headers_and_a_request_id() {
        let metrics = Metrics::new("t");
        let app = common_layers(
            Router::new().route("/", get(|| async { "hi" })),
            metrics.clone(),
            SecurityHeaders { hsts: true },
        );
        let response = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let h = response.headers();
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(h.contains_key(header::STRICT_TRANSPORT_SECURITY));
        assert!(h.contains_key(&REQUEST_ID));
        assert!(
            metrics
                .render()
                .contains("http_request_duration_seconds_count{component=\"t\"} 1")
        );
    }

    #[tokio::test]
    async fn an_over_long_request_target_is_refused_before_any_handler() {
        let app = common_layers(
            Router::new().route("/", get(|| async { "hi" })),
            Metrics::new("t"),
            SecurityHeaders { hsts: false },
        );
        let at_limit = format!("/?q={}", "a".repeat(URI_LIMIT - 4));
        let response = app
            .clone()
            .oneshot(Request::get(at_limit).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        let over = format!("/?q={}", "a".repeat(URI_LIMIT));
        let response = app
            .oneshot(Request::get(over).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::URI_TOO_LONG);
        assert!(
            response
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
    }

    #[tokio::test]
    async fn no_hsts_on_loopback() {
        let app = common_layers(
            Router::new().route("/", get(|| async { "hi" })),
            Metrics::new("t"),
            SecurityHeaders { hsts: false },
        );
        let response = app
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(
            !response
                .headers()
                .contains_key(header::STRICT_TRANSPORT_SECURITY)
        );
    }
}
