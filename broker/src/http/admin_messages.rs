//! `GET /admin/protocol-messages?peer=…&since=…&limit=…`: the kept signed SAML messages, for
//! operators, behind the admin token like the registry's admin API. Oldest first from `since`
//! (RFC 3339, inclusive; default: everything kept), at most `limit` (default
//! [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]); `peer` is a service's entity ID. A kept assertion
//! may name a person and hold a CPR number, so every read is audited
//! (`admin.protocol_messages_read`) before anything is returned.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use eid_core::protocol_message::MAX_PEER_BYTES;
use eid_core::{AuditOutcome, MessageQuery};
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::admin::authorized;
use crate::state::Broker;

/// Messages returned when no `limit` is given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most messages one request returns.
pub const MAX_LIMIT: u32 = 1000;
/// The longest query accepted.
const MAX_QUERY_BYTES: usize = 4096;

/// Why a query is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query is longer than [`MAX_QUERY_BYTES`].
    #[error("the query is too long")]
    TooLong,
    /// A parameter other than `peer`, `since` and `limit`.
    #[error("unknown parameter (use peer, since, limit)")]
    Unknown,
    /// A parameter given twice.
    #[error("{0} given more than once")]
    Repeated(&'static str),
    /// `peer` empty, too long, or with a control character.
    #[error("peer must be an entity ID of at most {MAX_PEER_BYTES} bytes")]
    Peer,
    /// `since` is not an RFC 3339 time.
    #[error("since must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")]
    Since,
    /// `limit` is not a number from 1 to [`MAX_LIMIT`].
    #[error("limit must be a number from 1 to {MAX_LIMIT}")]
    Limit,
}

/// Parses and bounds the query string (`None`: no query).
pub fn parse_query(raw: Option<&str>) -> Result<MessageQuery, QueryError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong);
    }
    let (mut peer, mut since, mut limit) = (None, None, None);
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let (slot, name) = match name.as_ref() {
            "peer" => (&mut peer, "peer"),
            "since" => (&mut since, "since"),
            "limit" => (&mut limit, "limit"),
            _ => return Err(QueryError::Unknown),
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(QueryError::Repeated(name));
        }
    }
    if peer.as_deref().is_some_and(|p| {
        p.is_empty() || p.len() > MAX_PEER_BYTES || p.chars().any(char::is_control)
    }) {
        return Err(QueryError::Peer);
    }
    let since = match since {
        Some(s) => OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| QueryError::Since)?,
        None => OffsetDateTime::UNIX_EPOCH,
    };
    let limit = match limit {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or(QueryError::Limit)?,
        None => DEFAULT_LIMIT,
    };
    Ok(MessageQuery { peer, since, limit })
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// `GET /admin/protocol-messages`: `{"messages": [...]}`.
pub async fn list(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    let query = match parse_query(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let messages = match broker.protocol_messages.protocol_messages(&query).await {
        Ok(m) => m,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let mut event = broker
        .event("admin.protocol_messages_read", AuditOutcome::Success)
        .detail("messages", messages.len());
    if let Some(peer) = &query.peer {
        event = event.client(peer.clone());
    }
    // Nothing is returned unless the read is on record.
    if let Err(e) = broker.audit(event).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    Json(serde_json::json!({ "messages": messages })).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_and_a_full_query() {
        let q = parse_query(None).unwrap();
        assert_eq!(
            q,
            MessageQuery {
                peer: None,
                since: OffsetDateTime::UNIX_EPOCH,
                limit: DEFAULT_LIMIT
            }
        );
        let q = parse_query(Some(
            "peer=https%3A%2F%2Fsp.example.dk%2Fsaml&since=2026-01-31T12:00:00%2B01:00&limit=1000",
        ))
        .unwrap();
        assert_eq!(q.peer.as_deref(), Some("https://sp.example.dk/saml"));
        assert_eq!(q.since.unix_timestamp(), 1_769_857_200);
        assert_eq!(q.limit, 1000);
    }

    #[test]
    fn every_parameter_is_bounded() {
        let refused = [
            ("limit=0", QueryError::Limit),
            ("limit=1001", QueryError::Limit),
            ("limit=-1", QueryError::Limit),
            ("limit=ten", QueryError::Limit),
            ("since=yesterday", QueryError::Since),
            ("since=2026-01-31", QueryError::Since),
            ("peer=", QueryError::Peer),
            ("peer=a%00b", QueryError::Peer),
            ("peer=a%0Ab", QueryError::Peer),
            ("person=x", QueryError::Unknown),
            ("peer=a&peer=b", QueryError::Repeated("peer")),
            ("limit=1&limit=1", QueryError::Repeated("limit")),
        ];
        for (query, expected) in refused {
            assert_eq!(parse_query(Some(query)), Err(expected), "{query}");
        }
        let long_peer = format!("peer={}", "p".repeat(MAX_PEER_BYTES + 1));
        assert_eq!(parse_query(Some(&long_peer)), Err(QueryError::Peer));
        let long = format!("peer={}", "p".repeat(MAX_QUERY_BYTES));
        assert_eq!(parse_query(Some(&long)), Err(QueryError::TooLong));
    }

    proptest! {
        /// Any query: no panic, and what is accepted is within the bounds.
        #[test]
        fn any_query_is_refused_or_bounded(raw in "[a-z=&%0-9A-F:+T.-]{0,80}") {
            if let Ok(q) = parse_query(Some(&raw)) {
                prop_assert!((1..=MAX_LIMIT).contains(&q.limit));
                prop_assert!(q.peer.as_ref().is_none_or(|p| !p.is_empty()
                    && p.len() <= MAX_PEER_BYTES
                    && !p.chars().any(char::is_control)));
            }
        }
    }
}
