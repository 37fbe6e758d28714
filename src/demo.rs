//! The demo data: fictitious persons loaded at demo start, idempotently.

use anyhow::Context;
use eid_core::{Authenticator, AuthenticatorKind, Clock, Cpr, Loa, Person, PersonStatus};
use eid_core::{AuthenticatorRepository, PersonRepository};
use serde::Deserialize;
use std::path::Path;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoFile {
    person: Vec<DemoPerson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPerson {
    id: Uuid,
    cpr: String,
    given_name: String,
    family_name: String,
    birthdate: String,
    ial: Loa,
    user_id: Option<String>,
    password: Option<String>,
    totp_secret_base32: Option<String>,
    /// Whether the person may give a power of attorney; `true` unless the file says otherwise.
    legally_competent: Option<bool>,
    #[allow(dead_code)]
    note: Option<String>,
}

/// An activation code made at demo start, to be shown to the operator.
#[derive(Debug)]
pub struct ActivationCode {
    /// Whose (the name only: the CPR number is never printed or logged).
    pub name: String,
    /// The one-time code.
    pub code: String,
}

/// How long demo activation codes are valid.
const ACTIVATION_VALIDITY: time::Duration = time::Duration::days(7);

/// Loads `<dir>/persons.toml`: persons are upserted, enrolled with their demo authenticators when they
/// have none, and persons not yet activated get a fresh activation code (returned for printing).
pub async fn load_persons(
    dir: &Path,
    persons: &dyn PersonRepository,
    authenticators: &dyn AuthenticatorRepository,
    clock: &dyn Clock,
) -> anyhow::Result<Vec<ActivationCode>> {
    let path = dir.join("persons.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: DemoFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let now = clock.now();
    let mut codes = Vec::new();
    for demo in file.person {
        let cpr = Cpr::parse(&demo.cpr)
            .map_err(|e| anyhow::anyhow!("{}: person {}: {e}", path.display(), demo.id))?;
        let birthdate = time::Date::parse(
            &demo.birthdate,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .with_context(|| format!("{}: person {}: birthdate", path.display(), demo.id))?;
        let person = Person {
            id: demo.id,
            cpr: cpr.clone(),
            given_name: demo.given_name.clone(),
            family_name: demo.family_name.clone(),
            birthdate,
            ial: demo.ial,
            status: PersonStatus::Active,
            legally_competent: demo.legally_competent.unwrap_or(true),
            user_id: None,
            created_at: now,
        };
        persons.upsert_person(&person).await?;
        let stored = persons
            .person(demo.id)
            .await?
            .context("demo person vanished")?;
        if let (None, Some(user_id)) = (&stored.user_id, &demo.user_id) {
            persons.set_user_id(demo.id, user_id).await?;
        }
        let existing = authenticators.authenticators(demo.id).await?;
        if existing.is_empty() {
            let add = |kind: AuthenticatorKind, label: &str, secret: Vec<u8>| Authenticator {
                id: Uuid::new_v4(),
                person: demo.id,
                kind,
                label: label.to_owned(),
                secret,
                created_at: now,
                last_used_at: None,
            };
            if let Some(password) = &demo.password {
                let phc = eid_idp::password::hash(password)
                    .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
                authenticators
                    .add_authenticator(&add(AuthenticatorKind::Password, "", phc.into_bytes()))
                    .await?;
            }
            if let Some(secret) = &demo.totp_secret_base32 {
                let secret = data_encoding::BASE32_NOPAD
                    .decode(secret.as_bytes())
                    .with_context(|| {
                        format!("{}: person {}: totp_secret_base32", path.display(), demo.id)
                    })?;
                authenticators
                    .add_authenticator(&add(AuthenticatorKind::CodeDisplay, "", secret))
                    .await?;
            }
        }
        if demo.user_id.is_none() && stored.user_id.is_none() {
            let code = eid_oidc::random::token(8).replace(['-', '_'], "x");
            persons
                .set_activation_code(
                    demo.id,
                    &eid_oidc::random::digest_key(&code),
                    now + ACTIVATION_VALIDITY,
                )
                .await?;
            codes.push(ActivationCode {
                name: format!("{} {}", demo.given_name, demo.family_name),
                code,
            });
        }
    }
    Ok(codes)
}
