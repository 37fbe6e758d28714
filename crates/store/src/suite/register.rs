//! Behaviour suites of the person register and of the persons' authenticators.

use super::{base_time, secs};
use eid_core::ports::RemoveOutcome;
use eid_core::{
    Authenticator, AuthenticatorKind, AuthenticatorRepository, Cpr, Loa, Person, PersonRepository,
    PersonStatus, StoreError,
};
use std::sync::Arc;
use time::{Date, Month, OffsetDateTime};
use uuid::Uuid;

/// A random, syntactically valid CPR number (`DDMMYY` a real date, then four digits).
fn random_cpr() -> Cpr {
    let mut r = Uuid::new_v4().as_u128();
    let mut take = |n: u128| {
        let v = r % n;
        r /= n;
        v
    };
    let (day, month, year, serial) = (1 + take(28), 1 + take(12), take(100), take(10_000));
    Cpr::parse(&format!("{day:02}{month:02}{year:02}{serial:04}")).expect("valid CPR")
}

/// A random CPR number no person in `repo` has (the register may be shared with other runs).
async fn fresh_cpr(repo: &dyn PersonRepository) -> Cpr {
    loop {
        let cpr = random_cpr();
        if repo.person_by_cpr(&cpr).await.unwrap().is_none() {
            return cpr;
        }
    }
}

/// A new, not yet activated person with a fresh CPR number and a birth date matching it.
async fn new_person(repo: &dyn PersonRepository, given_name: &str, at: OffsetDateTime) -> Person {
    let cpr = fresh_cpr(repo).await;
    let digits = cpr.as_str();
    let part = |i: usize| digits[i..i + 2].parse::<u8>().expect("digits");
    let month = Month::try_from(part(2)).expect("month");
    let birthdate = Date::from_calendar_date(1900 + i32::from(part(4)), month, part(0))
        .expect("days 1-28 exist in every month");
    Person {
        id: Uuid::new_v4(),
        cpr,
        given_name: given_name.to_owned(),
        family_name: "Testesen".to_owned(),
        birthdate,
        ial: Loa::Substantial,
        status: PersonStatus::Active,
        legally_competent: true,
        user_id: None,
        created_at: at,
    }
}

