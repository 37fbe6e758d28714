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

    #[tokio::test]
    async fn bounds_hold_for_a_query_and_a_body_alike() {
        let flood: String = (0..=eid_oidc::params::MAX_PARAMS)
            .map(|i| format!("p{i}=1&"))
            .collect();
        let get = Request::get(format!("/authorize?{flood}"))
            .body(Body::empty())
            .unwrap();
        let OAuthParams(p) = OAuthParams::from_request(get, &()).await.unwrap();
        assert!(p.is_err());
        let post = Request::post("/authorize")
            .body(Body::from(format!("state={}", "s".repeat(100_000))))
            .unwrap();
        let OAuthParams(p) = OAuthParams::from_request(post, &()).await.unwrap();
        assert!(p.unwrap_err().description.contains("too long"));
        let binary = Request::post("/authorize")
            .body(Body::from(vec![0xff, 0xfe, b'=', 0x00]))
            .unwrap();
        let OAuthParams(p) = OAuthParams::from_request(binary, &()).await.unwrap();
        assert!(p.is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any body is read as exactly what `RawParams::parse` makes of it (or refused, if not
        /// UTF-8), never a panic.
        #[test]
        fn a_body_reads_as_its_parse(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let OAuthParams(read) = runtime.block_on(async {
                let post = Request::post("/authorize").body(Body::from(body.clone())).unwrap();
                OAuthParams::from_request(post, &()).await.unwrap()
            });
            match std::str::from_utf8(&body) {
                Ok(text) => proptest::prop_assert_eq!(read, RawParams::parse(text)),
                Err(_) => proptest::prop_assert!(read.is_err()),
            }
        }
    }
}
