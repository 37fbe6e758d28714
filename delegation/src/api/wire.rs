//! The API's JSON: request bodies parsed and checked into the registry's inputs, and the views it
//! answers with. Parties are shown by name (and an organisation by CVR number); CPR numbers are
//! taken as input to name the other party but never answered back.

use axum::http::{HeaderMap, header};
use eid_core::{Access, Cpr, Cvr, MandateState, Party, Privilege, Scope, StateChange};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;
use crate::registry::{
    AgentRef, Confirmation, GrantDraft, GrantInput, MandateView, PowerInput, RequestInput,
    RightInput,
};

/// Largest request body read.
pub const MAX_BODY: usize = 16 * 1024;
/// The default and the largest `limit` of a listing.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit` of a listing.
pub const MAX_LIMIT: u32 = 200;

/// Parses a JSON request body (the content type must say JSON), naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
        });
    if !json {
        return Err(ApiError::NotJson);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError::BadRequest(if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        })
    })
}

/// A scope as the API writes it: `{"service": "<relying party id>"}` or `{"area": "<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScopeBody {
    /// One relying party.
    Service(String),
    /// A service area.
    Area(String),
}

fn scopes(body: Vec<ScopeBody>) -> Result<Vec<Scope>, ApiError> {
    body.into_iter()
        .enumerate()
        .map(|(i, s)| {
            match s {
                ScopeBody::Service(n) => Scope::service(&n),
                ScopeBody::Area(n) => Scope::area(&n),
            }
            .map_err(|e| ApiError::BadRequest(format!("scopes[{i}]: {e}")))
        })
        .collect()
}

/// Who is to hold a power of attorney: `{"cpr": …}` (a person) or `{"cvr": …}` (an organisation).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentBody {
    /// A person, by CPR number.
    Cpr(Cpr),
    /// An organisation, by CVR number.
    Cvr(Cvr),
}

/// A person named by CPR number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonBody {
    /// Their CPR number.
    pub cpr: Cpr,
}

/// An organisation named by CVR number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationBody {
    /// Its CVR number.
    pub cvr: Cvr,
}

/// `POST /api/grants`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// Who is to hold it.
    pub agent: AgentBody,
    /// What it covers.
    pub scopes: Vec<ScopeBody>,
    /// `read` or `act`.
    pub access: Access,
    /// From when (default: now).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub valid_from: Option<OffsetDateTime>,
    /// Until when.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
}

impl GrantBody {
    /// The registry's input.
    pub fn into_input(self) -> Result<GrantInput, ApiError> {
        Ok(GrantInput {
            agent: match self.agent {
                AgentBody::Cpr(c) => AgentRef::Person(c),
                AgentBody::Cvr(c) => AgentRef::Organisation(c),
            },
            scopes: scopes(self.scopes)?,
            access: self.access,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        })
    }
}

/// `POST /api/requests`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// Who is asked to give it.
    pub principal: PersonBody,
    /// What it is to cover.
    pub scopes: Vec<ScopeBody>,
    /// `read` or `act`.
    pub access: Access,
    /// From when (default: from the approval).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub valid_from: Option<OffsetDateTime>,
    /// Until when.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
}

impl RequestBody {
    /// The registry's input.
    pub fn into_input(self) -> Result<RequestInput, ApiError> {
        Ok(RequestInput {
            principal: self.principal.cpr,
            scopes: scopes(self.scopes)?,
            access: self.access,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        })
    }
}

/// `POST /api/confirmations`: the draft's id and digest as prepared.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The draft's id.
    pub draft: String,
    /// The draft's digest.
    pub digest: String,
}

impl ConfirmBody {
    /// The registry's confirmation.
    pub fn into_confirmation(self) -> Result<Confirmation, ApiError> {
        Confirmation::parse(&self.draft, &self.digest).ok_or_else(|| {
            ApiError::BadRequest(
                "draft is the draft's id (a UUID) and digest its 64 lower-case hex digits".into(),
            )
        })
    }
}

/// `POST /api/organisations/{cvr}/rights`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RightBody {
    /// The employee.
    pub employee: PersonBody,
    /// Services or areas (none only for an administrator right).
    #[serde(default)]
    pub scopes: Vec<ScopeBody>,
    /// Privileges (URIs).
    #[serde(default)]
    pub privileges: Vec<Privilege>,
    /// `read` or `act`.
    pub access: Access,
    /// Whether it makes the employee an administrator.
    #[serde(default)]
    pub administrator: bool,
    /// Until when (default: until revoked).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
}