async fn registered(repo: &dyn PersonRepository, given_name: &str, at: OffsetDateTime) -> Person {
    let person = new_person(repo, given_name, at).await;
    repo.upsert_person(&person).await.expect("register person");
    person
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

/// Everything [`PersonRepository`] promises: lookups by id, CPR number and (case-insensitive) user
/// ID; upsert that updates only the register data and never the CPR number or user ID; unique CPR
/// numbers and user IDs (`Conflict`); activation codes that expire, are replaced, and are consumed
/// once (also under concurrency).
pub async fn person_repository_behaviour(repo: &dyn PersonRepository) {
    let tag = Uuid::new_v4().simple().to_string();
    let t0 = base_time();

    assert_eq!(repo.person(Uuid::new_v4()).await.unwrap(), None);
    let unused = fresh_cpr(repo).await;
    assert_eq!(repo.person_by_cpr(&unused).await.unwrap(), None);
    let nobody = format!("nobody-{tag}");
    assert_eq!(repo.person_by_user_id(&nobody).await.unwrap(), None);
    // A user id no backend can store (PostgreSQL refuses NUL) is simply not there.
    assert_eq!(repo.person_by_user_id("a\0b").await.unwrap(), None);

    // Insert and read back by id and by CPR number, every field intact.
    let alice = new_person(repo, "Alice", t0).await;
    repo.upsert_person(&alice).await.unwrap();
    assert_eq!(repo.person(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        repo.person_by_cpr(&alice.cpr).await.unwrap(),
        Some(alice.clone())
    );
    repo.upsert_person(&alice)
        .await
        .expect("upsert is idempotent");
    assert_eq!(repo.person(alice.id).await.unwrap(), Some(alice.clone()));

    // Upsert of an existing id updates names, birth date, level, status and legal competence,
    // nothing else.
    let other_cpr = fresh_cpr(repo).await;
    let sneaky_user_id = format!("sneaky-{tag}");
    let changed = Person {
        cpr: other_cpr.clone(),
        given_name: "Alice Marie".to_owned(),
        family_name: "Ærø-Østergård 'quoted' \"name\"".to_owned(),
        birthdate: Date::from_calendar_date(1985, Month::December, 31).unwrap(),
        ial: Loa::High,
        status: PersonStatus::Suspended,
        legally_competent: false,
        user_id: Some(sneaky_user_id.clone()),
        created_at: t0 + secs(99),
        ..alice.clone()
    };
    repo.upsert_person(&changed).await.unwrap();
    let alice = Person {
        cpr: alice.cpr.clone(),
        user_id: None,
        created_at: alice.created_at,
        ..changed
    };
    assert_eq!(repo.person(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(repo.person_by_cpr(&other_cpr).await.unwrap(), None);
    assert_eq!(repo.person_by_user_id(&sneaky_user_id).await.unwrap(), None);

    // Another id with a CPR number already registered: Conflict, nothing stored or changed.
    let impostor = Person {
        id: Uuid::new_v4(),
        given_name: "Mallory".to_owned(),
        ..alice.clone()
    };
    assert_conflict(repo.upsert_person(&impostor).await, "duplicate CPR");
    assert_eq!(repo.person(impostor.id).await.unwrap(), None);
    assert_eq!(
        repo.person_by_cpr(&alice.cpr).await.unwrap(),
        Some(alice.clone())
    );

    user_ids(repo, &tag, t0, &alice).await;
    activation_codes(repo, t0, alice.id).await;
}

async fn user_ids(repo: &dyn PersonRepository, tag: &str, t0: OffsetDateTime, alice: &Person) {
    // A user ID given at registration; lookups ignore case (Unicode too).
    let bob_user_id = format!("Bob.Ærø-{tag}");
    let bob = Person {
        user_id: Some(bob_user_id.clone()),
        ..new_person(repo, "Bob", t0).await
    };
    repo.upsert_person(&bob).await.unwrap();
    for spelling in [
        bob_user_id.clone(),
        bob_user_id.to_uppercase(),
        bob_user_id.to_lowercase(),
    ] {
        assert_eq!(
            repo.person_by_user_id(&spelling).await.unwrap(),
            Some(bob.clone()),
            "{spelling}"
        );
    }
    // A new person whose user ID differs from Bob's only in case: Conflict.
    let clash = Person {
        user_id: Some(bob_user_id.to_uppercase()),
        ..new_person(repo, "Carol", t0).await
    };
    assert_conflict(repo.upsert_person(&clash).await, "user ID taken at insert");
    assert_eq!(repo.person(clash.id).await.unwrap(), None);

    // set_user_id: stored as given, found in any case; setting one's own again (any case) is fine.
    let alice_user_id = format!("alice-{tag}");
    repo.set_user_id(alice.id, &alice_user_id).await.unwrap();
    let stored = repo.person(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.user_id.as_deref(), Some(alice_user_id.as_str()));
    assert_eq!(
        repo.person_by_user_id(&alice_user_id.to_uppercase())
            .await
            .unwrap()
            .map(|p| p.id),
        Some(alice.id)
    );
    repo.set_user_id(alice.id, &alice_user_id).await.unwrap();
    let shouted = alice_user_id.to_uppercase();
    repo.set_user_id(alice.id, &shouted).await.unwrap();
    let stored = repo.person(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.user_id.as_deref(), Some(shouted.as_str()));

    // Another person's user ID, in any case: Conflict, nothing changed.
    assert_conflict(
        repo.set_user_id(alice.id, &bob_user_id.to_lowercase())
            .await,
        "user ID of another person",
    );
    let stored = repo.person(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.user_id.as_deref(), Some(shouted.as_str()));
    assert_eq!(
        repo.person_by_user_id(&bob_user_id).await.unwrap(),
        Some(bob.clone())
    );

    // No such person: an error, and nothing is stored.
    let ghost = format!("ghost-{tag}");
    assert!(repo.set_user_id(Uuid::new_v4(), &ghost).await.is_err());
    assert_eq!(repo.person_by_user_id(&ghost).await.unwrap(), None);

    // Reloading the register (upsert without a user ID) keeps the one set at activation.
    repo.upsert_person(&Person {
        user_id: None,
        ..stored.clone()
    })
    .await
    .unwrap();
    assert_eq!(repo.person(alice.id).await.unwrap(), Some(stored));
}

async fn activation_codes(repo: &dyn PersonRepository, t0: OffsetDateTime, other: Uuid) {
    let dave = registered(repo, "Dave", t0).await.id;
    let expires = t0 + secs(600);

    assert_eq!(repo.activation_code_hash(dave, t0).await.unwrap(), None);
    assert!(
        !repo
            .consume_activation_code(dave, "nothing-set")
            .await
            .unwrap()
    );

    repo.set_activation_code(dave, "hash-1", expires)
        .await
        .unwrap();
    let hash_at = |now| repo.activation_code_hash(dave, now);
    assert_eq!(hash_at(t0).await.unwrap().as_deref(), Some("hash-1"));
    assert_eq!(
        hash_at(expires - time::Duration::milliseconds(1))
            .await
            .unwrap()
            .as_deref(),
        Some("hash-1")
    );
    assert_eq!(hash_at(expires).await.unwrap(), None, "expired at expiry");
    assert_eq!(hash_at(expires + secs(1)).await.unwrap(), None);

    // A new code replaces the old one.
    repo.set_activation_code(dave, "hash-2", expires)
        .await
        .unwrap();
    assert_eq!(hash_at(t0).await.unwrap().as_deref(), Some("hash-2"));
    assert!(!repo.consume_activation_code(dave, "hash-1").await.unwrap());
    // Codes are per person.
    assert!(!repo.consume_activation_code(other, "hash-2").await.unwrap());
    assert_eq!(hash_at(t0).await.unwrap().as_deref(), Some("hash-2"));
    // Consumed once.
    assert!(repo.consume_activation_code(dave, "hash-2").await.unwrap());
    assert!(!repo.consume_activation_code(dave, "hash-2").await.unwrap());
    assert_eq!(hash_at(t0).await.unwrap(), None);

    // An expired code is not handed out.
    repo.set_activation_code(dave, "hash-3", t0 - secs(1))
        .await
        .unwrap();
    assert_eq!(hash_at(t0).await.unwrap(), None);

    // No such person: an error.
    assert!(
        repo.set_activation_code(Uuid::new_v4(), "hash-x", expires)
            .await
            .is_err()
    );

    // Of concurrent consumptions of one code, exactly one wins.
    for round in 0..8 {
        let hash = format!("race-{round}");
        repo.set_activation_code(dave, &hash, expires)
            .await
            .unwrap();
        let consume = || repo.consume_activation_code(dave, &hash);
        let (a, b, c, d) = tokio::join!(consume(), consume(), consume(), consume());
        let wins = [a, b, c, d]
            .into_iter()
            .map(|r| r.unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(wins, 1, "round {round}: exactly one consumption wins");
    }
}

fn authenticator(
    person: Uuid,
    kind: AuthenticatorKind,
    label: &str,
    secret: &[u8],
    created_at: OffsetDateTime,
) -> Authenticator {
    Authenticator {
        id: Uuid::new_v4(),
        person,
        kind,
        label: label.to_owned(),
        secret: secret.to_vec(),
        created_at,
        last_used_at: None,
    }
}

fn assert_removal(outcome: Result<RemoveOutcome, StoreError>, expected: RemoveOutcome, what: &str) {
    assert_eq!(outcome.unwrap(), expected, "{what}");
}

/// Everything [`AuthenticatorRepository`] promises: add and list oldest first with every field
/// intact, unique ids, record use (with and without a new secret), rename (the person's own only),
/// and removal that never removes
/// another person's authenticator nor a person's last one, also when removals race on real threads.
/// `persons` registers the owners (an authenticator belongs to a registered person).
pub async fn authenticator_repository_behaviour(
    persons: Arc<dyn PersonRepository>,
    authenticators: Arc<dyn AuthenticatorRepository>,
) {
    let repo = authenticators.as_ref();
    let t0 = base_time();
    let pia = registered(persons.as_ref(), "Pia", t0).await.id;
    let quinn = registered(persons.as_ref(), "Quinn", t0).await.id;
    let kind = AuthenticatorKind::Password;
    assert!(repo.authenticators(pia).await.unwrap().is_empty());

    // Add in no particular order; read back oldest first, ties by id, every field intact.
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let password = authenticator(
        pia,
        kind,
        "Adgangskode",
        b"$argon2id$v=19$m=1",
        t0 + secs(2),
    );
    let passkey = authenticator(pia, AuthenticatorKind::Passkey, "YubiKey ✓", &all_bytes, t0);
    let code = authenticator(
        pia,
        AuthenticatorKind::CodeDisplay,
        "Kodeviser",
        b"totp",
        t0 + secs(2),
    );
    let app = Authenticator {
        last_used_at: Some(t0 + secs(5)),
        ..authenticator(
            pia,
            AuthenticatorKind::App,
            "Phone",
            b"device-key",
            t0 + secs(3),
        )
    };
    for a in [&code, &app, &password, &passkey] {
        repo.add_authenticator(a).await.unwrap();
    }
    let mut expected = vec![password.clone(), passkey.clone(), code.clone(), app.clone()];
    expected.sort_by_key(|a| (a.created_at, a.id));
    assert_eq!(repo.authenticators(pia).await.unwrap(), expected);
    assert!(repo.authenticators(quinn).await.unwrap().is_empty());

    // A duplicate id is a Conflict; a person not in the register cannot hold one.
    assert_conflict(repo.add_authenticator(&password).await, "duplicate id");
    let orphan = authenticator(Uuid::new_v4(), kind, "x", b"x", t0);
    assert!(repo.add_authenticator(&orphan).await.is_err());

    // record_use: last use always, the secret only when given.
    let used = t0 + secs(30);
    repo.record_use(password.id, used, None).await.unwrap();
    repo.record_use(passkey.id, used + secs(1), Some(b"counter=7"))
        .await
        .unwrap();
    let expected: Vec<Authenticator> = expected
        .into_iter()
        .map(|a| match a.id {
            id if id == password.id => Authenticator {
                last_used_at: Some(used),
                ..a
            },
            id if id == passkey.id => Authenticator {
                last_used_at: Some(used + secs(1)),
                secret: b"counter=7".to_vec(),
                ..a
            },
            _ => a,
        })
        .collect();
    assert_eq!(repo.authenticators(pia).await.unwrap(), expected);
    assert!(repo.record_use(Uuid::new_v4(), used, None).await.is_err());

    // Rename: the person's own authenticator only; the name is stored as given (up to the bound,
    // any printable character), and nothing else of it changes.
    let renamed = "Kodeviser i skuffen ✓ æøå «40»";
    assert!(
        repo.rename_authenticator(pia, code.id, renamed)
            .await
            .unwrap()
    );
    let longest = "ø".repeat(Authenticator::LABEL_MAX);
    assert!(
        repo.rename_authenticator(pia, app.id, &longest)
            .await
            .unwrap()
    );
    assert!(
        !repo
            .rename_authenticator(quinn, code.id, "Quinn's now")
            .await
            .unwrap(),
        "another person's authenticator is not renamed"
    );
    assert!(
        !repo
            .rename_authenticator(pia, Uuid::new_v4(), "x")
            .await
            .unwrap(),
        "unknown id"
    );
    let expected: Vec<Authenticator> = expected
        .into_iter()
        .map(|a| match a.id {
            id if id == code.id => Authenticator {
                label: renamed.to_owned(),
                ..a
            },
            id if id == app.id => Authenticator {
                label: longest.clone(),
                ..a
            },
            _ => a,
        })
        .collect();
    assert_eq!(repo.authenticators(pia).await.unwrap(), expected);
    assert!(repo.authenticators(quinn).await.unwrap().is_empty());
    let (code, app) = (
        Authenticator {
            label: renamed.to_owned(),
            ..code
        },
        Authenticator {
            label: longest,
            ..app
        },
    );

    // Removal: never another person's authenticator, never the last one.
    let quinns = authenticator(quinn, kind, "Quinn's", b"q", t0);
    repo.add_authenticator(&quinns).await.unwrap();
    let not_found = RemoveOutcome::NotFound;
    assert_removal(
        repo.remove_authenticator(quinn, password.id).await,
        not_found,
        "not Quinn's",
    );
    assert_removal(
        repo.remove_authenticator(pia, quinns.id).await,
        not_found,
        "not Pia's",
    );
    assert_removal(
        repo.remove_authenticator(pia, Uuid::new_v4()).await,
        not_found,
        "unknown id",
    );
    let nobody = Uuid::new_v4();
    assert_removal(
        repo.remove_authenticator(nobody, quinns.id).await,
        not_found,
        "no person",
    );
    assert_eq!(repo.authenticators(pia).await.unwrap(), expected);
    let refused = RemoveOutcome::RefusedLast;
    assert_removal(
        repo.remove_authenticator(quinn, quinns.id).await,
        refused,
        "Quinn's last",
    );
    assert_eq!(repo.authenticators(quinn).await.unwrap(), vec![quinns]);

    let removed = RemoveOutcome::Removed;
    assert_removal(
        repo.remove_authenticator(pia, password.id).await,
        removed,
        "password",
    );
    assert_removal(
        repo.remove_authenticator(pia, password.id).await,
        not_found,
        "again",
    );
    assert_removal(
        repo.remove_authenticator(pia, passkey.id).await,
        removed,
        "passkey",
    );
    assert_removal(
        repo.remove_authenticator(pia, code.id).await,
        removed,
        "code display",
    );
    assert_removal(
        repo.remove_authenticator(pia, app.id).await,
        refused,
        "Pia's last",
    );
    assert_eq!(repo.authenticators(pia).await.unwrap(), vec![app.clone()]);
    let none = registered(persons.as_ref(), "Nobody", t0).await.id;
    assert_removal(
        repo.remove_authenticator(none, app.id).await,
        not_found,
        "holds none",
    );

    for round in 0..8 {
        removal_race(&persons, &authenticators, 2, round).await;
    }
    for round in 8..10 {
        removal_race(&persons, &authenticators, 6, round).await;
    }
    for round in 10..14 {
        same_id_race(&persons, &authenticators, round).await;
    }
}

/// A person with `n` authenticators; `n` removals, one of each, start at once on real threads.
/// All but one succeed and one authenticator remains.
async fn removal_race(
    persons: &Arc<dyn PersonRepository>,
    authenticators: &Arc<dyn AuthenticatorRepository>,
    n: usize,
    round: usize,
) {
    let t0 = base_time();
    let person = registered(persons.as_ref(), "Racer", t0).await.id;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let a = authenticator(
            person,
            AuthenticatorKind::Passkey,
            "k",
            b"s",
            t0 + secs(i as i64),
        );
        authenticators.add_authenticator(&a).await.unwrap();
        ids.push(a.id);
    }
    let outcomes = race(authenticators, person, &ids).await;
    let count = |o| outcomes.iter().filter(|x| **x == o).count();
    assert_eq!(
        (
            count(RemoveOutcome::Removed),
            count(RemoveOutcome::RefusedLast)
        ),
        (n - 1, 1),
        "round {round}: {outcomes:?}"
    );
    let left = authenticators.authenticators(person).await.unwrap();
    assert_eq!(left.len(), 1, "round {round}: one authenticator remains");
}

/// Two removals of the same authenticator (of three) at once: one removes it, the other finds it
/// gone.
async fn same_id_race(
    persons: &Arc<dyn PersonRepository>,
    authenticators: &Arc<dyn AuthenticatorRepository>,
    round: usize,
) {
    let t0 = base_time();
    let person = registered(persons.as_ref(), "Twin", t0).await.id;
    let mut ids = Vec::new();
    for i in 0..3 {
        let a = authenticator(person, AuthenticatorKind::App, "k", b"s", t0 + secs(i));
        authenticators.add_authenticator(&a).await.unwrap();
        ids.push(a.id);
    }
    let mut outcomes = race(authenticators, person, &[ids[0], ids[0]]).await;
    outcomes.sort_by_key(|o| *o == RemoveOutcome::NotFound);
    assert_eq!(
        outcomes,
        vec![RemoveOutcome::Removed, RemoveOutcome::NotFound],
        "round {round}"
    );
    assert_eq!(
        authenticators.authenticators(person).await.unwrap().len(),
        2
    );
}

/// Removes each of `ids` of `person` on its own task, all released at once by a barrier.
async fn race(
    authenticators: &Arc<dyn AuthenticatorRepository>,
    person: Uuid,
    ids: &[Uuid],
) -> Vec<RemoveOutcome> {
    let barrier = Arc::new(tokio::sync::Barrier::new(ids.len()));
    let tasks: Vec<_> = ids
        .iter()
        .map(|&id| {
            let repo = Arc::clone(authenticators);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                repo.remove_authenticator(person, id).await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.unwrap().expect("removal answers"));
    }
    outcomes
}
