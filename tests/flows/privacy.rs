//! The privacy check over the demo (issue 18, item 5): for every service the demo registers and
//! every protocol, the subject it receives is pairwise, the CPR number reaches only services
//! registered for it, and a foreign node never receives one.
//!
//! The stack runs the demo configuration itself (`config/default.toml` and the relying-party files
//! it names, read by the project's own loader; only its loopback ports are moved to ones the OS
//! chose, in both). What is checked is read from the running system, not listed here: the OIDC
//! relying parties from the broker's registry (admin API), the SAML service providers from the
//! broker's settings after start (where the demo registers its SAML service) and the admin API,
//! the eIDAS proxy service's foreign connectors from the gateway's settings. Coverage:
//! - black box, playing the service itself with its registration: every OIDC client with the code
//!   grant and a client secret in the demo's files (today `delegation-portal`, `demo-rp`,
//!   `demo-shop`, `eidas-proxy`): a real login, the code exchanged with its secret, userinfo, and a
//!   refresh where it may; every resource server (the `introspection` grant: `delegation-api`)
//!   introspects each access token of those logins; the in-process SAML demo service, through its
//!   pages (the Response posted to it decrypted with its own key); the demo country XA's connector,
//!   through XA's service, our proxy service and the broker (the Response XA receives decrypted
//!   with XA's key);
//! - white box, through the broker's own release code (`core::release` and
//!   `oidc::claims::person_claims`; SAML attributes come from the same release) and the proxy
//!   service's (`proxy::release::release`, handed a CPR number it must drop): every registration
//!   (one the test cannot play, e.g. `private_key_jwt`, or a SAML service other than the demo's, is
//!   covered this way only) and every connector country. Its subjects join the black-box ones, so
//!   the two must agree.
//!
//! Public subjects (`subject_type = "public"`) are allowed only for [`internal_public_clients`].

mod checker;
mod demo;

use eid_broker::core::pairwise::PairwiseKey;
use eid_core::{Cpr, Identity, Loa, PersonKey, RelyingParty, RpRegistration, SubjectType};
use eid_testkit::Browser;
use eidbroker::config::{Component, Settings};
use serde_json::Value;

use checker::{Expected, Person, Received, Subject, violations, violations_across};
use demo::{Client, Demo, client_post, foreign_login, oidc_login, saml_login, take_json};

/// The broker's own components that may get public subjects, and why.
fn internal_public_clients(settings: &Settings) -> Vec<(String, &'static str)> {
    vec![(
        settings.delegation.portal_client_id.clone(),
        "the delegation portal: the broker's own registry of powers of attorney, which knows \
         people by their key at the broker (it never gets their CPR number from the broker)",
    )]
}

/// What the demo registers, as the check takes it.
struct Registered {
    /// The OIDC clients the test plays (the code grant; their secret is in the demo's files).
    clients: Vec<(Expected, Client)>,
    /// The resource servers the test plays (the introspection grant).
    resource_servers: Vec<(Expected, Client)>,
    /// The SAML demo service, driven through its pages.
    demo_sp: Expected,
    /// Every registration, OIDC and SAML, for the white box.
    all: Vec<(Expected, RelyingParty)>,
}

/// What a registration expects: its sector, whether it may get the CPR number, its subjects.
fn expected(demo: &Demo, id: &str, sector: &str, cpr: bool, subjects: SubjectType) -> Expected {
    let internal = internal_public_clients(&demo.settings)
        .iter()
        .any(|(client, _)| client == id);
    Expected {
        rp: id.to_owned(),
        sector: sector.to_owned(),
        allows_cpr: cpr,
        subject: match subjects {
            SubjectType::Pairwise => Subject::Pairwise,
            SubjectType::Public => Subject::Public {
                internal,
                upstream: demo.national(),
            },
        },
    }
}

/// What a foreign country's connector may get from our proxy service.
fn abroad(settings: &Settings, country: &str) -> Expected {
    Expected {
        rp: format!("eidas:{country}"),
        sector: format!("eidas:{country}"),
        allows_cpr: false,
        subject: Subject::Foreign {
            prefix: format!("{}/{country}/", settings.eidas_gateway.country),
        },
    }
}

