//! `GET /my` (the person's own log), `/my/export` (all of it as JSON), `/my/services` (which
//! services received which data) and `/my/not-logged-in`.
//!
//! Each reads the log of the person of the browser's own SSO session, and only with a session at
//! [`my::MIN_LOA`] or higher; otherwise the person logs in (or steps up) through the login core
//! first and comes back. No parameter names a person.

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::my_log::{LogPage, MAX_PAGE, PersonLogQuery, Section};
use eid_core::{AuditOutcome, Lang};
use eid_web::browser::{browser_cookie, client_ip, cookie_value};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::HttpError;
use super::pages::{message, render};
use super::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::core::SsoSession;
use crate::core::decision::{Decision, decide, only_raises_level};
use crate::login::flow::{self, Begun};
use crate::login::pending::Admission;
use crate::login::{Answer, FrontendRequest, PendingLogin};
use crate::my::filter::{BadFilter, LogFilter, PAGE_SIZE};
use crate::my::texts::{MyTexts, texts};
use crate::my::view::{self, Entry};
use crate::my::{self, MyLogRequest};
use crate::oidc::BrokerError;
use crate::state::Broker;

/// One filter choice of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "my.html")]
struct MyPage {
    t: &'static crate::texts::Texts,
    m: &'static MyTexts,
    from: String,
    to: String,
    services: Vec<Choice>,
    sections: Vec<Choice>,
    entries: Vec<Entry>,
    older: Option<String>,
    newest: Option<String>,
    lang_switch: String,
    export: String,
    overview: String,
}

/// One service of the overview.
pub struct ServiceRow {
    pub name: String,
    pub data: String,
    pub times: u64,
    pub last: String,
}

#[derive(Template)]
#[template(path = "my_services.html")]
struct ServicesPage {
    t: &'static crate::texts::Texts,
    m: &'static MyTexts,
    rows: Vec<ServiceRow>,
    back: String,
}

