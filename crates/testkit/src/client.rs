//! A browser-like HTTP client: keeps cookies, does not follow redirects by itself (tests look at
//! each hop), and reads the hidden fields of forms.

use reqwest::header::LOCATION;
use reqwest::{Client, Response, StatusCode};

/// One browser: its own cookie jar.
#[derive(Debug, Clone)]
pub struct Browser {
    /// The underlying client.
    pub http: Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// A page as the browser got it.
#[derive(Debug, Clone)]
pub struct Page {
    /// Final URL.
    pub url: String,
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: String,
}

impl Page {
    /// The value of the first `<input name="{name}" value="…">` on the page.
    pub fn input(&self, name: &str) -> Option<String> {
        input_value(&self.body, name)
    }

    /// Like [`Page::input`], but panics with the page when absent.
    pub fn must_input(&self, name: &str) -> String {
        self.input(name).unwrap_or_else(|| {
            panic!(
                "no input {name:?} on {} ({}):\n{}",
                self.url, self.status, self.body
            )
        })
    }

    /// The value of a `data-{attr}="…"` attribute.
    pub fn data(&self, attr: &str) -> Option<String> {
        let needle = format!("data-{attr}=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')?;
        Some(html_unescape(&self.body[start..start + end]))
    }

    /// The `href` of the link with this id (`<a … id="{id}" href="…">`).
    pub fn href(&self, id: &str) -> Option<String> {
        let needle = format!("id=\"{id}\" href=\"");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('"')?;
        Some(html_unescape(&self.body[start..start + end]))
    }

    /// Text of the element with this id.
    pub fn by_id(&self, id: &str) -> Option<String> {
        let needle = format!("id=\"{id}\">");
        let start = self.body.find(&needle)? + needle.len();
        let end = self.body[start..].find('<')?;
        Some(html_unescape(&self.body[start..start + end]))
    }
}

/// Reads `<input … name="{name}" value="…">` from HTML.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')?;
    Some(html_unescape(&html[start..start + end]))
}

fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Browser {
    /// A fresh browser with an empty cookie jar.
    pub fn new() -> Self {
        let http = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Browser { http }
    }

    async fn page(response: Response) -> Page {
        let url = response.url().to_string();
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Page { url, status, body }
    }

    /// GET a URL; returns the response without following redirects.
    pub async fn get_raw(&self, url: &str) -> Response {
        self.http.get(url).send().await.expect("GET")
    }

    /// POST a form; returns the response without following redirects.
    pub async fn post_raw(&self, url: &str, form: &[(&str, &str)]) -> Response {
        self.http.post(url).form(form).send().await.expect("POST")
    }

    /// Follows redirects from `response` until a page is reached or the next hop would leave the
    /// stack (a URL starting with `stop_at`), whose location is then returned as the page URL.
    pub async fn follow(&self, mut response: Response, stop_at: &str) -> Page {
        for _ in 0..20 {
            if !response.status().is_redirection() {
                return Self::page(response).await;
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .expect("redirect without Location")
                .to_owned();
            let next = response
                .url()
                .join(&location)
                .expect("bad Location")
                .to_string();
            if next.starts_with(stop_at) {
                return Page {
                    url: next,
                    status: response.status(),
                    body: String::new(),
                };
            }
            response = self.get_raw(&next).await;
        }
        panic!("too many redirects");
    }

    /// GET and follow redirects (stopping before `stop_at`).
    pub async fn get(&self, url: &str, stop_at: &str) -> Page {
        let r = self.get_raw(url).await;
        self.follow(r, stop_at).await
    }

    /// POST a form and follow redirects (stopping before `stop_at`).
    pub async fn post(&self, url: &str, form: &[(&str, &str)], stop_at: &str) -> Page {
        let r = self.post_raw(url, form).await;
        self.follow(r, stop_at).await
    }
}
