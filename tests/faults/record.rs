//! What the workers saw, as plain data the checks read: every response by operation and kind,
//! every code and refresh token with each attempt to use it, every identity a token named, and
//! every release (a token response with personal data) received.

use std::collections::BTreeMap;
use std::time::Duration;

/// What a worker was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// A step of a password login through the pages (broker, authenticator, back).
    Login,
    /// An authorization code exchanged at the token endpoint.
    Exchange,
    /// A refresh grant.
    Refresh,
    /// A client-credentials grant.
    ClientCredentials,
}

impl Op {
    /// Every operation kind, for recovery (each must succeed again after a fault).
    pub const ALL: [Op; 4] = [Op::Login, Op::Exchange, Op::Refresh, Op::ClientCredentials];

    /// The grant type its token responses are audited under, for those that release personal data.
    pub fn released_as(self) -> Option<&'static str> {
        match self {
            Op::Exchange => Some("authorization_code"),
            Op::Refresh => Some("refresh_token"),
            Op::Login | Op::ClientCredentials => None,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// 2xx, or the redirect a page step expects.
    Ok,
    /// 503 with Retry-After: come back shortly (from a node or from the load balancer).
    Unavailable,
    /// A 4xx: a protocol answer (`invalid_grant`, an expired login transaction, …).
    Protocol,
    /// Cut off: a connection error at the client, or the load balancer's 502 for a node that
    /// went away while it held the request.
    Cut,
    /// No answer within the client's timeout.
    Timeout,
    /// Anything else: a 5xx other than a clean 503 (or a 503 without Retry-After).
    Other,
}

impl Kind {
    /// The table's columns, in order.
    pub const ALL: [Kind; 6] = [
        Kind::Ok,
        Kind::Unavailable,
        Kind::Protocol,
        Kind::Cut,
        Kind::Timeout,
        Kind::Other,
    ];

    /// The kind of an HTTP answer (`from_node`: a node's, not the load balancer's own).
    pub fn of_status(status: u16, retry_after: bool, from_node: bool) -> Kind {
        match status {
            200..=399 => Kind::Ok,
            503 if retry_after => Kind::Unavailable,
            400..=499 => Kind::Protocol,
            502 if !from_node => Kind::Cut,
            _ => Kind::Other,
        }
    }

    /// Its column heading.
    pub fn heading(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::Unavailable => "503+RA",
            Kind::Protocol => "4xx",
            Kind::Cut => "cut",
            Kind::Timeout => "timeout",
            Kind::Other => "other",
        }
    }
}

/// One response (or failure to get one).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// When it ended, since the load started.
    pub at: Duration,
    /// Which worker.
    pub worker: usize,
    /// What it was part of.
    pub op: Op,
    /// How it ended.
    pub kind: Kind,
    /// Status and OAuth error or path, for the report (`400 invalid_grant`).
    pub detail: String,
}

/// One attempt to use a code or a refresh token.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// When it ended.
    pub at: Duration,
    /// How it ended.
    pub kind: Kind,
    /// The OAuth error, if one came back.
    pub error: Option<String>,
    /// The Redis epoch when the attempt was sent ([`GrantUse::issued_epoch`]).
    pub redis_epoch: u32,
}

/// A code or refresh token a worker got, with every attempt to use it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantUse {
    /// Which worker.
    pub worker: usize,
    /// [`Op::Exchange`] or [`Op::Refresh`].
    pub op: Op,
    /// The Redis epoch when the request that created it was sent: the epoch counts up once as a
    /// Redis restart begins and once when the empty server is up, so an odd epoch is a restart
    /// under way.
    pub issued_epoch: u32,
    /// The attempts, in order.
    pub attempts: Vec<Attempt>,
}

/// Who a token named: the `sub` of an ID token a worker received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Which worker.
    pub worker: usize,
    /// The client it was issued to.
    pub client: String,
    /// Its `sub`.
    pub sub: String,
    /// Whether its `nonce` was the one of the worker's own login (`true` when it carries none, as
    /// after a refresh).
    pub nonce_matches: bool,
}

/// Everything recorded in one run.
#[derive(Debug, Default)]
pub struct Log {
    pub responses: Vec<Response>,
    pub grants: Vec<GrantUse>,
    pub identities: Vec<Identity>,
    /// Token responses with personal data received, by (person's stable id, grant type).
    pub releases: BTreeMap<(String, String), usize>,
}