fn lang_of(filter: &LogFilter, headers: &HeaderMap) -> Lang {
    filter.lang.unwrap_or_else(|| {
        Lang::negotiate(
            None,
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    })
}

/// The person's personal data is on these pages: never cached.
fn private(response: Response) -> Response {
    let mut response = response;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The session that may read its log, or the response that logs the person in first.
async fn session_or_login(
    broker: &Broker,
    jar: CookieJar,
    addr: SocketAddr,
    filter: &LogFilter,
    lang: Lang,
) -> Result<Result<(SsoSession, CookieJar), Response>, HttpError> {
    let err = |e: BrokerError| HttpError::new(e, lang);
    let session = SsoSession::find(
        broker.ephemeral.as_ref(),
        cookie_value(&jar, SESSION_COOKIE),
    )
    .await
    .map_err(|e| err(e.into()))?;
    let authn = my::authn();
    let step_up = match decide(&authn, session.as_ref(), broker.now()) {
        Decision::UseSession => {
            if let Some(session) = session {
                return Ok(Ok((session, jar)));
            }
            false
        }
        Decision::Authenticate { step_up, .. } => step_up,
        Decision::LoginRequired => true,
    };
    let (jar, browser) = browser_cookie(
        jar,
        BROWSER_COOKIE,
        broker.config.secure_cookies,
        eid_oidc::random::token256,
    );
    let ip = client_ip(&addr);
    match PendingLogin::admit(broker, &browser, addr.ip().to_canonical())
        .await
        .map_err(err)?
    {
        Admission::Admitted => {}
        _ => {
            let (t, m) = (crate::texts::texts(lang), texts(lang));
            return Ok(Err(message(
                StatusCode::TOO_MANY_REQUESTS,
                t,
                m.unavailable_title,
                m.unavailable,
                "",
            )));
        }
    }
    let session_upstream = session
        .filter(|s| only_raises_level(&authn, s, broker.now()))
        .map(|s| s.identity.person.upstream);
    let request = MyLogRequest {
        lang,
        query: filter.to_query(),
    };
    let mut pending = PendingLogin::new(
        authn,
        FrontendRequest::MyLog(request),
        &browser,
        lang,
        step_up,
    );
    pending.session_upstream = session_upstream;
    let response = match flow::begin(broker, pending, &ip).await.map_err(err)? {
        Begun::Upstream(url) => Redirect::to(url.as_str()).into_response(),
        Begun::Choose(pending) => super::login::chooser(broker, &pending),
        Begun::Refused(Answer::Redirect(url)) => Redirect::to(url.as_str()).into_response(),
        Begun::Refused(_) => {
            return Err(err(BrokerError::BadRequest("no way to log in".into())));
        }
    };
    Ok(Err((jar, response).into_response()))
}

/// A query the page does not understand (a person key in the address among them): refused with
/// a page that says what to do, and audited, on the log of the browser's session's person when
/// there is one (so that they see it too).
async fn refuse_filter(
    broker: &Broker,
    jar: &CookieJar,
    addr: SocketAddr,
    headers: &HeaderMap,
    why: BadFilter,
) -> Response {
    let lang = lang_of(&LogFilter::default(), headers);
    let session = SsoSession::find(broker.ephemeral.as_ref(), cookie_value(jar, SESSION_COOKIE))
        .await
        .ok()
        .flatten();
    let mut event = broker
        .event("my_log.rejected", AuditOutcome::Failure)
        .client(my::MY_LOG_ID)
        .ip(client_ip(&addr))
        .detail("reason", why.0);
    if let Some(session) = session {
        event = event.person(session.identity.audit_id);
    }
    if broker.audit(event).await.is_err() {
        return unavailable(lang);
    }
    let (t, m) = (crate::texts::texts(lang), texts(lang));
    private(message(
        StatusCode::BAD_REQUEST,
        t,
        m.bad_filter_title,
        m.bad_filter_body,
        "",
    ))
}

fn unavailable(lang: Lang) -> Response {
    let (t, m) = (crate::texts::texts(lang), texts(lang));
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        t,
        m.unavailable_title,
        m.unavailable,
        "",
    )
}

/// Reads one page; a store failure is the page's "unavailable".
async fn read(broker: &Broker, query: &PersonLogQuery) -> Option<LogPage> {
    let sources = broker.my_log.as_ref()?;
    match sources.log.person_log(query).await {
        Ok(page) => Some(page),
        Err(e) => {
            tracing::warn!(error = %e, "reading a person's log failed");
            None
        }
    }
}

/// Who reads, with what filter, in which language (an extractor: see its `FromRequestParts`).
pub struct Reader {
    filter: LogFilter,
    lang: Lang,
    session: SsoSession,
    jar: CookieJar,
}

/// The first steps of every log page: the query understood, the log available, and a session that
/// may read it; otherwise the response that refuses the query or logs the person in first.
async fn reader(
    broker: &Broker,
    jar: CookieJar,
    addr: SocketAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Result<Reader, Response>, HttpError> {
    let filter = match LogFilter::parse(query) {
        Ok(f) => f,
        Err(e) => return Ok(Err(refuse_filter(broker, &jar, addr, headers, e).await)),
    };
    let lang = lang_of(&filter, headers);
    if broker.my_log.is_none() {
        return Ok(Err(unavailable(lang)));
    }
    Ok(
        match session_or_login(broker, jar, addr, &filter, lang).await? {
            Ok((session, jar)) => Ok(Reader {
                filter,
                lang,
                session,
                jar,
            }),
            Err(response) => Err(private(response)),
        },
    )
}

/// The extractor form of [`reader`] for the three log pages: a handler that takes a [`Reader`]
/// runs only for a reader; any other request gets [`reader`]'s refusal or login instead.
impl FromRequestParts<Arc<Broker>> for Reader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        broker: &Arc<Broker>,
    ) -> Result<Self, Self::Rejection> {
        let ConnectInfo(addr) = ConnectInfo::<SocketAddr>::from_request_parts(parts, broker)
            .await
            .map_err(IntoResponse::into_response)?;
        let jar = CookieJar::from_headers(&parts.headers);
        match reader(broker, jar, addr, &parts.headers, parts.uri.query()).await {
            Ok(Ok(reader)) => Ok(reader),
            Ok(Err(response)) => Err(response),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// `GET /my`.
pub async fn my_log(
    State(broker): State<Arc<Broker>>,
    Reader {
        filter,
        lang,
        session,
        jar,
    }: Reader,
) -> Result<Response, HttpError> {
    let person = session.identity.audit_id;
    let Some(page) = read(&broker, &filter.query(person, PAGE_SIZE)).await else {
        return Ok(unavailable(lang));
    };
    let names = view::names(&broker, &view::mentioned(&page.events)).await;
    let entries = page
        .events
        .iter()
        .map(|e| view::entry(&broker, lang, &names, e))
        .collect();
    let m = texts(lang);
    let link = |f: &LogFilter, path: &str| {
        let q = f.to_query();
        if q.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{q}")
        }
    };
    let older = page.next.map(|next| {
        link(
            &LogFilter {
                before: Some(next),
                ..filter.clone()
            },
            "/my",
        )
    });
    let newest = filter
        .before
        .is_some()
        .then(|| link(&filter.first_page(), "/my"));
    let other = match lang {
        Lang::Da => Lang::En,
        Lang::En => Lang::Da,
    };
    let lang_switch = link(
        &LogFilter {
            lang: Some(other),
            ..filter.clone()
        },
        "/my",
    );
    let services = broker
        .registry
        .services()
        .into_iter()
        .map(|(id, name)| Choice {
            selected: filter.service.as_deref() == Some(id.as_str()),
            value: id,
            label: name,
        })
        .collect();
    let sections = Section::ALL
        .into_iter()
        .map(|s| Choice {
            value: s.as_str().to_owned(),
            label: view::section_name(m, s).to_owned(),
            selected: filter.section == Some(s),
        })
        .collect();
    let date = |d: Option<time::Date>| {
        d.map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
            .unwrap_or_default()
    };
    let only_lang = LogFilter {
        lang: filter.lang,
        ..LogFilter::default()
    };
    let page = MyPage {
        t: crate::texts::texts(lang),
        m,
        from: date(filter.from),
        to: date(filter.to),
        services,
        sections,
        entries,
        older,
        newest,
        lang_switch,
        export: link(&only_lang, "/my/export"),
        overview: link(&only_lang, "/my/services"),
    };
    Ok(private(
        (jar, render(StatusCode::OK, &page)).into_response(),
    ))
}

/// Every event of the person's log (at most [`my::MAX_EXPORT`]), newest first, and whether
/// there were more.
async fn whole_log(
    broker: &Broker,
    person: uuid::Uuid,
    section: Option<Section>,
) -> Option<(Vec<eid_core::my_log::LoggedEvent>, bool)> {
    let mut query = PersonLogQuery::newest(person, MAX_PAGE);
    query.section = section;
    let mut out = Vec::new();
    loop {
        let page = read(broker, &query).await?;
        out.extend(page.events);
        match page.next {
            Some(next) if out.len() < my::MAX_EXPORT => query.before = Some(next),
            Some(_) => return Some((out, true)),
            None => return Some((out, false)),
        }
    }
}

/// `GET /my/export`: the whole log as a JSON file (the right of access and portability).
pub async fn export(
    State(broker): State<Arc<Broker>>,
    Reader {
        filter: _,
        lang,
        session,
        jar,
    }: Reader,
) -> Result<Response, HttpError> {
    let Some((events, truncated)) = whole_log(&broker, session.identity.audit_id, None).await
    else {
        return Ok(unavailable(lang));
    };
    let events: Vec<Value> = events
        .iter()
        .map(|logged| {
            let e = &logged.event;
            json!({
                "id": e.id,
                "at": e.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                "section": Section::of_event(e).as_str(),
                "kind": e.kind,
                "outcome": e.outcome.as_str(),
                "component": e.component,
                "service": e.client,
                "service_name": e.client.as_deref().map(|c| view::service_name(&broker, lang, c)),
                "network": e.ip.as_deref().and_then(view::coarse_network),
                "details": e.details,
            })
        })
        .collect();
    let body = json!({
        "exported_at": broker.clock.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "complete": !truncated,
        "events": events,
    });
    Ok(private(
        (
            jar,
            [
                (header::CONTENT_TYPE, "application/json"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"my-log.json\"",
                ),
            ],
            body.to_string(),
        )
            .into_response(),
    ))
}

/// `GET /my/services`: which services received which of the person's data, by service.
pub async fn services(
    State(broker): State<Arc<Broker>>,
    Reader {
        filter,
        lang,
        session,
        jar,
    }: Reader,
) -> Result<Response, HttpError> {
    let Some((events, _)) =
        whole_log(&broker, session.identity.audit_id, Some(Section::Releases)).await
    else {
        return Ok(unavailable(lang));
    };
    let m = texts(lang);
    // Newest first: the first event of a service is its last release.
    let mut by_service: BTreeMap<String, (Vec<String>, u64, String)> = BTreeMap::new();
    for logged in &events {
        let e = &logged.event;
        let Some(client) = &e.client else { continue };
        let row = by_service
            .entry(view::service_name(&broker, lang, client))
            .or_insert_with(|| (Vec::new(), 0, eid_web::display::local_time(e.at, lang)));
        row.1 += 1;
        for name in view::released_attributes(m, e) {
            if !row.0.contains(&name) {
                row.0.push(name);
            }
        }
    }
    let rows = by_service
        .into_iter()
        .map(|(name, (data, times, last))| ServiceRow {
            name,
            data: data.join(", "),
            times,
            last,
        })
        .collect();
    let page = ServicesPage {
        t: crate::texts::texts(lang),
        m,
        rows,
        back: match filter.lang {
            Some(l) => format!("/my?lang={}", l.tag()),
            None => "/my".to_owned(),
        },
    };
    Ok(private(
        (jar, render(StatusCode::OK, &page)).into_response(),
    ))
}

#[derive(Template)]
#[template(path = "my_not_logged_in.html")]
struct NotLoggedInPage {
    t: &'static crate::texts::Texts,
    m: &'static MyTexts,
    body: &'static str,
}

/// `GET /my/not-logged-in`: the login for the log did not happen; what to do.
pub async fn not_logged_in(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .take(4)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let lang = get("lang")
        .and_then(Lang::from_tag)
        .unwrap_or_else(|| lang_of(&LogFilter::default(), &headers));
    let m = texts(lang);
    let body = match get("why") {
        Some("cancelled") => m.not_logged_in_cancelled,
        Some("level") => m.not_logged_in_level,
        _ => m.not_logged_in_failed,
    };
    private(render(
        StatusCode::OK,
        &NotLoggedInPage {
            t: crate::texts::texts(lang),
            m,
            body,
        },
    ))
}
