//! Tests of the configuration: every field named in its error, the demo kept to loopback, and any
//! text or environment read without a panic.
#![allow(clippy::unwrap_used)]

use super::*;

fn parse(text: &str) -> Result<Settings, ConfigError> {
    from_toml_str(text, "test.toml", &[])
}

#[test]
fn idp_clients_are_validated() {
    let ok = parse(
        "[demo]\nenabled = true\n[idp]\nlisten = \"127.0.0.1:8081\"\npublic_url = \"http://localhost:8081\"\n\
         [[idp.clients]]\nclient_id = \"broker\"\nclient_name = \"Broker\"\n\
         client_secret = \"0123456789abcdef\"\nredirect_uris = [\"http://localhost:8080/cb\"]\n",
    )
    .unwrap();
    assert_eq!(ok.idp.clients.len(), 1);
    let err = parse(
        "[idp]\nlisten = \"127.0.0.1:8081\"\npublic_url = \"http://localhost:8081\"\n\
         [[idp.clients]]\nclient_id = \"broker\"\nclient_name = \"Broker\"\n\
         client_secret = \"short\"\nredirect_uris = [\"http://localhost:8080/cb\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("idp.clients[0]") && err.contains("16"),
        "{err}"
    );
}

#[test]
fn the_built_in_defaults_are_not_the_demo_and_need_the_shared_pairwise_secret() {
    let err = parse("").unwrap_err().to_string();
    assert!(err.starts_with("broker.pairwise_secret_file"), "{err}");
    let s = parse(
        "[broker]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://localhost:8080\"\n\
         pairwise_secret_file = \"/etc/eidbroker/pairwise.secret\"\n",
    )
    .unwrap();
    assert!(!s.demo_enabled && !s.may_generate_secrets());
}