/// Reads the registrations from the running broker: the OIDC registry (admin API), the configured
/// SAML service providers (the demo's among them) and those of the admin API.
async fn registered(demo: &Demo) -> Registered {
    let now = time::OffsetDateTime::now_utc();
    let (mut clients, mut resource_servers, mut all) = (Vec::new(), Vec::new(), Vec::new());
    let registrations: Vec<RpRegistration> =
        serde_json::from_value(demo.admin("relying-parties").await).unwrap();
    for reg in registrations {
        let cpr = reg.allowed_claims.iter().any(|c| c == "cpr");
        let expected = expected(demo, &reg.client_id, &reg.sector, cpr, reg.subject_type);
        let grants = |g: &str| reg.grant_types.iter().any(|x| x == g);
        if let Some(secret) = demo.secrets.get(&reg.client_id) {
            let client = Client {
                id: reg.client_id.clone(),
                secret: secret.clone(),
                redirect_uri: reg.redirect_uris.first().cloned().unwrap_or_default(),
                basic: reg.token_endpoint_auth_method == "client_secret_basic",
                refresh: grants("refresh_token"),
            };
            if grants("authorization_code") {
                clients.push((expected.clone(), client));
            } else if grants("introspection") {
                resource_servers.push((expected.clone(), client));
            }
        }
        all.push((expected, eid_broker::registry::prepare(reg).unwrap().rp));
    }
    let mut saml = Vec::new();
    for sp in &demo.settings.broker.saml_service_providers {
        let registered = sp.register(now).expect("a metadata file").unwrap();
        saml.push((sp.details.clone(), registered.rp));
    }
    let admin: Vec<eid_core::SamlSpRegistration> =
        serde_json::from_value(demo.admin("saml-service-providers").await).unwrap();
    for sp in &admin {
        let details = eid_broker::registry::SpDetails::of(sp);
        let config = details.with_metadata(&sp.metadata);
        let rp = eid_broker::registry::prepare_saml(&config, now).unwrap().rp;
        saml.push((details, rp));
    }
    let demo_sp_id = format!("{}/saml/metadata", demo.url(Component::DemoRp));
    let mut demo_sp = None;
    for (details, rp) in saml {
        let cpr = details.release.iter().any(|r| r == "cpr");
        let expected = expected(demo, &rp.id, &details.sector, cpr, rp.subject_type);
        if rp.id == demo_sp_id {
            demo_sp = Some(expected.clone());
        }
        all.push((expected, rp));
    }
    assert!(!clients.is_empty(), "the demo's OIDC clients are played");
    Registered {
        clients,
        resource_servers,
        demo_sp: demo_sp.expect("the SAML demo service is registered"),
        all,
    }
}

/// One browser's logins of `person`: first at XA through our proxy service (which asks for a
/// fresh login: code display, `step`), then at every other service by single sign-on.
async fn black_box(
    demo: &Demo,
    reg: &Registered,
    person: &Person,
    step: i64,
) -> Vec<(Expected, Person, Received)> {
    let browser = Browser::new();
    let mut seen = Vec::new();
    let xa = demo.settings.eidas_gateway.demo_country.as_ref().unwrap();
    let got = foreign_login(demo, &browser, &xa.code, person, step).await;
    seen.push((abroad(&demo.settings, &xa.code), person.clone(), got));
    let mut tokens = Vec::new();
    for (expected, client) in &reg.clients {
        let (got, access) = oidc_login(demo, &browser, client, person, step).await;
        tokens.push((client.id.clone(), got.subjects[0].clone(), access));
        seen.push((expected.clone(), person.clone(), got));
    }
    let got = saml_login(demo, &browser, &reg.demo_sp.rp, person, step).await;
    seen.push((reg.demo_sp.clone(), person.clone(), got));
    for (expected, server) in &reg.resource_servers {
        for (of, subject, access) in &tokens {
            let mut got = Received::new(&server.id, &format!("introspection of {of}"));
            let answer = client_post(demo, server, "introspect", &[("token", access)]).await;
            assert_eq!(take_json(&answer, &mut got)["active"], true, "{answer}");
            let of = subject.clone();
            let echo = Expected {
                subject: Subject::Echo { of },
                ..expected.clone()
            };
            seen.push((echo, person.clone(), got));
        }
    }
    seen
}

/// The broker's identity of a person after a login at the national authenticator.
fn identity(person: &Person, upstream: &str) -> Identity {
    Identity {
        person: PersonKey {
            upstream: upstream.to_owned(),
            subject: person.id.clone(),
        },
        audit_id: uuid::Uuid::parse_str(&person.id).unwrap(),
        loa: Loa::Substantial,
        amr: vec!["pwd".into(), "otp".into()],
        auth_time: time::OffsetDateTime::now_utc().unix_timestamp(),
        cpr: Some(Cpr::parse(&person.cpr).unwrap()),
        eidas_id: None,
        given_name: Some(person.given_name.clone()),
        family_name: Some(person.family_name.clone()),
        birthdate: Some(person.birthdate.clone()),
        upstream_sid: None,
    }
}

