//! App approval with number matching. The login page shows a two-digit number; the person's app (a
//! page at the authenticator on a paired device) shows the pending request with the service name
//! and approves only when the person enters the same number. Requests expire.
//!
//! A device is paired by a one-time pairing code made in self-service; the device then holds a
//! secret (a cookie), of which the authenticator stores only the SHA-256.

use eid_core::{AuditOutcome, Authenticator, AuthenticatorKind, Loa, Person};
use eid_oidc::random::{digest_key, token256};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::IdpError;
use super::complete::complete;
use super::login::{Enrolment, Failure, LoginResult};
use super::tx::LoginTx;
use crate::state::Idp;

/// How long a pairing code is valid.
pub const PAIRING_TTL: Duration = Duration::from_secs(600);

/// Most approval requests sent to one person's app within [`APP_REQUEST_WINDOW`]: anyone who knows
/// a user ID can start one, and a flood of them ("push bombing") wears a person down until they
/// approve one by mistake.
pub const MAX_APP_REQUESTS: u64 = 5;
/// See [`MAX_APP_REQUESTS`].
pub const APP_REQUEST_WINDOW: Duration = Duration::from_secs(600);

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the app.
    Pending,
    /// Approved in the app with the right number.
    Approved,
    /// Refused in the app (or a wrong number was entered).
    Refused,
    /// Expired or unknown.
    Expired,
}

/// A pending approval request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Identifier.
    pub id: String,
    /// Whose device must approve.
    pub person: Uuid,
    /// The number shown on the login page.
    pub number: u8,
    /// The service the person is logging in to.
    pub service: String,
    /// Where it stands.
    pub status: Status,
    /// When it was made (Unix seconds).
    pub created: i64,
    /// The level the login asks for, shown on the phone so the person can check it.
    #[serde(default)]
    pub level: Option<Loa>,
}

impl ApprovalRequest {
    /// Seconds left before the request expires, on the authenticator's clock.
    pub fn seconds_left(&self, idp: &Idp) -> u64 {
        let ttl = i64::try_from(idp.config.app_request_ttl.as_secs()).unwrap_or(i64::MAX);
        let left = self
            .created
            .saturating_add(ttl)
            .saturating_sub(idp.clock.now().unix_timestamp());
        u64::try_from(left).unwrap_or(0)
    }

    /// A short tag that stands for the request on the app's page, so that the page can tell when
    /// the request waiting for it changed ([`DeviceStatus`]) without being given the id.
    pub fn tag(&self) -> String {
        digest_key(&format!("app-page:{}", self.id))
            .chars()
            .take(16)
            .collect()
    }

    /// Where it stands now: a pending request past its expiry (on the authenticator's clock) is
    /// expired even while the store still holds it.
    pub fn status_now(&self, idp: &Idp) -> Status {
        if self.status == Status::Pending && self.seconds_left(idp) == 0 {
            Status::Expired
        } else {
            self.status
        }
    }
}

/// What the device is told after it answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Approved with the right number.
    Approved,
    /// Refused by the person.
    Refused,
    /// A wrong number: the request is refused and cannot be retried.
    WrongNumber,
    /// The request had already been approved.
    AlreadyApproved,
    /// The request had already been refused.
    AlreadyRefused,
    /// Expired, unknown or not this device's.
    Expired,
}

fn request_key(id: &str) -> String {
    format!("idp:app-req:{id}")
}
/// The device's answer to a request, written once ([`EphemeralStore::put_if_absent`]): of an
/// approval and a refusal racing, exactly one is stored, and the other is told it came too late.
///
/// [`EphemeralStore::put_if_absent`]: eid_core::EphemeralStore::put_if_absent
fn answer_key(id: &str) -> String {
    format!("idp:app-answer:{id}")
}
fn pending_key(person: Uuid) -> String {
    format!("idp:app-pending:{person}")
}
fn pairing_key(person: Uuid) -> String {
    format!("idp:app-pairing:{person}")
}

fn random_number() -> u8 {
    let mut b = [0u8; 1];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    10 + b[0] % 90
}

async fn save(idp: &Idp, req: &ApprovalRequest, ttl: Duration) -> Result<(), IdpError> {
    let bytes = serde_json::to_vec(req).map_err(|e| IdpError::BadRequest(e.to_string()))?;
    idp.ephemeral
        .put(&request_key(&req.id), &bytes, ttl)
        .await?;
    Ok(())
}

