//! [`DelegationRepository`] on [`SqlDurable`]: tables `delegation_organisations`,
//! `delegation_mandates` (current state), `delegation_scopes`, `delegation_history` (every change),
//! and the notices written to `notifications` in the same transaction as the change.

use super::{SqlDurable, from_micros, map_err, micros, storable_key, unstorable};
use crate::notifications::valid_kind;
mod lookup;

use async_trait::async_trait;
use eid_core::delegation::{MAX_LOOKUP_AREAS, valid_shape};
use eid_core::{
    Access, Author, Cpr, Cvr, DelegationRepository, Mandate, MandateId, MandateKind, MandateRecord,
    MandateState, Notice, Organisation, OrganisationRef, Party, PartyKey, PersonKey, Privilege,
    RegisteredPerson, Scope, ServiceRef, Side, StateChange, StoreError,
};
use lookup::{decode_usable, fold_usable, usable_sql};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// The columns of [`decode_record`]. Booleans are read as integers: sqlx's `Any` driver decodes no
/// SQLite `BOOLEAN`.
const COLUMNS: &str = "id, kind, principal_upstream, principal_subject, principal_person, \
     principal_cpr, principal_cvr, principal_name, agent_upstream, agent_subject, agent_person, \
     agent_cpr, agent_cvr, agent_name, access, \
     CAST(CASE WHEN administrator THEN 1 ELSE 0 END AS BIGINT), privileges, state, valid_from_us, \
     valid_until_us, created_at_us, revision";

const INSERT_MANDATE: &str = "INSERT INTO delegation_mandates (id, kind, principal_upstream, \
     principal_subject, principal_person, principal_cpr, principal_cvr, principal_name, \
     agent_upstream, agent_subject, agent_person, agent_cpr, agent_cvr, agent_name, access, \
     administrator, privileges, state, valid_from_us, valid_until_us, created_at_us, revision) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22)";

const INSERT_SCOPE: &str = "INSERT INTO delegation_scopes (mandate, scope) VALUES ($1, $2)";

const INSERT_HISTORY: &str = "INSERT INTO delegation_history (mandate, revision, state, \
     by_upstream, by_subject, by_name, at_us) VALUES ($1, $2, $3, $4, $5, $6, $7)";

const INSERT_NOTIFICATION: &str = "INSERT INTO notifications (id, person, kind, details, \
     created_at_us, sent_at_us) VALUES ($1, $2, $3, $4, $5, NULL)";

const CHANGE_STATE: &str = "UPDATE delegation_mandates SET state = $3, revision = $4 \
     WHERE id = $1 AND revision = $2";

const UPSERT_ORGANISATION: &str = "INSERT INTO delegation_organisations (cvr, name, \
     created_at_us) VALUES ($1, $2, $3) ON CONFLICT (cvr) DO UPDATE SET name = excluded.name";

const SELECT_ORGANISATION: &str =
    "SELECT cvr, name, created_at_us FROM delegation_organisations WHERE cvr = $1";

const SELECT_HISTORY: &str = "SELECT revision, state, by_upstream, by_subject, by_name, at_us \
     FROM delegation_history WHERE mandate = $1 ORDER BY revision";

/// `$1` upstream, `$2` subject, `$3` now (microseconds): the person's rights usable now.
const USABLE_RIGHT: &str = "kind = 'business_right' AND state = 'active' \
     AND valid_from_us <= $3 AND (valid_until_us IS NULL OR valid_until_us > $3)";

const IS_ADMINISTRATOR: &str = "SELECT id FROM delegation_mandates WHERE agent_subject = $2 \
     AND agent_upstream = $1 AND principal_cvr = $4 AND administrator = $5 AND kind = \
     'business_right' AND state = 'active' AND valid_from_us <= $3 \
     AND (valid_until_us IS NULL OR valid_until_us > $3) LIMIT 1";

const DUE_TO_EXPIRE: &str = "SELECT id, revision FROM delegation_mandates \
     WHERE state IN ('requested', 'pending', 'active') AND valid_until_us IS NOT NULL \
     AND valid_until_us <= $1 ORDER BY valid_until_us, id LIMIT $2";

fn corrupt(what: &str) -> StoreError {
    // Names the column only: values may be personal data.
    StoreError::Corrupt(format!("delegation.{what}"))
}

