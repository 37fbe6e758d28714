//! [`PersonRepository`] on [`SqlDurable`]: table `persons` (with the activation code on the row).

use super::{SqlDurable, from_micros, map_err, micros, storable_key, unstorable};
use async_trait::async_trait;
use eid_core::{Cpr, Loa, Person, PersonRepository, PersonStatus, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// `SELECT <the person columns> FROM persons WHERE <condition>`, as one literal.
macro_rules! select_person {
    ($condition:literal) => {
        concat!(
            "SELECT id, cpr, given_name, family_name, birthdate, ial, status, user_id, \
             created_at_us, CAST(CASE WHEN legally_competent THEN 1 ELSE 0 END AS BIGINT) \
             FROM persons WHERE ",
            $condition
        )
    };
}

/// Inserts, or updates only the mutable register data of the person with the same id (names, birth
/// date, level, status, legal competence): CPR number,
/// user ID and registration time stay as they are. A new id with a CPR number or user ID already
/// taken violates a unique constraint (`Conflict`).
const UPSERT: &str = "INSERT INTO persons (id, cpr, given_name, family_name, birthdate, ial, \
     status, user_id, user_id_lower, created_at_us, legally_competent) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (id) DO UPDATE SET given_name = excluded.given_name, \
     family_name = excluded.family_name, birthdate = excluded.birthdate, ial = excluded.ial, \
     status = excluded.status, legally_competent = excluded.legally_competent";

const SET_USER_ID: &str = "UPDATE persons SET user_id = $2, user_id_lower = $3 WHERE id = $1";

const SET_ACTIVATION_CODE: &str = "UPDATE persons SET activation_code_hash = $2, \
     activation_expires_us = $3 WHERE id = $1";

const ACTIVATION_CODE_HASH: &str = "SELECT activation_code_hash FROM persons WHERE id = $1 \
     AND activation_code_hash IS NOT NULL AND activation_expires_us > $2";

/// One statement, so of two concurrent consumers of one code exactly one matches the row.
const CONSUME_ACTIVATION_CODE: &str = "UPDATE persons SET activation_code_hash = NULL, \
     activation_expires_us = NULL WHERE id = $1 AND activation_code_hash = $2";

/// Stored form of a birth date.
const DATE_FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The key that makes user IDs unique case-insensitively (Unicode lower case, so `Æble` and `æble`
/// are one user ID).
fn user_id_key(user_id: &str) -> String {
    user_id.to_lowercase()
}

fn format_date(date: Date) -> Result<String, StoreError> {
    date.format(DATE_FORMAT)
        .map_err(|e| StoreError::Backend(format!("birth date not storable: {e}")))
}

fn loa_from_stored(s: &str) -> Option<Loa> {
    Loa::ALL.into_iter().find(|loa| loa.as_word() == s)
}

fn no_person(op: &str, id: Uuid) -> StoreError {
    StoreError::Backend(format!("{op}: no person {id}"))
}

fn decode(row: &AnyRow) -> Result<Person, StoreError> {
    // Names the column only: the values are personal data.
    let corrupt = |what: &str| StoreError::Corrupt(format!("persons.{what}"));
    let id: String = row.try_get(0).map_err(map_err)?;
    let cpr: String = row.try_get(1).map_err(map_err)?;
    let birthdate: String = row.try_get(4).map_err(map_err)?;
    let ial: String = row.try_get(5).map_err(map_err)?;
    let status: String = row.try_get(6).map_err(map_err)?;
    let created_at_us: i64 = row.try_get(8).map_err(map_err)?;
    Ok(Person {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        cpr: Cpr::parse(&cpr).map_err(|_| corrupt("cpr"))?,
        given_name: row.try_get(2).map_err(map_err)?,
        family_name: row.try_get(3).map_err(map_err)?,
        birthdate: Date::parse(&birthdate, DATE_FORMAT).map_err(|_| corrupt("birthdate"))?,
        ial: loa_from_stored(&ial).ok_or_else(|| corrupt("ial"))?,
        status: PersonStatus::from_stored(&status).ok_or_else(|| corrupt("status"))?,
        legally_competent: row.try_get::<i64, _>(9).map_err(map_err)? != 0,
        user_id: row.try_get(7).map_err(map_err)?,
        created_at: from_micros(created_at_us).ok_or_else(|| corrupt("created_at_us"))?,
    })
}

impl SqlDurable {
    async fn person_where(
        &self,
        op: &'static str,
        sql: &'static str,
        key: String,
    ) -> Result<Option<Person>, StoreError> {
        self.with_timeout(op, async {
            let row = sqlx::query(sql)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
            row.as_ref().map(decode).transpose()
        })
        .await
    }
}

/// Operations that update one person by id fail with [`StoreError::Backend`] when there is no such
/// person, rather than succeed having changed nothing.
#[async_trait]
impl PersonRepository for SqlDurable {
    async fn upsert_person(&self, person: &Person) -> Result<(), StoreError> {
        if !person.user_id.as_deref().is_none_or(storable_key) {
            return Err(unstorable("user id"));
        }
        let birthdate = format_date(person.birthdate)?;
        let birthdate = &birthdate;
        self.retrying("upsert_person", || async move {
            sqlx::query(UPSERT)
                .bind(person.id.to_string())
                .bind(person.cpr.as_str().to_owned())
                .bind(person.given_name.clone())
                .bind(person.family_name.clone())
                .bind(birthdate.clone())
                .bind(person.ial.as_word())
                .bind(person.status.as_str())
                .bind(person.user_id.clone())
                .bind(person.user_id.as_deref().map(user_id_key))
                .bind(micros(person.created_at))
                .bind(person.legally_competent)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn person(&self, id: Uuid) -> Result<Option<Person>, StoreError> {
        self.person_where("person", select_person!("id = $1"), id.to_string())
            .await
    }

    async fn person_by_cpr(&self, cpr: &Cpr) -> Result<Option<Person>, StoreError> {
        self.person_where(
            "person_by_cpr",
            select_person!("cpr = $1"),
            cpr.as_str().to_owned(),
        )
        .await
    }

    async fn person_by_user_id(&self, user_id: &str) -> Result<Option<Person>, StoreError> {
        if !storable_key(user_id) {
            return Ok(None);
        }
        self.person_where(
            "person_by_user_id",
            select_person!("user_id_lower = $1"),
            user_id_key(user_id),
        )
        .await
    }

    async fn set_user_id(&self, person: Uuid, user_id: &str) -> Result<(), StoreError> {
        if !storable_key(user_id) {
            return Err(unstorable("user id"));
        }
        self.retrying("set_user_id", || async move {
            let done = sqlx::query(SET_USER_ID)
                .bind(person.to_string())
                .bind(user_id.to_owned())
                .bind(user_id_key(user_id))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(no_person("set_user_id", person));
            }
            Ok(())
        })
        .await
    }

    async fn set_activation_code(
        &self,
        person: Uuid,
        code_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.retrying("set_activation_code", || async move {
            let done = sqlx::query(SET_ACTIVATION_CODE)
                .bind(person.to_string())
                .bind(code_hash.to_owned())
                .bind(micros(expires_at))
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            if done.rows_affected() == 0 {
                return Err(no_person("set_activation_code", person));
            }
            Ok(())
        })
        .await
    }

    /// A code is valid strictly before its `expires_at`.
    async fn activation_code_hash(
        &self,
        person: Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        self.with_timeout("activation_code_hash", async {
            let row = sqlx::query(ACTIVATION_CODE_HASH)
                .bind(person.to_string())
                .bind(micros(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
            row.map(|r| r.try_get(0).map_err(map_err)).transpose()
        })
        .await
    }

    async fn consume_activation_code(
        &self,
        person: Uuid,
        code_hash: &str,
    ) -> Result<bool, StoreError> {
        self.retrying("consume_activation_code", || async move {
            let done = sqlx::query(CONSUME_ACTIVATION_CODE)
                .bind(person.to_string())
                .bind(code_hash.to_owned())
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn dates_are_stored_as_iso_calendar_dates() {
        assert_eq!(format_date(date!(1990 - 01 - 02)).unwrap(), "1990-01-02");
        assert_eq!(format_date(date!(0987 - 12 - 31)).unwrap(), "0987-12-31");
        for d in [
            date!(1990 - 01 - 02),
            date!(0987 - 12 - 31),
            date!(2024 - 02 - 29),
        ] {
            assert_eq!(
                Date::parse(&format_date(d).unwrap(), DATE_FORMAT).unwrap(),
                d
            );
        }
        assert!(Date::parse("1990-02-30", DATE_FORMAT).is_err());
    }

    #[test]
    fn levels_round_trip_by_word_only() {
        for loa in Loa::ALL {
            assert_eq!(loa_from_stored(loa.as_word()), Some(loa));
        }
        assert_eq!(loa_from_stored("high"), None);
        assert_eq!(loa_from_stored(Loa::High.as_uri()), None);
    }

    #[test]
    fn user_id_key_folds_unicode_case() {
        assert_eq!(user_id_key("Alice.Ærø"), user_id_key("ALICE.ÆRØ"));
        assert_eq!(user_id_key("Alice.Ærø"), "alice.ærø");
    }

    #[test]
    fn select_person_builds_one_literal() {
        assert_eq!(
            select_person!("id = $1"),
            "SELECT id, cpr, given_name, family_name, birthdate, ial, status, user_id, \
             created_at_us, CAST(CASE WHEN legally_competent THEN 1 ELSE 0 END AS BIGINT) \
             FROM persons WHERE id = $1"
        );
    }
}