/// Loads a request by id, with the device's answer if it has given one.
pub async fn load(idp: &Idp, id: &str) -> Result<Option<ApprovalRequest>, IdpError> {
    let Some(mut req) = idp
        .ephemeral
        .get(&request_key(id))
        .await?
        .and_then(|b| serde_json::from_slice::<ApprovalRequest>(&b).ok())
    else {
        return Ok(None);
    };
    if let Some(answer) = answer(idp, id).await? {
        req.status = answer;
    }
    Ok(Some(req))
}

/// The device's answer to request `id`, once given (approved or refused).
async fn answer(idp: &Idp, id: &str) -> Result<Option<Status>, IdpError> {
    Ok(idp
        .ephemeral
        .get(&answer_key(id))
        .await?
        .and_then(|b| serde_json::from_slice::<Status>(&b).ok())
        .filter(|s| matches!(s, Status::Approved | Status::Refused)))
}

/// Starts an approval request for the transaction's person; returns it, or `NotEnrolled`.
pub async fn start(
    idp: &Idp,
    tx: &mut LoginTx,
    service: &str,
    level: Option<Loa>,
) -> Result<Result<ApprovalRequest, Failure>, IdpError> {
    let Some(enrolment) = Enrolment::of_tx(idp, tx).await? else {
        return Err(IdpError::TxExpired);
    };
    if enrolment.find(AuthenticatorKind::App).is_none() {
        return Ok(Err(Failure::NotEnrolled));
    }
    let sent = idp
        .ephemeral
        .incr(
            &format!("idp:app-requests:{}", enrolment.person.id),
            APP_REQUEST_WINDOW,
        )
        .await?;
    if sent > MAX_APP_REQUESTS {
        idp.audit(
            idp.event("app.request_limited", AuditOutcome::Failure)
                .person(enrolment.person.id),
        )
        .await?;
        return Ok(Err(Failure::AppRateLimited));
    }
    let req = ApprovalRequest {
        id: token256(),
        person: enrolment.person.id,
        number: random_number(),
        service: service.to_owned(),
        status: Status::Pending,
        created: idp.clock.now().unix_timestamp(),
        level,
    };
    save(idp, &req, idp.config.app_request_ttl).await?;
    idp.ephemeral
        .put(
            &pending_key(req.person),
            req.id.as_bytes(),
            idp.config.app_request_ttl,
        )
        .await?;
    tx.app_request = Some(req.id.clone());
    tx.save(idp).await?;
    Ok(Ok(req))
}

/// The status of the transaction's request, for the waiting login page.
pub async fn status(idp: &Idp, tx: &LoginTx) -> Result<Status, IdpError> {
    let Some(id) = &tx.app_request else {
        return Ok(Status::Expired);
    };
    Ok(load(idp, id)
        .await?
        .map_or(Status::Expired, |r| r.status_now(idp)))
}

/// Finishes the login once the app approved. The request is taken (atomically), so it completes
/// one login; the answer it is finished on is the one written once by [`respond`].
pub async fn finish(
    idp: &Idp,
    tx: &LoginTx,
    previous_session: Option<&str>,
    ip: &str,
) -> Result<Result<LoginResult, Status>, IdpError> {
    let Some(id) = &tx.app_request else {
        return Ok(Err(Status::Expired));
    };
    let current = status(idp, tx).await?;
    if current != Status::Approved {
        return Ok(Err(current));
    }
    let Some(bytes) = idp.ephemeral.take(&request_key(id)).await? else {
        return Ok(Err(Status::Expired));
    };
    let req: ApprovalRequest =
        serde_json::from_slice(&bytes).map_err(|e| IdpError::BadRequest(e.to_string()))?;
    let answered = answer(idp, id).await?.unwrap_or(req.status);
    idp.ephemeral.delete(&answer_key(id)).await?;
    let Some(enrolment) = Enrolment::of_tx(idp, tx).await? else {
        return Err(IdpError::TxExpired);
    };
    if req.person != enrolment.person.id || answered != Status::Approved {
        return Ok(Err(Status::Expired));
    }
    let (completion, session_cookie) = complete(
        idp,
        tx,
        &enrolment.person,
        AuthenticatorKind::App,
        previous_session,
        ip,
    )
    .await?;
    Ok(Ok(LoginResult::Done {
        completion,
        session_cookie,
    }))
}

