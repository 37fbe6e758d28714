//! OAuth request parameters from the query string (GET) or a form body (POST), as one extractor, so
//! an endpoint that accepts both methods has one handler.

use axum::extract::{FromRequest, Request};
use axum::http::Method;
use eid_oidc::{OAuthError, RawParams};

/// The request's parameters, or why they could not be read (repeated parameter, not UTF-8). The
/// handler decides how to answer a failure (an error page, usually).
pub struct OAuthParams(pub Result<RawParams, OAuthError>);

impl<S: Send + Sync> FromRequest<S> for OAuthParams {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            let query = req.uri().query().unwrap_or_default().to_owned();
            return Ok(OAuthParams(RawParams::parse(&query)));
        }
        let body = axum::body::to_bytes(req.into_body(), crate::layers::BODY_LIMIT).await;
        Ok(OAuthParams(match body {
            Ok(bytes) => std::str::from_utf8(&bytes)
                .map_err(|_| OAuthError::invalid_request("body is not UTF-8"))
                .and_then(RawParams::parse),
            Err(_) => Err(OAuthError::invalid_request("body too large")),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[tokio::test]
    async fn reads_the_query_of_a_get_and_the_body_of_a_post() {
        let get = Request::get("/authorize?client_id=a&state=s")
            .body(Body::empty())
            .unwrap();
        let OAuthParams(p) = OAuthParams::from_request(get, &()).await.unwrap();
        assert_eq!(p.unwrap().get("client_id"), Some("a"));
        let post = Request::post("/authorize")
            .body(Body::from("client_id=b"))
            .unwrap();
        let OAuthParams(p) = OAuthParams::from_request(post, &()).await.unwrap();
        assert_eq!(p.unwrap().get("client_id"), Some("b"));
        let repeated = Request::get("/authorize?a=1&a=2")
            .body(Body::empty())
            .unwrap();
        let OAuthParams(p) = OAuthParams::from_request(repeated, &()).await.unwrap();
        assert!(p.is_err());
    }
}