#[test]
fn the_demo_runs_only_on_loopback() {
    for (section, listen, url) in [
        ("idp", "0.0.0.0:8081", "http://localhost:8081"),
        ("broker", "127.0.0.1:8080", "https://broker.example.dk"),
        ("demo_rp", "[::]:8090", "http://localhost:8090"),
    ] {
        let err = parse(&format!(
            "[demo]\nenabled = true\n[{section}]\nlisten = {listen:?}\npublic_url = {url:?}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("demo.enabled") && err.contains("loopback"),
            "{err}"
        );
    }
}

#[test]
fn only_the_single_node_demo_may_generate_the_secrets_a_cluster_shares() {
    let demo = parse("[demo]\nenabled = true\n").unwrap();
    assert!(demo.may_generate_secrets());
    // The demo on Redis may be one of several nodes: the secret must be provisioned.
    let err = parse("[demo]\nenabled = true\n[store]\nephemeral = \"redis://127.0.0.1:6379\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("broker.pairwise_secret_file"), "{err}");
    let shared = parse(
        "[demo]\nenabled = true\n[store]\nephemeral = \"redis://127.0.0.1:6379\"\n\
         [broker]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://localhost:8080\"\n\
         pairwise_secret_file = \"/etc/eidbroker/pairwise.secret\"\n",
    )
    .unwrap();
    assert!(shared.demo_enabled && !shared.may_generate_secrets());
}

#[test]
fn the_memory_store_is_bounded_as_configured() {
    let s = parse("[demo]\nenabled = true\n[store]\nmemory_max_entries = 10\nmemory_max_mib = 2\n")
        .unwrap();
    assert_eq!(s.memory_limits.max_entries, 10);
    assert_eq!(s.memory_limits.max_bytes, 2 * 1024 * 1024);
    for (key, field) in [
        ("memory_max_entries = 0", "store.memory_max_entries"),
        ("memory_max_mib = 0", "store.memory_max_mib"),
    ] {
        let err = parse(&format!("[demo]\nenabled = true\n[store]\n{key}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(field), "{err}");
    }
}

#[test]
fn the_demo_file_gives_the_demo_defaults() {
    let s = parse("[demo]\nenabled = true\n").unwrap();
    assert_eq!(s.ephemeral, EphemeralBackend::Memory);
    assert_eq!(
        s.durable,
        DurableBackend::Sqlite(PathBuf::from("./data/eidbroker.db"))
    );
    assert_eq!(
        s.listener(Component::Broker).public_url.as_str(),
        "http://localhost:8080/"
    );
    assert_eq!(s.listener(Component::DemoRp).listen.port(), 8090);
    assert!(s.demo_enabled);
    assert_eq!(s.log_filter, "info");
}

#[test]
fn the_saml_demo_service_runs_only_where_asked_and_only_in_the_demo() {
    let demo_rp =
        "[demo_rp]\nlisten = \"127.0.0.1:8090\"\npublic_url = \"http://localhost:8090\"\n";
    let on = parse(&format!("[demo]\nenabled = true\n{demo_rp}saml = true\n")).unwrap();
    assert!(on.demo_rp.saml);
    let not_asked = parse(&format!("[demo]\nenabled = true\n{demo_rp}")).unwrap();
    assert!(!not_asked.demo_rp.saml);
    let no_demo = parse(&format!(
        "[broker]\npairwise_secret_file = \"/etc/p\"\nlisten = \"127.0.0.1:8080\"\n\
         public_url = \"http://localhost:8080\"\n{demo_rp}saml = true\n"
    ))
    .unwrap();
    assert!(
        !no_demo.demo_rp.saml,
        "without the demo there is no demo service"
    );
    let shipped = from_toml_str(
        include_str!("../config/default.toml"),
        "config/default.toml",
        &[],
    )
    .unwrap();
    assert!(shipped.demo_rp.saml, "the demo configuration runs it");
}

#[test]
fn unknown_key_is_named() {
    let err = parse("[store]\nephemerall = \"memory\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("store") && err.contains("ephemerall"), "{err}");
}

#[test]
fn bad_url_is_named() {
    let err = parse("[broker]\nlisten = \"127.0.0.1:1\"\npublic_url = \"not a url\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("broker.public_url"), "{err}");
}

#[test]
fn plain_http_outside_loopback_is_refused() {
    let err = parse("[idp]\nlisten = \"0.0.0.0:1\"\npublic_url = \"http://idp.example.dk\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("idp.public_url") && err.contains("https"),
        "{err}"
    );
}

#[test]
fn missing_key_file_is_named() {
    let err = parse(
        "[[keys.files]]\ncomponent = \"broker\"\nfile = \"/nonexistent/k.pem\"\nalg = \"ES256\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("keys.files[0].file") && err.contains("/nonexistent/k.pem"),
        "{err}"
    );
}

#[test]
fn shared_origin_is_refused() {
    let err = parse("[idp]\nlisten = \"127.0.0.1:8081\"\npublic_url = \"http://localhost:8080\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("own origin"), "{err}");
}

#[test]
fn environment_overrides_win_and_are_validated() {
    let env = vec![
        (
            "EIDBROKER_STORE__EPHEMERAL".to_owned(),
            "redis://127.0.0.1:6379".to_owned(),
        ),
        (
            "EIDBROKER_KEYS__RELOAD_INTERVAL_SECS".to_owned(),
            "60".to_owned(),
        ),
        ("EIDBROKER_CONFIG".to_owned(), "ignored.toml".to_owned()),
        ("PATH".to_owned(), "/usr/bin".to_owned()),
    ];
    let s = from_toml_str(
        "[store]\nephemeral = \"memory\"\n[broker]\nlisten = \"127.0.0.1:8080\"\n\
         public_url = \"http://localhost:8080\"\npairwise_secret_file = \"/run/pairwise\"\n",
        "t",
        &env,
    )
    .unwrap();
    assert!(matches!(s.ephemeral, EphemeralBackend::Redis { .. }));
    assert_eq!(s.keys_reload_interval, Duration::from_secs(60));
    let bad = vec![("EIDBROKER_STORE__NOPE".to_owned(), "x".to_owned())];
    let err = from_toml_str("", "t", &bad).unwrap_err().to_string();
    assert!(err.contains("store.nope") || err.contains("nope"), "{err}");
}

#[test]
fn component_fields_are_named_under_their_section() {
    let broker = "[demo]\nenabled = true\n[broker]\nlisten = \"127.0.0.1:8080\"\n\
                  public_url = \"http://localhost:8080\"\n";
    let err = parse(&format!(
        "{broker}[[broker.upstreams]]\nname = \"idp\"\nissuer = \"not a url\"\n\
         client_id = \"broker\"\nclient_secret = \"0123456789abcdef\"\nkind = \"national\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("broker.upstreams[0].issuer"), "{err}");
    let err = parse(&format!("{broker}session_ttl_secs = \"long\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("broker.session_ttl_secs"), "{err}");
    let err = parse("[broker]\npublic_url = \"http://localhost:8080\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("broker") && err.contains("listen"), "{err}");
    let err = parse(
        "[demo]\nenabled = true\n[idp]\nlisten = \"127.0.0.1:8081\"\n\
                     public_url = \"http://localhost:8081\"\nsession_ttl_secs = 0\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("idp.session_ttl_secs"), "{err}");
}

#[test]
fn a_saml_service_provider_by_metadata_url_is_checked_by_check_config() {
    let broker = "[demo]\nenabled = true\n[broker]\nlisten = \"127.0.0.1:8080\"\n\
                  public_url = \"http://localhost:8080\"\n[[broker.saml_service_providers]]\n\
                  metadata_url = \"https://sp.example.dk/metadata\"\nname = \"SP\"\n\
                  sector = \"sp\"\n";
    let ok = parse(&format!(
        "{broker}entity_id = \"https://sp.example.dk/saml\"\nrefresh_interval_secs = 600\n"
    ))
    .unwrap();
    let sp = ok.broker.saml_service_providers[0].url_sp().unwrap();
    assert_eq!(sp.entity_id, "https://sp.example.dk/saml");
    assert_eq!(sp.source.interval, Duration::from_secs(600));
    let err = parse(broker).unwrap_err().to_string();
    assert!(
        err.starts_with("broker.saml_service_providers[0].entity_id"),
        "{err}"
    );
    let err = parse(&format!(
        "{broker}entity_id = \"https://sp.example.dk/saml\"\n\
         anchor_certificate_file = \"/nonexistent/anchor.pem\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("broker.saml_service_providers[0].anchor_certificate_file"),
        "{err}"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Configuration-shaped text: known sections and keys with values of any type, plus noise.
    fn config_text() -> impl Strategy<Value = String> {
        let section = prop_oneof![
            Just("store"),
            Just("keys"),
            Just("log"),
            Just("demo"),
            Just("broker"),
            Just("idp"),
            Just("delegation"),
            Just("eidas_gateway"),
            Just("demo_rp"),
        ];
        let key = prop_oneof![
            Just("ephemeral".to_owned()),
            Just("durable".to_owned()),
            Just("enabled".to_owned()),
            Just("listen".to_owned()),
            Just("public_url".to_owned()),
            Just("session_ttl_secs".to_owned()),
            Just("reload_interval_secs".to_owned()),
            Just("pairwise_secret_file".to_owned()),
            Just("admin_token".to_owned()),
            Just("format".to_owned()),
            "[a-z_]{1,10}",
        ];
        let value = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            ".{0,30}".prop_map(|s| format!("{s:?}")),
            Just("\"127.0.0.1:8080\"".to_owned()),
            Just("\"http://localhost:8080\"".to_owned()),
            Just("\"0.0.0.0:1\"".to_owned()),
            Just("\"redis://127.0.0.1:6379\"".to_owned()),
            Just("[]".to_owned()),
        ];
        prop::collection::vec((section, prop::collection::vec((key, value), 0..5)), 0..6).prop_map(
            |sections| {
                sections
                    .into_iter()
                    .map(|(name, pairs)| {
                        let body: String = pairs
                            .into_iter()
                            .map(|(k, v)| format!("{k} = {v}\n"))
                            .collect();
                        format!("[{name}]\n{body}")
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text at all is read without a panic: a valid configuration or a named error.
        #[test]
        fn any_text_is_read_without_panic(text in ".{0,200}") {
            let _ = from_toml_str(&text, "fuzz", &[]);
        }

        /// Configuration-shaped text with any values: an error always names a field or the file,
        /// and a configuration that validates never runs the demo off loopback.
        #[test]
        fn any_configuration_validates_or_names_the_problem(
            text in config_text(),
            env in prop::collection::vec(
                ("EIDBROKER_[A-Z_]{1,12}__[A-Z_]{1,12}", ".{0,20}"),
                0..3,
            ),
        ) {
            match from_toml_str(&text, "fuzz", &env) {
                Ok(settings) => {
                    if settings.demo_enabled {
                        for listener in settings.listeners.values() {
                            prop_assert!(listener.listen.ip().is_loopback() && listener.is_loopback());
                        }
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn the_registry_rules_are_configured_and_checked() {
    let ok = parse(
        "[demo]\nenabled = true\n[delegation]\nlisten = \"127.0.0.1:8082\"\npublic_url = \"http://localhost:8082\"\n\
         max_validity_days = 90\nfresh_login_secs = 120\n\
         acceptance_by_default = false\n[delegation.acceptance]\n\"area:housing-benefit\" = true\n",
    )
    .unwrap();
    let rules = &ok.delegation.rules;
    assert_eq!(rules.max_validity, time::Duration::days(90));
    assert_eq!(rules.fresh_login, time::Duration::seconds(120));
    assert!(!rules.acceptance_by_default);
    assert_eq!(
        rules
            .acceptance
            .get(&eid_core::Scope::Area("housing-benefit".into())),
        Some(&true)
    );
    let section = "[demo]\nenabled = true\n[delegation]\nlisten = \"127.0.0.1:8082\"\npublic_url = \"http://localhost:8082\"\n";
    for (text, field) in [
        ("max_validity_days = 0\n", "delegation.max_validity_days"),
        ("fresh_login_secs = 5\n", "delegation.fresh_login_secs"),
        (
            "[delegation.acceptance]\n\"housing\" = false\n",
            "delegation.acceptance",
        ),
    ] {
        let err = parse(&format!("{section}{text}")).unwrap_err().to_string();
        assert!(err.starts_with(field), "{text}: {err}");
    }
}

#[test]
fn the_eidas_gateway_section_is_checked_by_the_gateways_rules() {
    // Absent: our country, no part running.
    let none = parse("[demo]\nenabled = true\n").unwrap();
    assert_eq!(none.eidas_gateway.country, "DK");
    assert!(none.eidas_gateway.connector.is_none() && none.eidas_gateway.proxy.is_none());
    let gateway =
        "[eidas_gateway]\nlisten = \"127.0.0.1:8083\"\npublic_url = \"http://localhost:8083\"\n";
    let proxy = "[eidas_gateway.proxy]\nclient_id = \"p\"\nclient_secret = \"s\"\n\
                 [[eidas_gateway.proxy.connectors]]\nmetadata_url = \"http://localhost:9/m\"\nanchor = \"demo\"\n";
    let ok = parse(&format!(
        "[demo]\nenabled = true\n{gateway}{proxy}country = \"XA\"\n"
    ))
    .unwrap();
    assert_eq!(ok.eidas_gateway.proxy.unwrap().connectors[0].country, "XA");
    // A peer of our own country, a bad algorithm, and the demo country outside the demo.
    let own = parse(&format!(
        "[demo]\nenabled = true\n{gateway}{proxy}country = \"DK\"\n"
    ));
    assert!(format!("{}", own.unwrap_err()).contains("eidas_gateway.proxy.connectors[0].country"));
    let alg = parse(&format!(
        "[demo]\nenabled = true\n{gateway}{proxy}country = \"XA\"\n\
         [eidas_gateway.proxy.connectors.algorithms]\nsign = \"rsa-sha1\"\n"
    ));
    assert!(format!("{}", alg.unwrap_err()).contains("algorithms.sign"));
    let plain = parse(&format!(
        "[demo]\nenabled = true\n{gateway}{}country = \"XA\"\n",
        proxy.replace("http://localhost:9/m", "http://xa.example/m")
    ));
    assert!(format!("{}", plain.unwrap_err()).contains("plain http only on loopback"));
    let demo_country = parse(&format!(
        "[broker]\npairwise_secret_file = \"/etc/p\"\nlisten = \"127.0.0.1:8080\"\n\
         public_url = \"http://localhost:8080\"\n{gateway}\
         [eidas_gateway.demo_country]\npersons = \"x.toml\"\n"
    ));
    let message = format!("{}", demo_country.unwrap_err());
    assert!(message.contains("eidas_gateway.demo_country"), "{message}");
}

#[test]
fn sentinel_and_cluster_urls_are_accepted_with_their_host_lists() {
    for url in [
        "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/mymaster",
        "redis+sentinel://:secret@s1,s2/mymaster/2",
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000",
        "redis+cluster://user:secret@c1:7000",
    ] {
        let s = parse(&format!("[store]\nephemeral = {url:?}\n{BROKER}")).unwrap();
        assert_eq!(
            s.ephemeral,
            EphemeralBackend::Redis {
                url: url.to_owned(),
                key_prefix: "eid:".to_owned()
            }
        );
    }
}

#[test]
fn malformed_sentinel_and_cluster_urls_are_refused_with_the_reason_and_no_password() {
    for (url, why) in [
        ("redis+sentinel://:secret@s1,s2", "master's name"),
        ("redis+sentinel://:secret@s1,,s2/m", "stray comma"),
        ("redis+sentinel://:secret@s1:99999/m", "port"),
        ("redis+sentinel://:secret@s1/m/x", "database"),
        ("redis+cluster://:secret@", "at least one host"),
        ("redis+cluster://:secret@c1:7000/1", "no path"),
        ("redis+cluster://:secret@c1:7000?x=1", "query"),
    ] {
        let err = parse(&format!("[store]\nephemeral = {url:?}\n{BROKER}"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("store.ephemeral"), "{url}: {err}");
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains("secret"), "{url}: {err}");
    }
    let err = parse(&format!(
        "[store]\nephemeral = \"redis+memcached://:secret@h\"\n{BROKER}"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("redis+cluster://") && !err.contains("secret"),
        "{err}"
    );
}

#[test]
fn a_cluster_refuses_a_key_prefix_with_braces() {
    let err = parse(&format!(
        "[store]\nephemeral = \"redis+cluster://c1:7000\"\nredis_key_prefix = \"eid:{{x}}:\"\n{BROKER}"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("store.redis_key_prefix"), "{err}");
    let s = parse(&format!(
        "[store]\nephemeral = \"redis+sentinel://s1/m\"\nredis_key_prefix = \"eid:{{x}}:\"\n{BROKER}"
    ))
    .unwrap();
    assert!(matches!(s.ephemeral, EphemeralBackend::Redis { .. }));
}

/// A minimal valid broker section for the store tests above.
const BROKER: &str = "[broker]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://localhost:8080\"\n\
                      pairwise_secret_file = \"/run/pairwise\"\n";
