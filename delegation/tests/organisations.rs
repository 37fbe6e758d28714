//! Organisations' administrators, business rights and business powers over a real store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use eid_core::{
    Access, AuditLog, Cvr, MandateKind, MandateState, Organisation, Person, Principal, Scope, Side,
};
use eid_delegation::registry::{PowerInput, RightInput};
use support::*;

async fn demo_aps(h: &H) -> Cvr {
    let org = Organisation {
        cvr: Cvr::parse("12345678").unwrap(),
        name: "Demo ApS".into(),
        created_at: NOW,
    };
    assert!(
        h.reg
            .register_organisation(&org, &h.anna.cpr)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        h.reg
            .register_organisation(&org, &h.anna.cpr)
            .await
            .unwrap()
            .is_none(),
        "idempotent"
    );
    org.cvr
}

fn right_for(cvr: &Cvr, employee: &Person) -> RightInput {
    RightInput {
        organisation: cvr.clone(),
        employee: employee.cpr.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        privileges: vec![eid_core::Privilege::parse("urn:dk:demo:file").unwrap()],
        access: Access::Act,
        administrator: false,
        valid_until: None,
    }
}

#[tokio::test]
async fn only_an_administrator_manages_an_organisations_rights() {
    let h = harness().await;
    let cvr = demo_aps(&h).await;
    // Peter is no administrator: he cannot give himself (or anyone) a right.
    is(
        h.reg
            .assign_right(&h.auth(&h.peter), right_for(&cvr, &h.peter))
            .await,
        "not_administrator",
    );
    is(
        h.reg
            .organisation_mandates(&h.auth(&h.peter), &cvr, Side::Given, 10)
            .await,
        "not_administrator",
    );
    assert_eq!(h.refusals(&h.peter).await.len(), 2);
    // Anna (the first administrator) gives Peter a right; Peter logs in for Demo ApS.
    let right = h
        .reg
        .assign_right(&h.auth(&h.anna), right_for(&cvr, &h.peter))
        .await
        .unwrap();
    let found = h.usable(&h.peter, RP).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, MandateKind::BusinessRight);
    assert_eq!(
        found[0].principal,
        Principal::Organisation {
            cvr: "12345678".into(),
            name: "Demo ApS".into()
        }
    );
    assert_eq!(found[0].privileges, vec!["urn:dk:demo:file".to_owned()]);
    // Peter's right does not make him an administrator.
    is(
        h.reg
            .assign_right(&h.auth(&h.peter), right_for(&cvr, &h.mikkel))
            .await,
        "not_administrator",
    );
    // The administrator revokes it; both are told and audited.
    h.reg
        .revoke(&h.auth(&h.anna), right.record.id)
        .await
        .unwrap();
    assert!(h.usable(&h.peter, RP).await.is_empty());
    let events = AuditLog::for_person(&h.db, h.peter.id, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "delegation.revoked" && e.details["by"] == h.anna.id.to_string())
    );
    assert_eq!(
        h.reg.administered(&h.auth(&h.anna)).await.unwrap()[0].cvr,
        cvr
    );
}

#[tokio::test]
async fn a_business_power_reaches_the_employees_and_cannot_be_passed_on() {
    let h = harness().await;
    // Demo ApS (administered by Anna, Peter an employee with a right for the service) is the
    // accountant of Client A/S (administered by Karen).
    let firm = demo_aps(&h).await;
    h.reg
        .assign_right(&h.auth(&h.anna), right_for(&firm, &h.peter))
        .await
        .unwrap();
    let client = Organisation {
        cvr: Cvr::parse("87654321").unwrap(),
        name: "Client A/S".into(),
        created_at: NOW,
    };
    h.reg
        .register_organisation(&client, &h.karen.cpr)
        .await
        .unwrap();
    let power = PowerInput {
        principal: client.cvr.clone(),
        agent: firm.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        access: Access::Act,
        valid_until: None,
    };
    // Only Client A/S's administrator gives it.
    is(
        h.reg
            .grant_business_power(&h.auth(&h.peter), power.clone())
            .await,
        "not_administrator",
    );
    let view = h
        .reg
        .grant_business_power(&h.auth(&h.karen), power)
        .await
        .unwrap();
    assert_eq!(view.state, MandateState::Pending);
    // An administrator of the agent organisation accepts; an employee cannot.
    is(
        h.reg.accept(&h.auth(&h.peter), view.record.id).await,
        "not_found",
    );
    h.reg
        .accept(&h.auth(&h.anna), view.record.id)
        .await
        .unwrap();
    let found = h.usable(&h.peter, RP).await;
    assert!(found.iter().any(|m| m.kind == MandateKind::BusinessPower
        && m.principal
            == Principal::Organisation {
                cvr: "87654321".into(),
                name: "Client A/S".into()
            }));
    // Demo ApS cannot pass Client A/S's power on to a third organisation.
    let third = Organisation {
        cvr: Cvr::parse("11223344").unwrap(),
        name: "Third ApS".into(),
        created_at: NOW,
    };
    h.reg
        .register_organisation(&third, &h.mikkel.cpr)
        .await
        .unwrap();
    let pass_on = PowerInput {
        principal: client.cvr.clone(),
        agent: third.cvr.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        access: Access::Act,
        valid_until: None,
    };
    is(
        h.reg.grant_business_power(&h.auth(&h.anna), pass_on).await,
        "re_delegation",
    );
}