fn kind_from_stored(s: &str) -> Option<MandateKind> {
    [
        MandateKind::PowerOfAttorney,
        MandateKind::BusinessRight,
        MandateKind::BusinessPower,
    ]
    .into_iter()
    .find(|k| k.as_str() == s)
}

fn access_from_stored(s: &str) -> Option<Access> {
    [Access::Read, Access::Act]
        .into_iter()
        .find(|a| a.as_str() == s)
}

fn time_col(row: &AnyRow, i: usize, what: &str) -> Result<OffsetDateTime, StoreError> {
    let us: i64 = row.try_get(i).map_err(map_err)?;
    from_micros(us).ok_or_else(|| corrupt(what))
}

fn opt_time_col(row: &AnyRow, i: usize, what: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    let us: Option<i64> = row.try_get(i).map_err(map_err)?;
    us.map(|us| from_micros(us).ok_or_else(|| corrupt(what)))
        .transpose()
}

/// A party from its columns starting at `at`: upstream, subject, person, cpr, cvr, name.
fn decode_party(row: &AnyRow, at: usize, side: &str) -> Result<Party, StoreError> {
    let get =
        |i: usize| -> Result<Option<String>, StoreError> { row.try_get(at + i).map_err(map_err) };
    let name = get(5)?.ok_or_else(|| corrupt(side))?;
    match (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?) {
        (Some(upstream), Some(subject), Some(id), Some(cpr), None) => {
            Ok(Party::Person(RegisteredPerson {
                id: Uuid::parse_str(&id).map_err(|_| corrupt(side))?,
                key: PersonKey { upstream, subject },
                cpr: Cpr::parse(&cpr).map_err(|_| corrupt(side))?,
                name,
            }))
        }
        (None, None, None, None, Some(cvr)) => Ok(Party::Organisation(OrganisationRef {
            cvr: Cvr::parse(&cvr).map_err(|_| corrupt(side))?,
            name,
        })),
        _ => Err(corrupt(side)),
    }
}

fn decode_privileges(json: &str) -> Result<Vec<Privilege>, StoreError> {
    serde_json::from_str(json).map_err(|_| corrupt("privileges"))
}

/// A record from [`COLUMNS`], without its scopes.
fn decode_record(row: &AnyRow) -> Result<MandateRecord, StoreError> {
    let id: String = row.try_get(0).map_err(map_err)?;
    let kind: String = row.try_get(1).map_err(map_err)?;
    let access: String = row.try_get(14).map_err(map_err)?;
    let privileges: String = row.try_get(16).map_err(map_err)?;
    let state: String = row.try_get(17).map_err(map_err)?;
    let record = MandateRecord {
        id: MandateId::parse(&id).ok_or_else(|| corrupt("id"))?,
        kind: kind_from_stored(&kind).ok_or_else(|| corrupt("kind"))?,
        principal: decode_party(row, 2, "principal")?,
        agent: decode_party(row, 8, "agent")?,
        scopes: Vec::new(),
        privileges: decode_privileges(&privileges)?,
        access: access_from_stored(&access).ok_or_else(|| corrupt("access"))?,
        administrator: row.try_get::<i64, _>(15).map_err(map_err)? != 0,
        valid_from: time_col(row, 18, "valid_from_us")?,
        valid_until: opt_time_col(row, 19, "valid_until_us")?,
        state: MandateState::from_stored(&state).ok_or_else(|| corrupt("state"))?,
        created_at: time_col(row, 20, "created_at_us")?,
        revision: row.try_get(21).map_err(map_err)?,
    };
    if !valid_shape(record.kind, &record.principal, &record.agent) {
        return Err(corrupt("kind"));
    }
    Ok(record)
}

/// The columns of a party: upstream, subject, person, cpr, cvr, name.
type PartyColumns = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn party_columns(party: &Party) -> PartyColumns {
    match party {
        Party::Person(p) => (
            Some(p.key.upstream.clone()),
            Some(p.key.subject.clone()),
            Some(p.id.to_string()),
            Some(p.cpr.as_str().to_owned()),
            None,
            p.name.clone(),
        ),
        Party::Organisation(o) => (
            None,
            None,
            None,
            None,
            Some(o.cvr.as_str().to_owned()),
            o.name.clone(),
        ),
    }
}

fn storable_party(party: &Party) -> bool {
    match party {
        Party::Person(p) => {
            storable_key(&p.key.upstream) && storable_key(&p.key.subject) && storable_key(&p.name)
        }
        Party::Organisation(o) => storable_key(&o.name),
    }
}