impl RightBody {
    /// The registry's input for organisation `cvr`.
    pub fn into_input(self, cvr: Cvr) -> Result<RightInput, ApiError> {
        Ok(RightInput {
            organisation: cvr,
            employee: self.employee.cpr,
            scopes: scopes(self.scopes)?,
            privileges: self.privileges,
            access: self.access,
            administrator: self.administrator,
            valid_until: self.valid_until,
        })
    }
}

/// `POST /api/organisations/{cvr}/powers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerBody {
    /// The organisation that is to hold it.
    pub agent: OrganisationBody,
    /// What it covers.
    pub scopes: Vec<ScopeBody>,
    /// `read` or `act`.
    pub access: Access,
    /// Until when (default: until revoked).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub valid_until: Option<OffsetDateTime>,
}

impl PowerBody {
    /// The registry's input for principal organisation `cvr`.
    pub fn into_input(self, cvr: Cvr) -> Result<PowerInput, ApiError> {
        Ok(PowerInput {
            principal: cvr,
            agent: self.agent.cvr,
            scopes: scopes(self.scopes)?,
            access: self.access,
            valid_until: self.valid_until,
        })
    }
}

/// The query of a listing: `limit` (1 to [`MAX_LIMIT`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// How many at most.
    pub limit: Option<u32>,
}

impl ListQuery {
    /// The limit, checked.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::BadRequest(format!(
                "limit: between 1 and {MAX_LIMIT}"
            ))),
        }
    }
}

/// The query of an organisation's listing: `side` (`given` or `held`) and `limit`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationQuery {
    /// `given` (its employees' rights and its powers) or `held` (powers it holds); default given.
    pub side: Option<SideParam>,
    /// How many at most.
    pub limit: Option<u32>,
}

/// A listing's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideParam {
    /// What it gave.
    Given,
    /// What it holds.
    Held,
}

fn time(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::String).unwrap_or(Value::Null)
}

fn party(p: &Party) -> Value {
    match p {
        Party::Person(p) => json!({ "type": "person", "name": p.name }),
        Party::Organisation(o) => json!({ "type": "organisation", "cvr": o.cvr, "name": o.name }),
    }
}

fn scope(s: &Scope) -> Value {
    match s {
        Scope::Service(n) => json!({ "service": n }),
        Scope::Area(n) => json!({ "area": n }),
    }
}

/// A mandate as a party sees it.
pub fn mandate(v: &MandateView) -> Value {
    let m = &v.record;
    json!({
        "id": m.id,
        "kind": m.kind.as_str(),
        "state": v.state.as_str(),
        "principal": party(&m.principal),
        "agent": party(&m.agent),
        "scopes": m.scopes.iter().map(scope).collect::<Vec<_>>(),
        "privileges": m.privileges,
        "access": m.access.as_str(),
        "administrator": m.administrator,
        "valid_from": time(m.valid_from),
        "valid_until": m.valid_until.map(time),
        "created_at": time(m.created_at),
        "revision": m.revision,
    })
}

/// A list of mandates.
pub fn mandates(list: &[MandateView]) -> Value {
    json!({ "mandates": list.iter().map(mandate).collect::<Vec<_>>() })
}

/// A mandate's history.
pub fn history(list: &[StateChange]) -> Value {
    Value::Array(
        list.iter()
            .map(|c| {
                json!({
                    "revision": c.revision,
                    "state": c.state.as_str(),
                    "by": c.by.as_ref().map(|a| a.name.clone()),
                    "at": time(c.at),
                })
            })
            .collect(),
    )
}

/// A draft to show and confirm, with what to send to `POST /api/confirmations`.
pub fn draft(d: &GrantDraft, expires_at: OffsetDateTime) -> Value {
    json!({
        "draft": d.id,
        "digest": d.digest,
        "approves_request": d.approves_revision.is_some(),
        "principal": { "type": "person", "name": d.principal.name },
        "agent": party(&d.agent),
        "scopes": d.scopes.iter().map(scope).collect::<Vec<_>>(),
        "access": d.access.as_str(),
        "valid_from": time(d.valid_from),
        "valid_until": time(d.valid_until),
        "needs_acceptance": d.needs_acceptance,
        "prepared_at": time(d.prepared_at),
        "expires_at": time(expires_at),
        "confirm": { "draft": d.id, "digest": d.digest },
    })
}