// ---------------------------------------------------------------------------------------------
// The device side.

/// A paired device, identified by its cookie.
#[derive(Debug, Clone)]
pub struct Device {
    /// The person it belongs to.
    pub person: Person,
    /// Its authenticator record.
    pub authenticator: Authenticator,
}

/// Makes a one-time pairing code for a logged-in person (shown once in self-service).
pub async fn new_pairing_code(idp: &Idp, person: Uuid) -> Result<String, IdpError> {
    let mut digits = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut digits);
    let code: String = digits.iter().map(|d| char::from(b'0' + d % 10)).collect();
    idp.ephemeral
        .put(
            &pairing_key(person),
            digest_key(&code).as_bytes(),
            PAIRING_TTL,
        )
        .await?;
    Ok(code)
}

/// Pairs a device: user ID plus pairing code. Returns the device cookie value.
pub async fn pair(
    idp: &Idp,
    user_id: &str,
    code: &str,
    label: &str,
    ip: &str,
) -> Result<Option<String>, IdpError> {
    let Some(person) = idp.persons.person_by_user_id(user_id.trim()).await? else {
        idp.config
            .lockout
            .record_failure(idp.ephemeral.as_ref(), None, ip)
            .await?;
        return Ok(None);
    };
    // Counted before the code is compared, so parallel guesses cannot outrun the lock.
    let Ok(attempt) = idp
        .config
        .lockout
        .begin(idp.ephemeral.as_ref(), Some(person.id), ip)
        .await?
    else {
        return Ok(None);
    };
    let expected = idp.ephemeral.get(&pairing_key(person.id)).await?;
    let presented = digest_key(code.trim());
    let matches = expected.is_some_and(|e| bool::from(e.as_slice().ct_eq(presented.as_bytes())));
    if !matches {
        attempt
            .failed(&idp.config.lockout, idp.ephemeral.as_ref())
            .await?;
        idp.audit(
            idp.event("app.pairing_failed", AuditOutcome::Failure)
                .person(person.id)
                .ip(ip),
        )
        .await?;
        return Ok(None);
    }
    attempt
        .succeeded(&idp.config.lockout, idp.ephemeral.as_ref())
        .await?;
    if idp.ephemeral.take(&pairing_key(person.id)).await?.is_none() {
        return Ok(None);
    }
    let secret = token256();
    let authenticator = Authenticator {
        id: Uuid::new_v4(),
        person: person.id,
        kind: AuthenticatorKind::App,
        label: label.to_owned(),
        secret: digest_key(&secret).into_bytes(),
        created_at: idp.clock.now(),
        last_used_at: None,
    };
    idp.authenticators.add_authenticator(&authenticator).await?;
    super::account::record(
        idp,
        person.id,
        "authenticator.added",
        Some(AuthenticatorKind::App),
        Some(ip),
    )
    .await?;
    Ok(Some(format!(
        "{}.{}.{}",
        person.id, authenticator.id, secret
    )))
}

/// The device a cookie belongs to, if it is still enrolled.
pub async fn device(idp: &Idp, cookie: Option<&str>) -> Result<Option<Device>, IdpError> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let mut parts = cookie.splitn(3, '.');
    let (Some(person), Some(auth), Some(secret)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let (Ok(person_id), Ok(auth_id)) = (Uuid::parse_str(person), Uuid::parse_str(auth)) else {
        return Ok(None);
    };
    let presented = digest_key(secret);
    let authenticator = idp
        .authenticators
        .authenticators(person_id)
        .await?
        .into_iter()
        .find(|a| a.id == auth_id && a.kind == AuthenticatorKind::App)
        .filter(|a| bool::from(a.secret.as_slice().ct_eq(presented.as_bytes())));
    let Some(authenticator) = authenticator else {
        return Ok(None);
    };
    let Some(person) = idp.persons.person(person_id).await? else {
        return Ok(None);
    };
    Ok(Some(Device {
        person,
        authenticator,
    }))
}

/// The request waiting for this device, if any.
pub async fn pending_for(idp: &Idp, device: &Device) -> Result<Option<ApprovalRequest>, IdpError> {
    let Some(id) = idp.ephemeral.get(&pending_key(device.person.id)).await? else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    Ok(load(idp, &id)
        .await?
        .filter(|r| r.status_now(idp) == Status::Pending))
}