async fn insert_notices(
    tx: &mut Transaction<'_, Any>,
    notices: &[Notice],
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    for n in notices {
        if !valid_kind(&n.kind) {
            return Err(StoreError::Backend(
                "notification kind is not printable ASCII".into(),
            ));
        }
        let details = serde_json::to_string(&n.details)
            .map_err(|e| StoreError::Backend(format!("notification details: {e}")))?;
        sqlx::query(INSERT_NOTIFICATION)
            .bind(Uuid::new_v4().to_string())
            .bind(n.person.to_string())
            .bind(n.kind.clone())
            .bind(details)
            .bind(micros(at))
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

async fn insert_history(
    tx: &mut Transaction<'_, Any>,
    id: MandateId,
    change: &StateChange,
) -> Result<(), StoreError> {
    let by = change.by.as_ref();
    sqlx::query(INSERT_HISTORY)
        .bind(id.to_string())
        .bind(change.revision)
        .bind(change.state.as_str())
        .bind(by.map(|a| a.key.upstream.clone()))
        .bind(by.map(|a| a.key.subject.clone()))
        .bind(by.map(|a| a.name.clone()))
        .bind(micros(change.at))
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

impl SqlDurable {
    /// Fills in the scopes of `records` (one query).
    async fn with_scopes(
        &self,
        mut records: Vec<MandateRecord>,
    ) -> Result<Vec<MandateRecord>, StoreError> {
        if records.is_empty() {
            return Ok(records);
        }
        let list = (1..=records.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT mandate, scope FROM delegation_scopes WHERE mandate IN ({list}) \
             ORDER BY mandate, scope"
        );
        let mut query = sqlx::query::<Any>(sqlx::AssertSqlSafe(sql));
        for r in &records {
            query = query.bind(r.id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(map_err)?;
        let mut scopes: BTreeMap<String, Vec<Scope>> = BTreeMap::new();
        for row in &rows {
            let mandate: String = row.try_get(0).map_err(map_err)?;
            let scope: String = row.try_get(1).map_err(map_err)?;
            scopes
                .entry(mandate)
                .or_default()
                .push(Scope::from_key(&scope).map_err(|_| corrupt("scope"))?);
        }
        for r in &mut records {
            r.scopes = scopes.remove(&r.id.to_string()).unwrap_or_default();
        }
        Ok(records)
    }

    async fn records_where(
        &self,
        condition: &str,
        binds: Vec<String>,
        limit: u32,
    ) -> Result<Vec<MandateRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM delegation_mandates WHERE {condition} \
             ORDER BY created_at_us DESC, id DESC LIMIT ${}",
            binds.len() + 1
        );
        let mut query = sqlx::query::<Any>(sqlx::AssertSqlSafe(sql));
        for b in binds {
            query = query.bind(b);
        }
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let records = rows.iter().map(decode_record).collect::<Result<_, _>>()?;
        self.with_scopes(records).await
    }
}

#[async_trait]
impl DelegationRepository for SqlDurable {
    async fn upsert_organisation(&self, org: &Organisation) -> Result<(), StoreError> {
        if !storable_key(&org.name) {
            return Err(unstorable("organisation name"));
        }
        self.retrying("upsert_organisation", || async move {
            sqlx::query(UPSERT_ORGANISATION)
                .bind(org.cvr.as_str().to_owned())
                .bind(org.name.clone())
                .bind(micros(org.created_at))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn organisation(&self, cvr: &Cvr) -> Result<Option<Organisation>, StoreError> {
        self.with_timeout("organisation", async {
            let row = sqlx::query(SELECT_ORGANISATION)
                .bind(cvr.as_str().to_owned())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
            row.map(|row| {
                let cvr: String = row.try_get(0).map_err(map_err)?;
                Ok(Organisation {
                    cvr: Cvr::parse(&cvr).map_err(|_| corrupt("cvr"))?,
                    name: row.try_get(1).map_err(map_err)?,
                    created_at: time_col(&row, 2, "created_at_us")?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn insert_mandate(
        &self,
        m: &MandateRecord,
        by: Option<&Author>,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        if !valid_shape(m.kind, &m.principal, &m.agent) {
            return Err(StoreError::Backend(
                "a mandate of this kind cannot have these parties".into(),
            ));
        }
        if !storable_party(&m.principal)
            || !storable_party(&m.agent)
            || !by.is_none_or(|a| storable_key(&a.name) && storable_key(&a.key.subject))
        {
            return Err(unstorable("party"));
        }
        let privileges = serde_json::to_string(&m.privileges)
            .map_err(|e| StoreError::Backend(format!("privileges: {e}")))?;
        let (p_up, p_sub, p_id, p_cpr, p_cvr, p_name) = party_columns(&m.principal);
        let (a_up, a_sub, a_id, a_cpr, a_cvr, a_name) = party_columns(&m.agent);
        let first = StateChange {
            revision: 1,
            state: m.state,
            by: by.cloned(),
            at: m.created_at,
        };
        let p_up = &p_up;
        let p_sub = &p_sub;
        let p_id = &p_id;
        let p_cpr = &p_cpr;
        let p_cvr = &p_cvr;
        let p_name = &p_name;
        let a_up = &a_up;
        let a_sub = &a_sub;
        let a_id = &a_id;
        let a_cpr = &a_cpr;
        let a_cvr = &a_cvr;
        let a_name = &a_name;
        let privileges = &privileges;
        let first = &first;
        self.retrying("insert_mandate", || async move {
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            sqlx::query(INSERT_MANDATE)
                .bind(m.id.to_string())
                .bind(m.kind.as_str())
                .bind(p_up.clone())
                .bind(p_sub.clone())
                .bind(p_id.clone())
                .bind(p_cpr.clone())
                .bind(p_cvr.clone())
                .bind(p_name.clone())
                .bind(a_up.clone())
                .bind(a_sub.clone())
                .bind(a_id.clone())
                .bind(a_cpr.clone())
                .bind(a_cvr.clone())
                .bind(a_name.clone())
                .bind(m.access.as_str())
                .bind(m.administrator)
                .bind(privileges.clone())
                .bind(m.state.as_str())
                .bind(micros(m.valid_from))
                .bind(m.valid_until.map(micros))
                .bind(micros(m.created_at))
                .bind(1_i64)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let mut keys: Vec<String> = m.scopes.iter().map(Scope::key).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                sqlx::query(INSERT_SCOPE)
                    .bind(m.id.to_string())
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            insert_history(&mut tx, m.id, first).await?;
            insert_notices(&mut tx, notices, m.created_at).await?;
            tx.commit().await.map_err(map_err)
        })
        .await
    }

    async fn change_state(
        &self,
        id: MandateId,
        revision: i64,
        change: &StateChange,
        notices: &[Notice],
    ) -> Result<bool, StoreError> {
        if change.revision != revision + 1 {
            return Err(StoreError::Backend(
                "a change's revision follows the one it replaces".into(),
            ));
        }
        if !change
            .by
            .as_ref()
            .is_none_or(|a| storable_key(&a.name) && storable_key(&a.key.subject))
        {
            return Err(unstorable("author"));
        }
        self.retrying("change_state", || async move {
            let mut tx = self.pool.begin().await.map_err(map_err)?;
            let done = sqlx::query(CHANGE_STATE)
                .bind(id.to_string())
                .bind(revision)
                .bind(change.state.as_str())
                .bind(change.revision)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
            if done != 1 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            }
            insert_history(&mut tx, id, change).await?;
            insert_notices(&mut tx, notices, change.at).await?;
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
        .await
    }

    async fn mandate_record(&self, id: MandateId) -> Result<Option<MandateRecord>, StoreError> {
        self.with_timeout("mandate_record", async {
            let mut found = self
                .records_where("id = $1", vec![id.to_string()], 1)
                .await?;
            Ok(found.pop())
        })
        .await
    }

    async fn history(&self, id: MandateId) -> Result<Vec<StateChange>, StoreError> {
        self.with_timeout("mandate_history", async {
            let rows = sqlx::query(SELECT_HISTORY)
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter()
                .map(|row| {
                    let state: String = row.try_get(1).map_err(map_err)?;
                    let up: Option<String> = row.try_get(2).map_err(map_err)?;
                    let sub: Option<String> = row.try_get(3).map_err(map_err)?;
                    let name: Option<String> = row.try_get(4).map_err(map_err)?;
                    let by = match (up, sub, name) {
                        (Some(upstream), Some(subject), Some(name)) => Some(Author {
                            key: PersonKey { upstream, subject },
                            name,
                        }),
                        (None, None, None) => None,
                        _ => return Err(corrupt("history.by")),
                    };
                    Ok(StateChange {
                        revision: row.try_get(0).map_err(map_err)?,
                        state: MandateState::from_stored(&state)
                            .ok_or_else(|| corrupt("history.state"))?,
                        by,
                        at: time_col(row, 5, "history.at_us")?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn mandates_of(
        &self,
        party: PartyKey<'_>,
        side: Side,
        limit: u32,
    ) -> Result<Vec<MandateRecord>, StoreError> {
        let (condition, binds) = match (party, side) {
            (PartyKey::Person(k), Side::Given) => (
                "principal_subject = $2 AND principal_upstream = $1",
                vec![k.upstream.clone(), k.subject.clone()],
            ),
            (PartyKey::Person(k), Side::Held) => (
                "agent_subject = $2 AND agent_upstream = $1",
                vec![k.upstream.clone(), k.subject.clone()],
            ),
            (PartyKey::Organisation(c), Side::Given) => {
                ("principal_cvr = $1", vec![c.as_str().to_owned()])
            }
            (PartyKey::Organisation(c), Side::Held) => {
                ("agent_cvr = $1", vec![c.as_str().to_owned()])
            }
        };
        if !binds.iter().all(|b| storable_key(b)) {
            return Ok(Vec::new());
        }
        self.with_timeout("mandates_of", self.records_where(condition, binds, limit))
            .await
    }

    async fn is_administrator(
        &self,
        person: &PersonKey,
        cvr: &Cvr,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if !storable_key(&person.upstream) || !storable_key(&person.subject) {
            return Ok(false);
        }
        self.with_timeout("is_administrator", async {
            let row = sqlx::query(IS_ADMINISTRATOR)
                .bind(person.upstream.clone())
                .bind(person.subject.clone())
                .bind(micros(at))
                .bind(cvr.as_str().to_owned())
                .bind(true)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(row.is_some())
        })
        .await
    }

    async fn employers(
        &self,
        person: &PersonKey,
        at: OffsetDateTime,
    ) -> Result<Vec<OrganisationRef>, StoreError> {
        if !storable_key(&person.upstream) || !storable_key(&person.subject) {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT cvr, name FROM delegation_organisations WHERE cvr IN \
             (SELECT principal_cvr FROM delegation_mandates WHERE agent_subject = $2 \
             AND agent_upstream = $1 AND {USABLE_RIGHT}) ORDER BY cvr"
        );
        self.with_timeout("employers", async {
            let rows = sqlx::query::<Any>(sqlx::AssertSqlSafe(sql))
                .bind(person.upstream.clone())
                .bind(person.subject.clone())
                .bind(micros(at))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter()
                .map(|row| {
                    let cvr: String = row.try_get(0).map_err(map_err)?;
                    Ok(OrganisationRef {
                        cvr: Cvr::parse(&cvr).map_err(|_| corrupt("cvr"))?,
                        name: row.try_get(1).map_err(map_err)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn usable(
        &self,
        agent: &PersonKey,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError> {
        if service.areas.len() > MAX_LOOKUP_AREAS {
            return Err(StoreError::Backend(format!(
                "a service declares more than {MAX_LOOKUP_AREAS} areas"
            )));
        }
        if !storable_key(&agent.upstream) || !storable_key(&agent.subject) {
            return Ok(Vec::new());
        }
        let keys = Scope::keys_covering(service);
        if !keys.iter().all(|k| storable_key(k)) {
            return Ok(Vec::new());
        }
        let sql = usable_sql(keys.len());
        self.with_timeout("usable_mandates", async {
            let mut query = sqlx::query::<Any>(sqlx::AssertSqlSafe(sql))
                .bind(agent.upstream.clone())
                .bind(agent.subject.clone())
                .bind(micros(at));
            for k in keys {
                query = query.bind(k);
            }
            let rows = query.fetch_all(&self.pool).await.map_err(map_err)?;
            let rows = rows
                .iter()
                .map(decode_usable)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(fold_usable(rows))
        })
        .await
    }

    async fn due_to_expire(
        &self,
        at: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(MandateId, i64)>, StoreError> {
        self.with_timeout("due_to_expire", async {
            let rows = sqlx::query(DUE_TO_EXPIRE)
                .bind(micros(at))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            rows.iter()
                .map(|row| {
                    let id: String = row.try_get(0).map_err(map_err)?;
                    Ok((
                        MandateId::parse(&id).ok_or_else(|| corrupt("id"))?,
                        row.try_get(1).map_err(map_err)?,
                    ))
                })
                .collect()
        })
        .await
    }
}