/// What awaits the caller's answer: grants to accept, requests to approve.
pub fn pending(held: &[MandateView], given: &[MandateView]) -> Value {
    let of = |list: &[MandateView], state: MandateState| {
        list.iter()
            .filter(|v| v.state == state)
            .map(mandate)
            .collect::<Vec<_>>()
    };
    json!({
        "to_accept": of(held, MandateState::Pending),
        "to_approve": of(given, MandateState::Requested),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h
    }

    #[test]
    fn a_grant_body_becomes_the_registrys_input() {
        let body =
            br#"{"agent":{"cpr":"0107709991"},"scopes":[{"service":"demo-rp"},{"area":"housing"}],
                        "access":"act","valid_until":"2026-07-10T12:00:00Z"}"#;
        let g: GrantBody = parse_json(&json_headers(), body).unwrap();
        let input = g.into_input().unwrap();
        assert_eq!(
            input.agent,
            AgentRef::Person(Cpr::parse("0107709991").unwrap())
        );
        assert_eq!(
            input.scopes,
            vec![
                Scope::service("demo-rp").unwrap(),
                Scope::area("housing").unwrap()
            ]
        );
    }

    #[test]
    fn malformed_bodies_name_the_field_at_fault() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"agent":{"cpr":"12"},"scopes":[],"access":"act","valid_until":"2026-07-10T12:00:00Z"}"#, "agent.cpr"),
            (br#"{"agent":{"cpr":"0107709991"},"scopes":[{"rp":"x"}],"access":"act","valid_until":"2026-07-10T12:00:00Z"}"#, "scopes[0]"),
            (br#"{"agent":{"cpr":"0107709991"},"scopes":[],"access":"all","valid_until":"2026-07-10T12:00:00Z"}"#, "access"),
            (br#"{"agent":{"cpr":"0107709991"},"scopes":[],"access":"act","valid_until":"soon"}"#, "valid_until"),
            (br#"{"agent":{"cpr":"0107709991"},"scopes":[],"access":"act","valid_until":"2026-07-10T12:00:00Z","x":1}"#, "x"),
        ];
        for (body, field) in cases {
            match parse_json::<GrantBody>(&json_headers(), body) {
                Err(ApiError::BadRequest(d)) => assert!(d.contains(field), "{d} / {field}"),
                other => panic!("{other:?}"),
            }
        }
        let bad_scope = br#"{"agent":{"cpr":"0107709991"},"scopes":[{"service":" x"}],"access":"act","valid_until":"2026-07-10T12:00:00Z"}"#;
        let g: GrantBody = parse_json(&json_headers(), bad_scope).unwrap();
        assert!(
            matches!(g.into_input(), Err(ApiError::BadRequest(d)) if d.starts_with("scopes[0]"))
        );
        assert!(matches!(
            parse_json::<GrantBody>(&HeaderMap::new(), b"{}"),
            Err(ApiError::NotJson)
        ));
    }

    #[test]
    fn listing_limits_are_bounded() {
        assert_eq!(ListQuery { limit: None }.limit().unwrap(), DEFAULT_LIMIT);
        assert_eq!(
            ListQuery {
                limit: Some(MAX_LIMIT)
            }
            .limit()
            .unwrap(),
            MAX_LIMIT
        );
        assert!(ListQuery { limit: Some(0) }.limit().is_err());
        assert!(
            ListQuery {
                limit: Some(MAX_LIMIT + 1)
            }
            .limit()
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn any_body_is_parsed_or_refused_as_bad_input(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let h = json_headers();
            for r in [
                parse_json::<GrantBody>(&h, &body).and_then(GrantBody::into_input).map(|_| ()),
                parse_json::<RequestBody>(&h, &body).and_then(RequestBody::into_input).map(|_| ()),
                parse_json::<ConfirmBody>(&h, &body).and_then(ConfirmBody::into_confirmation).map(|_| ()),
                parse_json::<RightBody>(&h, &body).map(|_| ()),
                parse_json::<PowerBody>(&h, &body).map(|_| ()),
            ] {
                if let Err(e) = r {
                    prop_assert!(matches!(e, ApiError::BadRequest(_)));
                }
            }
        }

        #[test]
        fn scope_names_are_checked_like_the_registrys(name in "\\PC{0,30}", area in any::<bool>()) {
            let body = if area { ScopeBody::Area(name.clone()) } else { ScopeBody::Service(name.clone()) };
            let ours = scopes(vec![body]).is_ok();
            let registry = if area { Scope::area(&name).is_ok() } else { Scope::service(&name).is_ok() };
            prop_assert_eq!(ours, registry);
        }
    }
}
