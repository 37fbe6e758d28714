//! A browser-less client for component tests that call a component's router in-process
//! (`oneshot`): it keeps cookies, claims a socket address (`ConnectInfo`), sends extra headers and
//! hands back the status, the `Location` and the body of each answer.
//!
//! For tests only: behind the `testing` feature, which only dev-dependencies enable. The helpers
//! panic with a message when something a test relies on is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tower::ServiceExt;
use url::Url;

/// The largest body [`send`] reads (4 MiB).
const BODY_LIMIT: usize = 1 << 22;

/// A browser: its cookies, its socket address and extra headers sent with every request.
#[derive(Debug, Clone)]
pub struct Client {
    /// The cookies it holds, by name.
    pub cookies: BTreeMap<String, String>,
    /// The peer address the component sees (`ConnectInfo`).
    pub addr: SocketAddr,
    /// Headers added to every request (replacing one of the same name).
    pub headers: Vec<(&'static str, String)>,
}

impl Client {
    /// A browser at 192.0.2.1:50000 without cookies.
    pub fn new() -> Client {
        Client::at("192.0.2.1:50000")
    }

    /// A browser at `addr` (`ip:port`) without cookies.
    ///
    /// # Panics
    /// When `addr` is no socket address.
    pub fn at(addr: &str) -> Client {
        Client {
            cookies: BTreeMap::new(),
            addr: addr
                .parse()
                .unwrap_or_else(|e| panic!("client address {addr:?}: {e}")),
            headers: Vec::new(),
        }
    }

    /// Whether the browser holds a cookie called `name`.
    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

/// An answer: its status, its `Location` and its body (lossily decoded as UTF-8).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// The value of the input named `name` in the page (`name="…" value="…"`), or else of a
    /// `data-<name>` attribute.
    ///
    /// # Panics
    /// When the page holds neither.
    pub fn input(&self, name: &str) -> String {
        for pattern in [
            format!("name=\"{name}\" value=\""),
            format!("data-{name}=\""),
        ] {
            if let Some(start) = self.body.find(&pattern) {
                let rest = &self.body[start + pattern.len()..];
                let end = rest
                    .find('"')
                    .unwrap_or_else(|| panic!("unterminated {name} in {}", self.body));
                return rest[..end].to_owned();
            }
        }
        panic!("no {name} in {}", self.body)
    }

    /// The query parameter `name` of the redirect target, a relative `Location` resolved against
    /// `base`. `None` without a `Location`, when it is no URL or when it lacks the parameter.
    pub fn location_param(&self, base: &str, name: &str) -> Option<String> {
        let location = self.location.as_deref()?;
        let url = Url::parse(location)
            .or_else(|_| Url::parse(base).and_then(|base| base.join(location)))
            .ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Sends `request` to `router` as `client`: claims the client's address, sends its cookies and
/// extra headers, then keeps the cookies the answer sets (and drops those it clears with an empty
/// value or `Max-Age=0`).
///
/// # Panics
/// When the router fails, a header is not representable or the body exceeds 4 MiB.
pub async fn send(router: &Router, client: &mut Client, mut request: Request<Body>) -> Reply {
    request.extensions_mut().insert(ConnectInfo(client.addr));
    if !client.cookies.is_empty() {
        let cookies = client
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        request.headers_mut().insert(
            header::COOKIE,
            cookies.parse().expect("the cookies as a header value"),
        );
    }
    for (name, value) in &client.headers {
        request.headers_mut().insert(
            *name,
            value
                .parse()
                .unwrap_or_else(|e| panic!("header {name}: {value:?}: {e}")),
        );
    }
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    for set in response.headers().get_all(header::SET_COOKIE) {
        let set = set.to_str().expect("a visible-ASCII Set-Cookie");
        let pair = set.split(';').next().unwrap_or_default();
        let (name, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("a Set-Cookie without a value: {set}"));
        if value.is_empty() || set.contains("Max-Age=0") {
            client.cookies.remove(name);
        } else {
            client.cookies.insert(name.to_owned(), value.to_owned());
        }
    }
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().expect("a visible-ASCII Location").to_owned());
    let body = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
        .await
        .expect("a body of at most 4 MiB");
    Reply {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `GET path` as `client`.
pub async fn get(router: &Router, client: &mut Client, path: &str) -> Reply {
    let request = Request::get(path)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    send(router, client, request).await
}

/// `POST path` with `form` (`application/x-www-form-urlencoded`) as `client`.
pub async fn post(
    router: &Router,
    client: &mut Client,
    path: &str,
    form: &[(&str, &str)],
) -> Reply {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    send(router, client, request).await
}

/// `POST path` with `json` (`application/json`) as `client`.
pub async fn post_json(
    router: &Router,
    client: &mut Client,
    path: &str,
    json: &serde_json::Value,
) -> Reply {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json.to_string()))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    send(router, client, request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use axum::routing::get as route_get;

    fn router() -> Router {
        Router::new()
            .route(
                "/set",
                route_get(|| async {
                    (
                        [
                            (header::SET_COOKIE, "a=1; Path=/"),
                            (header::LOCATION, "/next?x=1&y=two"),
                        ],
                        "<input name=\"tx\" value=\"t-1\"><div data-csrf=\"c-1\">",
                    )
                        .into_response()
                }),
            )
            .route(
                "/clear",
                route_get(|request: Request<Body>| async move {
                    let sent = request
                        .headers()
                        .get(header::COOKIE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    ([(header::SET_COOKIE, "a=; Max-Age=0")], sent).into_response()
                }),
            )
    }

    #[tokio::test]
    async fn keeps_sends_and_clears_cookies_and_reads_the_answer() {
        let router = router();
        let mut client = Client::new();
        let set = get(&router, &mut client, "/set").await;
        assert_eq!(set.status, 200);
        assert!(client.has_cookie("a"));
        assert_eq!(set.input("tx"), "t-1");
        assert_eq!(set.input("csrf"), "c-1");
        assert_eq!(
            set.location_param("http://localhost", "y").as_deref(),
            Some("two")
        );
        assert_eq!(set.location_param("http://localhost", "z"), None);
        let cleared = get(&router, &mut client, "/clear").await;
        assert_eq!(cleared.body, "a=1");
        assert!(!client.has_cookie("a"));
    }
}