/// What the broker's release code gives `rp` about `person` (its OIDC claims; a SAML service's
/// attributes come from the same release).
fn white_box(rp: &RelyingParty, person: &Person, upstream: &str, key: &PairwiseKey) -> Received {
    let identity = identity(person, upstream);
    let released = eid_broker::core::release(
        rp,
        &identity,
        Loa::Substantial,
        identity.auth_time,
        None,
        key,
    );
    let claims = eid_broker::oidc::claims::person_claims(&released, &rp.id);
    let mut got = Received::new(&rp.id, "white box");
    got.subjects.push(released.subject.clone());
    got.names = claims.keys().cloned().collect();
    got.texts.push(Value::Object(claims).to_string());
    got
}

/// What the proxy service's release code sends `country` about `person`, logged in at the broker
/// as `broker_sub`, given a CPR number it must never pass on.
fn white_box_abroad(demo: &Demo, country: &str, person: &Person, broker_sub: &str) -> Received {
    use eid_eidas_gateway::proxy::release::{Destination, NAME_ID_PERSISTENT, SUPPLIED, release};
    let gateway = &demo.settings.eidas_gateway;
    let proxy = gateway.proxy.as_ref().unwrap();
    // The demo's generated pseudonym key, derived as the gateway derives it (SHA-256 of the file).
    let file = proxy.pseudonym_secret_file.clone().unwrap_or_else(|| {
        demo.settings
            .data_dir
            .join("eidas-gateway")
            .join("pseudonym.secret")
    });
    let text = std::fs::read_to_string(file).unwrap();
    let mut secret = [0u8; 32];
    secret.copy_from_slice(
        ring::digest::digest(&ring::digest::SHA256, text.trim().as_bytes()).as_ref(),
    );
    let upstream = eid_oidc::rp::UpstreamIdentity {
        upstream: "broker".into(),
        subject: broker_sub.to_owned(),
        loa: Loa::Substantial,
        amr: vec!["pwd".into(), "otp".into()],
        auth_time: time::OffsetDateTime::now_utc().unix_timestamp(),
        cpr: Some(person.cpr.clone()),
        eidas: None,
        given_name: Some(person.given_name.clone()),
        family_name: Some(person.family_name.clone()),
        birthdate: Some(person.birthdate.clone()),
        id_token: String::new(),
        sid: None,
    };
    let requested: Vec<_> = SUPPLIED
        .iter()
        .map(|name| eid_saml::eidas::RequestedAttribute {
            name: (*name).to_owned(),
            required: true,
        })
        .collect();
    let to = Destination {
        our_country: &gateway.country,
        connector_country: country,
        secret: &secret,
    };
    let released = release(
        &upstream,
        eid_saml::eidas::EidasLoa::Substantial,
        &to,
        &requested,
        Some(NAME_ID_PERSISTENT),
        eid_oidc::random::token(16),
    )
    .unwrap();
    let mut got = Received::new(&format!("eidas:{country}"), "white box");
    got.subjects.push(released.person_identifier.clone());
    got.subjects.push(released.name_id.clone());
    got.names = released.attributes.iter().map(|a| a.name.clone()).collect();
    got.texts.push(serde_json::to_string(&released).unwrap());
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn every_demo_service_gets_pairwise_subjects_and_a_cpr_number_only_where_registered() {
    let demo = Demo::start().await;
    let persons = demo.persons();
    assert!(
        persons.len() >= 2,
        "two demo persons with a CPR number and code display"
    );
    let (anna, other) = (&persons[0], &persons[1]);
    let reg = registered(&demo).await;
    // Black box: Anna twice (new browsers, new sessions), another person once; each code once.
    let mut seen = Vec::new();
    for (person, step) in [(anna, 0), (anna, 1), (other, 0)] {
        seen.extend(black_box(&demo, &reg, person, step).await);
    }
    // White box: every registration, and every country the proxy service serves.
    let (upstream, key) = (demo.national(), demo.pairwise_key());
    let proxy = demo.settings.eidas_gateway.proxy.as_ref().unwrap();
    for person in [anna, other] {
        let mut proxy_sub = String::new();
        for (expected, rp) in &reg.all {
            let got = white_box(rp, person, &upstream, &key);
            if rp.id == proxy.client_id {
                proxy_sub.clone_from(&got.subjects[0]);
            }
            seen.push((expected.clone(), person.clone(), got));
        }
        for connector in &proxy.connectors {
            let got = white_box_abroad(&demo, &connector.country, person, &proxy_sub);
            seen.push((
                abroad(&demo.settings, &connector.country),
                person.clone(),
                got,
            ));
        }
    }
    let mut found: Vec<String> = seen
        .iter()
        .flat_map(|(e, p, r)| violations(e, p, r))
        .collect();
    found.extend(violations_across(&seen));
    assert!(
        found.is_empty(),
        "privacy violations in the demo:\n{}",
        found.join("\n")
    );
}