/// What the app's page polls: the request waiting for this device (as its [`tag`]) and its seconds
/// left. Nothing about other devices, the person or the service.
///
/// [`tag`]: ApprovalRequest::tag
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    /// The tag of the pending request, if one waits.
    pub request: Option<String>,
    /// Its seconds left (0 when none waits).
    pub seconds_left: u64,
}

/// The [`DeviceStatus`] of a paired device: three small store reads, no
/// durable one.
pub async fn device_status(idp: &Idp, device: &Device) -> Result<DeviceStatus, IdpError> {
    let pending = pending_for(idp, device).await?;
    Ok(DeviceStatus {
        request: pending.as_ref().map(ApprovalRequest::tag),
        seconds_left: pending.map_or(0, |r| r.seconds_left(idp)),
    })
}

/// The device's answer: approve with the number the person entered, or refuse. A wrong number
/// refuses the request (number matching defeats approving a stranger's request by habit).
pub async fn respond(
    idp: &Idp,
    device: &Device,
    request_id: &str,
    approve: bool,
    number: Option<&str>,
) -> Result<Answer, IdpError> {
    let Some(mut req) = load(idp, request_id).await? else {
        idp.audit(
            idp.event("app.request_expired", AuditOutcome::Failure)
                .person(device.person.id)
                .detail("at", "device"),
        )
        .await?;
        return Ok(Answer::Expired);
    };
    if req.person != device.person.id {
        // Another person's device answering this request: refused and logged for both.
        idp.audit(
            idp.event("app.foreign_device", AuditOutcome::Failure)
                .person(req.person)
                .detail("device_person", device.person.id.to_string())
                .detail("device", device.authenticator.id.to_string()),
        )
        .await?;
        return Ok(Answer::Expired);
    }
    match req.status {
        Status::Pending => {}
        Status::Approved => return Ok(Answer::AlreadyApproved),
        Status::Refused => return Ok(Answer::AlreadyRefused),
        Status::Expired => return Ok(Answer::Expired),
    }
    let number_ok = number
        .and_then(|n| n.trim().parse::<u8>().ok())
        .is_some_and(|n| n == req.number);
    let decided = if approve && number_ok {
        Status::Approved
    } else {
        Status::Refused
    };
    let age = Duration::from_secs(
        u64::try_from(idp.clock.now().unix_timestamp() - req.created).unwrap_or(u64::MAX),
    );
    let Some(remaining) = idp
        .config
        .app_request_ttl
        .checked_sub(age)
        .filter(|r| !r.is_zero())
    else {
        idp.audit(
            idp.event("app.request_expired", AuditOutcome::Failure)
                .person(device.person.id)
                .detail("at", "device"),
        )
        .await?;
        return Ok(Answer::Expired);
    };
    // The one transition out of Pending: of two answers in flight (a double tap, two tabs, an
    // approval racing a wrong number), only the first to be written counts.
    let written = serde_json::to_vec(&decided).map_err(|e| IdpError::BadRequest(e.to_string()))?;
    if !idp
        .ephemeral
        .put_if_absent(&answer_key(&req.id), &written, remaining)
        .await?
    {
        return Ok(match answer(idp, &req.id).await? {
            Some(Status::Approved) => Answer::AlreadyApproved,
            Some(_) => Answer::AlreadyRefused,
            None => Answer::Expired,
        });
    }
    req.status = decided;
    idp.ephemeral.delete(&pending_key(device.person.id)).await?;
    if req.status == Status::Approved {
        idp.authenticators
            .record_use(device.authenticator.id, idp.clock.now(), None)
            .await?;
    }
    let answer = if req.status == Status::Approved {
        Answer::Approved
    } else if approve {
        Answer::WrongNumber
    } else {
        Answer::Refused
    };
    idp.audit(
        idp.event(
            "app.response",
            if answer == Answer::Approved {
                AuditOutcome::Success
            } else {
                AuditOutcome::Failure
            },
        )
        .person(device.person.id)
        .detail(
            "status",
            match answer {
                Answer::Approved => "approved",
                Answer::WrongNumber => "wrong_number",
                _ => "refused",
            },
        ),
    )
    .await?;
    Ok(answer)
}
