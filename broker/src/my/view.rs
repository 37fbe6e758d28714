//! A person's audit events as the log page shows them: what happened, at which service, with
//! which data, level, method, network and browser, and for whom, in the person's language.

use eid_core::my_log::{LoggedEvent, Section};
use eid_core::{AuditEvent, AuditOutcome, Lang, Loa};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

use super::texts::MyTexts;
use crate::ports::UpstreamKind;
use crate::state::Broker;

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When, in local time.
    pub when: String,
    /// The section's name.
    pub section: &'static str,
    /// Whether it was refused (shown as a warning).
    pub refused: bool,
    /// What happened.
    pub title: String,
    /// Facts: label and value.
    pub facts: Vec<(&'static str, String)>,
}

/// The section's name in the person's language.
pub fn section_name(t: &MyTexts, s: Section) -> &'static str {
    match s {
        Section::Logins => t.logins,
        Section::Releases => t.releases,
        Section::Acting => t.acting,
        Section::Changes => t.changes,
        Section::Refused => t.refused,
        Section::Other => t.other,
    }
}

/// A released attribute's name as a citizen says it (the CPR number is named, never shown).
pub fn attribute_name(t: &MyTexts, name: &str) -> String {
    match name {
        "cpr" => t.a_cpr.to_owned(),
        "name" | "given_name" | "family_name" | "native_name" => t.a_name.to_owned(),
        "birthdate" => t.a_birthdate.to_owned(),
        "eidas" | "eidas_person_identifier" | "eidas_country" => t.a_eidas.to_owned(),
        "legal_person" => t.a_legal_person.to_owned(),
        "loa" => t.a_level.to_owned(),
        other => other.replace('_', " "),
    }
}

/// The names of the attributes an event says were released, deduplicated, in order.
pub fn released_attributes(t: &MyTexts, event: &AuditEvent) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(Value::Array(list)) = event.details.get("attributes") {
        for name in list.iter().filter_map(Value::as_str) {
            let shown = attribute_name(t, name);
            if !names.contains(&shown) {
                names.push(shown);
            }
        }
    }
    names
}

/// A service's name: the registered name, the log page's own, or its id when it is gone.
pub fn service_name(broker: &Broker, lang: Lang, id: &str) -> String {
    if id == super::MY_LOG_ID {
        return super::texts::texts(lang).title.to_owned();
    }
    broker
        .registry
        .service_name(id)
        .unwrap_or_else(|| id.to_owned())
}

/// A coarse network: an IPv4 address's /24, an IPv6 address's /48; never the whole address.
pub fn coarse_network(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()?.to_canonical() {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.x"))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

fn detail<'a>(event: &'a AuditEvent, key: &str) -> Option<&'a str> {
    event.details.get(key).and_then(Value::as_str)
}

/// Names of the other people events mention, by their person key.
pub type Names = HashMap<Uuid, String>;

