//! Rendering pages and OAuth error responses, the same way in every component.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use eid_oidc::{ErrorCode, OAuthError};

/// Renders an askama template, or a plain 500 when rendering itself fails (a bug, logged). A 503
/// page (a store outage) says when to come back, like the OAuth JSON errors: `Retry-After: 1`.
pub fn render(status: StatusCode, page: &impl askama::Template) -> Response {
    match page.render() {
        Ok(html) if status == StatusCode::SERVICE_UNAVAILABLE => (
            status,
            [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
            Html(html),
        )
            .into_response(),
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// An OAuth error as JSON (token, userinfo, PAR, revocation, introspection endpoints), with the
/// status its code calls for, `Cache-Control: no-store`, and `WWW-Authenticate` on a 401.
pub fn oauth_json(e: &OAuthError, realm: &'static str) -> Response {
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, Json(e.to_json())).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Overload or a store outage: come back shortly (RFC 9110 §10.2.3).
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if e.code == ErrorCode::InvalidToken {
            HeaderValue::from_static("Bearer error=\"invalid_token\"")
        } else {
            HeaderValue::from_str(&format!("Basic realm=\"{realm}\""))
                .unwrap_or(HeaderValue::from_static("Basic"))
        };
        h.insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_with_a_basic_challenge_and_no_store() {
        let r = oauth_json(&OAuthError::invalid_client("nope"), "idp");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"idp\"");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let r = oauth_json(&OAuthError::invalid_grant("used"), "idp");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn temporarily_unavailable_is_503_with_retry_after() {
        let r = oauth_json(
            &OAuthError::new(ErrorCode::TemporarilyUnavailable, "busy"),
            "broker",
        );
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    #[derive(askama::Template)]
    #[template(source = "<p>{{ text }}</p>", ext = "html")]
    struct Plain<'a> {
        text: &'a str,
    }

    #[test]
    fn an_unavailable_page_says_when_to_come_back_and_no_other_page_does() {
        let r = render(StatusCode::SERVICE_UNAVAILABLE, &Plain { text: "down" });
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = render(StatusCode::BAD_REQUEST, &Plain { text: "expired" });
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
