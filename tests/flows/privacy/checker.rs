//! The checker: what one service received about logins, against what it is registered for.
//! Pure functions; the unit tests below show that each rule reports what breaks it.

/// A demo person, from the demo's `persons.toml`.
#[derive(Debug, Clone)]
pub(super) struct Person {
    /// The person register's id (the authenticator's `sub`).
    pub(super) id: String,
    pub(super) cpr: String,
    pub(super) user_id: String,
    pub(super) password: String,
    pub(super) totp: String,
    pub(super) given_name: String,
    pub(super) family_name: String,
    pub(super) birthdate: String,
}

/// What one service received about one login of one person.
#[derive(Debug, Clone)]
pub(super) struct Received {
    /// The service: client id, entity ID or `eidas:<country>`.
    pub(super) rp: String,
    /// How it was seen (`oidc`, `saml`, `introspection of <rp>`, `xa`, `white box`).
    pub(super) via: String,
    /// Every subject identifier it got for the login (ID token, userinfo, refresh, NameID...).
    pub(super) subjects: Vec<String>,
    /// The names of the claims or attributes it got.
    pub(super) names: Vec<String>,
    /// Everything it got, whole (token responses, JWT payloads, userinfo, decrypted assertions).
    pub(super) texts: Vec<String>,
}

impl Received {
    /// Nothing received yet by `rp`, seen `via`.
    pub(super) fn new(rp: &str, via: &str) -> Received {
        Received {
            rp: rp.to_owned(),
            via: via.to_owned(),
            subjects: Vec::new(),
            names: Vec::new(),
            texts: Vec::new(),
        }
    }
}

/// What a service is registered for.
#[derive(Debug, Clone)]
pub(super) struct Expected {
    pub(super) rp: String,
    /// Services of one sector share subjects; of different sectors never.
    pub(super) sector: String,
    /// Whether its registration releases the CPR number to it.
    pub(super) allows_cpr: bool,
    pub(super) subject: Subject,
}

/// The subject a service may get.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Subject {
    /// A pairwise identifier: neither the register id nor the CPR number, nor holding either.
    Pairwise,
    /// The person's key at the broker, `<upstream>:<register id>`: only for an internal component.
    Public { internal: bool, upstream: String },
    /// A foreign node's `PersonIdentifier`: `prefix` and a pseudonym.
    Foreign { prefix: String },
    /// Introspection: exactly the subject the token's own service got.
    Echo { of: String },
}

/// The forms a CPR number is written in: `DDMMYYSSSS` and `DDMMYY-SSSS`.
fn cpr_forms(cpr: &str) -> [String; 2] {
    [cpr.to_owned(), format!("{}-{}", &cpr[..6], &cpr[6..])]
}

fn holds_cpr(text: &str, person: &Person) -> bool {
    cpr_forms(&person.cpr).iter().any(|f| text.contains(f))
}

/// Whether `text` holds the register id (with or without hyphens, any case).
fn holds_id(text: &str, person: &Person) -> bool {
    let text = text.to_ascii_lowercase();
    let id = person.id.to_ascii_lowercase();
    text.contains(&id) || text.contains(&id.replace('-', ""))
}

/// The identifying part of a subject: after the last `/` (a NameID URI, `DK/XA/<pseudonym>`).
fn core(subject: &str) -> &str {
    subject.rsplit('/').next().unwrap_or(subject)
}

/// The rules one received login breaks.
pub(super) fn violations(expected: &Expected, person: &Person, got: &Received) -> Vec<String> {
    let at = format!("{} ({}, {})", got.rp, got.via, person.user_id);
    let mut found = Vec::new();
    let Some(subject) = got.subjects.first() else {
        return vec![format!("{at}: no subject")];
    };
    if got.subjects.iter().any(|s| s != subject) {
        found.push(format!(
            "{at}: different subjects in one login: {:?}",
            got.subjects
        ));
    }
    let named = got
        .names
        .iter()
        .any(|n| n.to_ascii_lowercase().contains("cpr"));
    let digits = got.texts.iter().any(|t| holds_cpr(t, person));
    if expected.allows_cpr && !digits {
        found.push(format!(
            "{at}: registered for the CPR number, did not get it"
        ));
    }
    if !expected.allows_cpr && (named || digits) {
        found.push(format!("{at}: got a CPR number (claim named: {named}, digits: {digits}) it is not registered for"));
    }
    if holds_cpr(subject, person) {
        found.push(format!("{at}: the subject holds the CPR number"));
    }
    let id_in_texts = got.texts.iter().any(|t| holds_id(t, person));
    match &expected.subject {
        Subject::Pairwise | Subject::Foreign { .. } => {
            if holds_id(subject, person) {
                found.push(format!("{at}: the subject {subject} holds the register id"));
            }
            if id_in_texts {
                found.push(format!("{at}: the register id is in what it got"));
            }
            if let Subject::Foreign { prefix } = &expected.subject
                && subject
                    .strip_prefix(prefix.as_str())
                    .is_none_or(str::is_empty)
            {
                found.push(format!("{at}: {subject} is not {prefix}<pseudonym>"));
            }
        }
        Subject::Public { internal, upstream } => {
            if !internal {
                found.push(format!(
                    "{at}: public subjects, and it is not an internal component"
                ));
            } else if *subject != format!("{upstream}:{}", person.id) {
                found.push(format!(
                    "{at}: the public subject {subject} is not the person's key"
                ));
            }
        }
        Subject::Echo { of } => {
            if subject != of {
                found.push(format!(
                    "{at}: introspection gave {subject}, the token's service got {of}"
                ));
            }
            if id_in_texts && !holds_id(of, person) {
                found.push(format!("{at}: the register id is in what it got"));
            }
        }
    }
    found
}