/// The person keys of other people the events mention (`agent`, `principal`, `counterpart`).
pub fn mentioned(events: &[LoggedEvent]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = events
        .iter()
        .flat_map(|e| ["agent", "principal", "counterpart"].map(|k| detail(&e.event, k)))
        .flatten()
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Looks up the names of `ids` in the person register, when the deployment has one.
pub async fn names(broker: &Broker, ids: &[Uuid]) -> Names {
    let mut out = Names::new();
    let Some(persons) = broker.my_log.as_ref().and_then(|m| m.persons.clone()) else {
        return out;
    };
    for id in ids.iter().take(100) {
        if let Ok(Some(p)) = persons.person(*id).await {
            out.insert(*id, format!("{} {}", p.given_name, p.family_name));
        }
    }
    out
}

fn person_named(t: &MyTexts, names: &Names, id: Option<&str>) -> String {
    id.and_then(|s| Uuid::parse_str(s).ok())
        .and_then(|id| names.get(&id).cloned())
        .unwrap_or_else(|| t.another_person.to_owned())
}

fn upstream_name(broker: &Broker, t: &super::super::texts::Texts, name: &str) -> String {
    match broker.upstreams.get(name).map(|u| u.kind()) {
        Some(UpstreamKind::National) => t.mitid.to_owned(),
        Some(UpstreamKind::EuEid) => t.eu_eid.to_owned(),
        None => name.to_owned(),
    }
}

/// How the person authenticated, as a citizen says it.
fn method_name(lang: Lang, method: &str) -> String {
    let da = lang == Lang::Da;
    match method {
        "password" => if da { "Adgangskode" } else { "Password" }.to_owned(),
        "code_display" | "code-display" | "totp" => {
            if da { "Kodeviser" } else { "Code display" }.to_owned()
        }
        "app" => if da { "MitID-app" } else { "MitID app" }.to_owned(),
        "passkey" => "Passkey".to_owned(),
        other => other.replace(['_', '-'], " "),
    }
}

/// One event as a line of the log.
pub fn entry(broker: &Broker, lang: Lang, names: &Names, logged: &LoggedEvent) -> Entry {
    let t = super::texts::texts(lang);
    let bt = crate::texts::texts(lang);
    let e = &logged.event;
    let section = Section::of_event(e);
    let service = e.client.as_deref().map(|c| service_name(broker, lang, c));
    let at_service = |title: &str| match &service {
        Some(s) => format!("{title} {s}"),
        None => title.to_owned(),
    };
    let mut facts: Vec<(&'static str, String)> = Vec::new();
    let title = match (e.kind.as_str(), e.outcome) {
        ("login.success", AuditOutcome::Success) if e.component == "broker" => {
            at_service(t.t_login)
        }
        ("login.success", AuditOutcome::Success) => t.t_authenticated.to_owned(),
        ("login.session_continued", _) => at_service(t.t_login_sso),
        ("connector.login", _) => t.t_foreign_login.to_owned(),
        ("representation.acted_for", _) => {
            facts.push((t.on_behalf_of, t.yourself.to_owned()));
            facts.push((t.who, person_named(t, names, detail(e, "agent"))));
            at_service(t.t_acted_for_me)
        }
        ("representation.acted_as", _) => at_service(t.t_i_acted_for),
        ("authenticator.added", _) => t.t_authenticator_added.to_owned(),
        ("authenticator.removed", _) => t.t_authenticator_removed.to_owned(),
        ("authenticator.renamed", _) => t.t_authenticator_renamed.to_owned(),
        ("activation.success", _) => t.t_activated.to_owned(),
        ("login.failure", AuditOutcome::Failure) => t.t_wrong_password.to_owned(),
        ("login.locked_out", _) => t.t_locked_out.to_owned(),
        (k, AuditOutcome::Success) if k.starts_with("delegation.") => t.t_mandate_change.to_owned(),
        (k, AuditOutcome::Success) if k.starts_with("logout") => t.t_logout.to_owned(),
        _ if section == Section::Releases => at_service(t.t_released),
        _ if section == Section::Refused => at_service(t.t_refused),
        _ => at_service(t.t_other),
    };
    if section == Section::Releases {
        let attributes = released_attributes(t, e);
        if !attributes.is_empty() {
            facts.push((t.attributes, attributes.join(", ")));
        }
    }
    if let Some(upstream) = detail(e, "upstream") {
        facts.push((t.through, upstream_name(broker, bt, upstream)));
    }
    if let Some(method) = detail(e, "method") {
        facts.push((t.method, method_name(lang, method)));
    }
    if e.kind.starts_with("delegation.") && detail(e, "counterpart").is_some() {
        facts.push((t.who, person_named(t, names, detail(e, "counterpart"))));
    }
    if let Some(level) = detail(e, "loa").and_then(|l| Loa::parse(l).ok()) {
        facts.push((t.level, level.name(lang).to_owned()));
    }
    // On whose behalf: a release or an act under a mandate names the principal.
    match detail(e, "principal_type") {
        Some("organisation") => facts.push((
            t.on_behalf_of,
            format!(
                "{} ({})",
                t.an_organisation,
                detail(e, "principal_cvr").unwrap_or("")
            ),
        )),
        Some(_) => facts.push((
            t.on_behalf_of,
            person_named(t, names, detail(e, "principal")),
        )),
        None if e.kind == "representation.acted_as" => {
            facts.push((
                t.on_behalf_of,
                person_named(t, names, detail(e, "principal")),
            ));
        }
        None => {}
    }
    if let Some(kind) = detail(e, "mandate_kind") {
        facts.push((t.mandate, kind.replace('_', " ")));
    }
    if section == Section::Refused
        && let Some(reason) = detail(e, "reason").or_else(|| detail(e, "error"))
    {
        facts.push((t.reason, reason.to_owned()));
    }
    if let Some(browser) = detail(e, "browser") {
        facts.push((t.browser, browser.to_owned()));
    }
    if let Some(network) = e.ip.as_deref().and_then(coarse_network) {
        facts.push((t.from_where, network));
    }
    Entry {
        when: eid_web::display::local_time(e.at, lang),
        section: section_name(t, section),
        refused: e.outcome == AuditOutcome::Failure,
        title,
        facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_coarse() {
        assert_eq!(coarse_network("192.0.2.77").as_deref(), Some("192.0.2.x"));
        assert_eq!(
            coarse_network("2001:db8:1:2::5").as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(
            coarse_network("::ffff:10.1.2.3").as_deref(),
            Some("10.1.2.x")
        );
        assert_eq!(coarse_network("not an address"), None);
    }

    #[test]
    fn the_cpr_number_is_named_never_shown() {
        let t = super::super::texts::texts(Lang::En);
        let e = AuditEvent::new(
            time::OffsetDateTime::UNIX_EPOCH,
            "broker",
            "token.issued",
            AuditOutcome::Success,
        )
        .detail(
            "attributes",
            serde_json::json!(["cpr", "name", "given_name"]),
        );
        assert_eq!(released_attributes(t, &e), ["CPR number", "Name"]);
    }
}
