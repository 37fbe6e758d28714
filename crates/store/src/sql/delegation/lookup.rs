//! The lookup behind `MandateLookup`: one statement over the agent indexes
//! ([`usable_sql`]), and the folding of its rows into one [`Mandate`] per mandate.

use super::{access_from_stored, corrupt, decode_privileges, kind_from_stored, opt_time_col};
use crate::sql::map_err;
use eid_core::{Access, Cpr, Mandate, MandateId, PersonKey, Principal, Scope, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The lookup: `$1` upstream, `$2` subject, `$3` now, `$4…` the scope keys covering the service.
/// The first leg is what the person holds themselves (powers of attorney, business rights); the
/// second what an organisation holds (business powers, powers of attorney given to it) of which
/// the person holds a right usable now that covers the service. Each leg starts from the agent
/// index; the principal may never be the agent.
pub(super) fn usable_sql(keys: usize) -> String {
    let list = (0..keys)
        .map(|i| format!("${}", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let not_self = |t: &str| {
        format!(
            "({t}.principal_subject IS NULL OR {t}.principal_subject <> $2 \
             OR {t}.principal_upstream <> $1)"
        )
    };
    let valid = |t: &str| {
        format!(
            "{t}.state = 'active' AND {t}.valid_from_us <= $3 \
             AND ({t}.valid_until_us IS NULL OR {t}.valid_until_us > $3)"
        )
    };
    format!(
        "SELECT m.id, m.kind, m.principal_upstream, m.principal_subject, m.principal_cpr, \
         m.principal_cvr, m.principal_name, m.access, m.privileges, m.valid_until_us, s.scope, \
         CAST(NULL AS TEXT), CAST(NULL AS BIGINT) \
         FROM delegation_mandates m JOIN delegation_scopes s ON s.mandate = m.id \
         WHERE m.agent_subject = $2 AND m.agent_upstream = $1 AND {vm} AND {nm} \
         AND s.scope IN ({list}) \
         UNION ALL \
         SELECT p.id, p.kind, p.principal_upstream, p.principal_subject, p.principal_cpr, \
         p.principal_cvr, p.principal_name, p.access, r.privileges, p.valid_until_us, s.scope, \
         r.access, r.valid_until_us \
         FROM delegation_mandates r JOIN delegation_scopes rs ON rs.mandate = r.id \
         JOIN delegation_mandates p ON p.agent_cvr = r.principal_cvr \
         JOIN delegation_scopes s ON s.mandate = p.id \
         WHERE r.agent_subject = $2 AND r.agent_upstream = $1 AND r.kind = 'business_right' \
         AND {vr} AND rs.scope IN ({list}) AND {vp} AND {np} AND s.scope IN ({list})",
        vm = valid("m"),
        nm = not_self("m"),
        vr = valid("r"),
        vp = valid("p"),
        np = not_self("p"),
    )
}

/// One row of the lookup.
pub(super) struct UsableRow {
    mandate: Mandate,
    scope: Scope,
    via_access: Option<Access>,
    via_until: Option<OffsetDateTime>,
}

pub(super) fn decode_usable(row: &AnyRow) -> Result<UsableRow, StoreError> {
    let get = |i: usize| -> Result<Option<String>, StoreError> { row.try_get(i).map_err(map_err) };
    let id = get(0)?.ok_or_else(|| corrupt("id"))?;
    let kind = get(1)?.ok_or_else(|| corrupt("kind"))?;
    let name = get(6)?.ok_or_else(|| corrupt("principal"))?;
    let principal = match (get(2)?, get(3)?, get(4)?, get(5)?) {
        (Some(upstream), Some(subject), cpr, None) => Principal::Person {
            person: PersonKey { upstream, subject },
            cpr: cpr
                .map(|c| Cpr::parse(&c).map_err(|_| corrupt("principal")))
                .transpose()?,
            name,
        },
        (None, None, None, Some(cvr)) => Principal::Organisation { cvr, name },
        _ => return Err(corrupt("principal")),
    };
    let access = get(7)?.ok_or_else(|| corrupt("access"))?;
    let privileges = decode_privileges(&get(8)?.ok_or_else(|| corrupt("privileges"))?)?;
    let scope = get(10)?.ok_or_else(|| corrupt("scope"))?;
    Ok(UsableRow {
        mandate: Mandate {
            id: MandateId::parse(&id)
                .ok_or_else(|| corrupt("id"))?
                .to_string(),
            kind: kind_from_stored(&kind).ok_or_else(|| corrupt("kind"))?,
            principal,
            access: access_from_stored(&access).ok_or_else(|| corrupt("access"))?,
            scopes: Vec::new(),
            privileges: privileges.into_iter().map(String::from).collect(),
            valid_until: opt_time_col(row, 9, "valid_until_us")?,
        },
        scope: Scope::from_key(&scope).map_err(|_| corrupt("scope"))?,
        via_access: get(11)?
            .map(|a| access_from_stored(&a).ok_or_else(|| corrupt("access")))
            .transpose()?,
        via_until: opt_time_col(row, 12, "valid_until_us")?,
    })
}

/// Folds lookup rows into one mandate per id: scopes and privileges united, access and end the
/// narrowest of the mandate and (for one held through an employer) the employee's right.
pub(super) fn fold_usable(rows: Vec<UsableRow>) -> Vec<Mandate> {
    let mut out: BTreeMap<String, Mandate> = BTreeMap::new();
    for row in rows {
        let mut m = row.mandate;
        if row.via_access == Some(Access::Read) {
            m.access = Access::Read;
        }
        m.valid_until = match (m.valid_until, row.via_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let scope = row.scope.name().to_owned();
        match out.get_mut(&m.id) {
            None => {
                m.scopes = vec![scope];
                out.insert(m.id.clone(), m);
            }
            Some(seen) => {
                if !seen.scopes.contains(&scope) {
                    seen.scopes.push(scope);
                }
                for p in m.privileges {
                    if !seen.privileges.contains(&p) {
                        seen.privileges.push(p);
                    }
                }
                if m.access == Access::Act {
                    seen.access = Access::Act;
                }
                seen.valid_until = match (seen.valid_until, m.valid_until) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
        }
    }
    let mut mandates: Vec<Mandate> = out.into_values().collect();
    for m in &mut mandates {
        m.scopes.sort();
        m.privileges.sort();
    }
    mandates
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::sql::SqlDurable;
    use crate::testing::{TempPostgresDb, postgres_url_or_skip};
    use sqlx::Any;

    /// The lookup on PostgreSQL with 40,000 mandates of 20,000 agents, 2,000 organisations and
    /// their scopes: both legs start from the agent indexes, and no table is scanned whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_plans_the_lookup_through_the_agent_indexes() {
        let Some(server) = postgres_url_or_skip() else {
            return;
        };
        let temp = TempPostgresDb::create(&server).await.unwrap();
        {
            let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
            for sql in [
                // Powers of attorney between persons, then rights of persons at organisations,
                // then powers between organisations.
                "INSERT INTO delegation_mandates SELECT 'p' || i, 'power_of_attorney', 'idp', \
                 'principal-' || i, 'principal-' || i, '0101901234', NULL, 'P', 'idp', \
                 'agent-' || (i % 20000), 'agent-' || (i % 20000), '0101901234', NULL, 'A', \
                 'act', FALSE, '[]', CASE WHEN i % 3 = 0 THEN 'revoked' ELSE 'active' END, 0, \
                 NULL, 0, 1 FROM generate_series(1, 20000) AS i",
                "INSERT INTO delegation_mandates SELECT 'r' || i, 'business_right', NULL, NULL, \
                 NULL, NULL, (10000000 + i % 2000)::TEXT, 'O', 'idp', 'agent-' || (i % 20000), \
                 'agent-' || (i % 20000), '0101901234', NULL, 'A', 'act', FALSE, '[]', 'active', \
                 0, NULL, 0, 1 FROM generate_series(1, 10000) AS i",
                "INSERT INTO delegation_mandates SELECT 'b' || i, 'business_power', NULL, NULL, \
                 NULL, NULL, (20000000 + i)::TEXT, 'C', NULL, NULL, NULL, NULL, \
                 (10000000 + i % 2000)::TEXT, 'O', 'act', FALSE, '[]', 'active', 0, NULL, 0, 1 \
                 FROM generate_series(1, 10000) AS i",
                "INSERT INTO delegation_scopes SELECT id, 'rp:rp-' || (abs(hashtext(id)) % 50) \
                 FROM delegation_mandates",
                "ANALYZE",
            ] {
                sqlx::query(sql).execute(db.pool()).await.unwrap();
            }
            let sql = format!("EXPLAIN {}", usable_sql(2));
            let plan: Vec<String> = sqlx::query::<Any>(sqlx::AssertSqlSafe(sql))
                .bind("idp")
                .bind("agent-7")
                .bind(1_i64)
                .bind("rp:rp-7")
                .bind("area:housing")
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String, _>(0).unwrap())
                .collect();
            let plan = plan.join("\n");
            assert!(!plan.contains("Seq Scan"), "{plan}");
            assert!(plan.contains("delegation_mandates_agent_person"), "{plan}");
            assert!(plan.contains("delegation_mandates_agent_org"), "{plan}");
            db.close().await;
        }
        temp.drop_db().await.unwrap();
    }

    #[test]
    fn the_lookup_lists_one_placeholder_per_scope_key_in_each_leg() {
        let sql = usable_sql(3);
        assert_eq!(sql.matches("IN ($4, $5, $6)").count(), 3);
        assert!(!sql.contains("$7"));
    }
}