/// The rules broken across logins: one service gives one person one subject, two persons two, and
/// services of different sectors never share one (introspection only echoes, so it is left out).
pub(super) fn violations_across(seen: &[(Expected, Person, Received)]) -> Vec<String> {
    let seen: Vec<_> = seen
        .iter()
        .filter(|(e, _, r)| !matches!(e.subject, Subject::Echo { .. }) && !r.subjects.is_empty())
        .collect();
    let mut found = Vec::new();
    for (i, (ea, pa, ra)) in seen.iter().enumerate() {
        for (eb, pb, rb) in &seen[i + 1..] {
            let (a, b) = (core(&ra.subjects[0]), core(&rb.subjects[0]));
            let what = format!(
                "{} ({}, {}) and {} ({}, {})",
                ra.rp, ra.via, pa.user_id, rb.rp, rb.via, pb.user_id
            );
            let same_person = pa.id == pb.id;
            if ea.rp == eb.rp && same_person && a != b {
                found.push(format!(
                    "{what}: one person, one service, two subjects {a} {b}"
                ));
            }
            if ea.rp == eb.rp && !same_person && a == b {
                found.push(format!("{what}: two persons, one subject {a}"));
            }
            if ea.sector != eb.sector && same_person && a == b {
                found.push(format!(
                    "{what}: sectors {} and {} share the subject {a}",
                    ea.sector, eb.sector
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, cpr: &str, user_id: &str) -> Person {
        Person {
            id: id.into(),
            cpr: cpr.into(),
            user_id: user_id.into(),
            password: String::new(),
            totp: String::new(),
            given_name: "Anna".into(),
            family_name: "Jensen".into(),
            birthdate: "1970-07-01".into(),
        }
    }

    fn anna() -> Person {
        person("6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0001", "0107709991", "anna")
    }

    fn expected(rp: &str, sector: &str, allows_cpr: bool, subject: Subject) -> Expected {
        Expected {
            rp: rp.into(),
            sector: sector.into(),
            allows_cpr,
            subject,
        }
    }

    fn received(rp: &str, subject: &str, text: &str) -> Received {
        Received {
            rp: rp.into(),
            via: "unit".into(),
            subjects: vec![subject.into()],
            names: vec!["sub".into(), "name".into()],
            texts: vec![text.into()],
        }
    }

    const SUB: &str = "0a1b2c3d-0000-8000-8000-000000000001";

    #[test]
    fn a_clean_login_breaks_no_rule() {
        let shop = expected("shop", "s", false, Subject::Pairwise);
        let got = received(
            "shop",
            SUB,
            r#"{"sub":"0a1b2c3d-0000-8000-8000-000000000001","name":"Anna Jensen"}"#,
        );
        assert_eq!(violations(&shop, &anna(), &got), Vec::<String>::new());
        let kommune = expected("kommune", "k", true, Subject::Pairwise);
        let got = received("kommune", SUB, r#"{"cpr":"0107709991"}"#);
        assert_eq!(violations(&kommune, &anna(), &got), Vec::<String>::new());
    }

    #[test]
    fn a_cpr_number_where_none_is_registered_is_a_violation_in_any_form() {
        let shop = expected("shop", "s", false, Subject::Pairwise);
        for text in ["{\"x\":\"0107709991\"}", "<v>010770-9991</v>"] {
            assert_eq!(
                violations(&shop, &anna(), &received("shop", SUB, text)).len(),
                1,
                "{text}"
            );
        }
        let mut named = received("shop", SUB, "{}");
        named.names.push(eid_saml::attributes::CPR_NUMBER.into());
        assert_eq!(violations(&shop, &anna(), &named).len(), 1);
        // Registered for it, and it did not come: also a violation (the rule is "if and only if").
        let kommune = expected("kommune", "k", true, Subject::Pairwise);
        assert_eq!(
            violations(&kommune, &anna(), &received("kommune", SUB, "{}")).len(),
            1
        );
    }

    #[test]
    fn a_subject_that_is_or_holds_the_register_id_or_the_cpr_number_is_a_violation() {
        let shop = expected("shop", "s", false, Subject::Pairwise);
        let a = anna();
        for subject in [
            a.id.clone(),
            a.id.to_uppercase().replace('-', ""),
            format!("x{}", a.cpr),
        ] {
            assert!(
                !violations(&shop, &a, &received("shop", &subject, "{}")).is_empty(),
                "{subject}"
            );
        }
        // The register id anywhere in what a pairwise service got.
        let leaked = received("shop", SUB, &format!("{{\"audit\":\"{}\"}}", a.id));
        assert_eq!(violations(&shop, &a, &leaked).len(), 1);
        let none = Received::new("shop", "unit");
        assert_eq!(violations(&shop, &a, &none).len(), 1, "no subject at all");
        let mut two = received("shop", SUB, "{}");
        two.subjects.push("another".into());
        assert_eq!(
            violations(&shop, &a, &two).len(),
            1,
            "two subjects in one login"
        );
    }

    #[test]
    fn public_subjects_only_for_an_internal_component_and_only_the_person_key() {
        let a = anna();
        let key = format!("mitid:{}", a.id);
        let internal = Subject::Public {
            internal: true,
            upstream: "mitid".into(),
        };
        let portal = expected("portal", "p", false, internal);
        assert!(violations(&portal, &a, &received("portal", &key, "{}")).is_empty());
        assert_eq!(
            violations(&portal, &a, &received("portal", SUB, "{}")).len(),
            1
        );
        let other = Subject::Public {
            internal: false,
            upstream: "mitid".into(),
        };
        let shop = expected("shop", "s", false, other);
        assert_eq!(
            violations(&shop, &a, &received("shop", &key, "{}")).len(),
            1
        );
    }

    #[test]
    fn a_foreign_identifier_must_be_a_pseudonym_under_its_prefix() {
        let a = anna();
        let xa = expected(
            "eidas:XA",
            "eidas:XA",
            false,
            Subject::Foreign {
                prefix: "DK/XA/".into(),
            },
        );
        assert!(violations(&xa, &a, &received("eidas:XA", "DK/XA/ab12", "<x/>")).is_empty());
        for subject in [
            "DK/XA/",
            "DK/XB/ab12",
            &format!("DK/XA/{}", a.cpr),
            &format!("DK/XA/{}", a.id),
        ] {
            assert!(
                !violations(&xa, &a, &received("eidas:XA", subject, "<x/>")).is_empty(),
                "{subject}"
            );
        }
    }

    #[test]
    fn introspection_gives_the_subject_of_the_tokens_service_and_nothing_more() {
        let a = anna();
        let echo = expected("api", "p", false, Subject::Echo { of: SUB.into() });
        assert!(violations(&echo, &a, &received("api", SUB, "{}")).is_empty());
        let other = received("api", "another", "{}");
        assert_eq!(violations(&echo, &a, &other).len(), 1);
        let leaked = received("api", SUB, &format!("{{\"x\":\"{}\"}}", a.id));
        assert_eq!(
            violations(&echo, &a, &leaked).len(),
            1,
            "the register id beside it"
        );
        // Unless the token's service got the register id itself (a public subject).
        let public = format!("mitid:{}", a.id);
        let echo = expected("api", "p", false, Subject::Echo { of: public.clone() });
        assert!(violations(&echo, &a, &received("api", &public, &public)).is_empty());
    }

    #[test]
    fn subjects_across_logins_are_stable_per_service_and_differ_between_persons_and_sectors() {
        let (a, b) = (
            anna(),
            person(
                "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0003",
                "2211009993",
                "mikkel",
            ),
        );
        let shop = expected("shop", "s", false, Subject::Pairwise);
        let kommune = expected("kommune", "k", false, Subject::Pairwise);
        let at =
            |e: &Expected, p: &Person, s: &str| (e.clone(), p.clone(), received(&e.rp, s, "{}"));
        let clean = [
            at(&shop, &a, "x1"),
            at(&shop, &a, "x1"),
            at(&shop, &b, "x2"),
            at(&kommune, &a, "x3"),
        ];
        assert!(violations_across(&clean).is_empty());
        // The same service gives the same person another subject.
        assert_eq!(
            violations_across(&[at(&shop, &a, "x1"), at(&shop, &a, "x9")]).len(),
            1
        );
        // Two persons share one.
        assert_eq!(
            violations_across(&[at(&shop, &a, "x1"), at(&shop, &b, "x1")]).len(),
            1
        );
        // Two sectors share one (a NameID URI counts by its last segment).
        let uri = "https://data.gov.dk/model/core/eid/person/uuid/x1";
        assert_eq!(
            violations_across(&[at(&shop, &a, "x1"), at(&kommune, &a, uri)]).len(),
            1
        );
    }
}
