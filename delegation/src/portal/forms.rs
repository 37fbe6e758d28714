//! The portal's forms, parsed once into typed values: bounded, and every field checked (CPR and
//! CVR numbers, scopes only from the services offered, an access level, a date after today,
//! privilege URIs). No HTTP here; the handlers pass the form body and the offered services.

use eid_core::{Access, Cpr, Cvr, Privilege, Scope};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::registry::{AgentRef, GrantInput, PowerInput, RequestInput, RightInput};

/// The largest form body read.
pub const MAX_BODY: usize = 16 * 1024;
/// The most fields a form may have.
const MAX_FIELDS: usize = 64;
/// The longest field value.
const MAX_VALUE: usize = 4096;

/// What is wrong with a form (each maps to a sentence that says what to do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    /// Too many fields, or a field too long.
    TooLong,
    /// Not a CPR number.
    Cpr,
    /// Neither a CPR nor a CVR number.
    CprOrCvr,
    /// Not a CVR number.
    Cvr,
    /// No scope, or one not offered.
    Scope,
    /// No access level.
    Access,
    /// No date, not a date, or not after today.
    Date,
    /// A privilege that is not a URI, or too many.
    Privilege,
}

/// A form body as name/value pairs, bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parses `application/x-www-form-urlencoded`; refuses more than 64 fields or a value over
    /// 4 KiB.
    pub fn parse(body: &[u8]) -> Result<Fields, FormError> {
        let mut out = Vec::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if out.len() >= MAX_FIELDS || k.len() > 64 || v.len() > MAX_VALUE {
                return Err(FormError::TooLong);
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        Ok(Fields(out))
    }

    /// The first value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Who a grant is to: a person or an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Holder {
    /// A person, by CPR number.
    Person(Cpr),
    /// An organisation, by CVR number.
    Organisation(Cvr),
}

/// A power of attorney to give.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantForm {
    /// Who will hold it.
    pub holder: Holder,
    /// What it covers.
    pub scopes: Vec<Scope>,
    /// Read or act.
    pub access: Access,
    /// The last day it is valid (Copenhagen).
    pub through: Date,
}

/// A power of attorney to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestForm {
    /// Whom it is asked of.
    pub principal: Cpr,
    /// What it is to cover.
    pub scopes: Vec<Scope>,
    /// Read or act.
    pub access: Access,
    /// The last day it is to be valid.
    pub through: Date,
}

/// A business right to assign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RightForm {
    /// The organisation.
    pub organisation: Cvr,
    /// The employee.
    pub employee: Cpr,
    /// What it covers.
    pub scopes: Vec<Scope>,
    /// Privileges at those services.
    pub privileges: Vec<Privilege>,
    /// Read or act.
    pub access: Access,
    /// Whether it makes the employee an administrator.
    pub administrator: bool,
    /// The last day it is valid, if any.
    pub through: Option<Date>,
}

/// A business power to give another organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerForm {
    /// The organisation that gives it.
    pub principal: Cvr,
    /// The organisation that will hold it.
    pub agent: Cvr,
    /// What it covers.
    pub scopes: Vec<Scope>,
    /// Read or act.
    pub access: Access,
    /// The last day it is valid, if any.
    pub through: Option<Date>,
}

/// A CPR number as people write it: ten digits, an optional dash or spaces.
pub fn cpr(input: &str) -> Result<Cpr, FormError> {
    Cpr::parse(&compact(input)).map_err(|_| FormError::Cpr)
}

fn compact(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

fn holder(input: &str) -> Result<Holder, FormError> {
    let digits = compact(input);
    match digits.len() {
        10 => Cpr::parse(&digits)
            .map(Holder::Person)
            .map_err(|_| FormError::CprOrCvr),
        _ => Cvr::parse(&digits)
            .map(Holder::Organisation)
            .map_err(|_| FormError::CprOrCvr),
    }
}

/// The scopes ticked, each one of `offered` (by its stored key); at least one.
pub fn scopes(fields: &Fields, offered: &[Scope]) -> Result<Vec<Scope>, FormError> {
    let mut out = Vec::new();
    for key in fields.all("scope") {
        let scope = offered
            .iter()
            .find(|s| s.key() == key)
            .ok_or(FormError::Scope)?;
        if !out.contains(scope) {
            out.push(scope.clone());
        }
    }
    if out.is_empty() {
        return Err(FormError::Scope);
    }
    Ok(out)
}

fn access(fields: &Fields) -> Result<Access, FormError> {
    match fields.get("access") {
        Some("read") => Ok(Access::Read),
        Some("act") => Ok(Access::Act),
        _ => Err(FormError::Access),
    }
}

/// A `YYYY-MM-DD` date after `today`.
pub fn date_after(input: &str, today: Date) -> Result<Date, FormError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = Date::parse(input, &format).map_err(|_| FormError::Date)?;
    if day <= today {
        return Err(FormError::Date);
    }
    Ok(day)
}

fn optional_date(fields: &Fields, today: Date) -> Result<Option<Date>, FormError> {
    match fields.get("through") {
        None | Some("") => Ok(None),
        Some(d) => date_after(d, today).map(Some),
    }
}

/// Privilege URIs, one a line; at most 20.
pub fn privileges(input: &str) -> Result<Vec<Privilege>, FormError> {
    let out = input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| Privilege::parse(l).map_err(|_| FormError::Privilege))
        .collect::<Result<Vec<_>, _>>()?;
    if out.len() > crate::registry::rules::MAX_PRIVILEGES {
        return Err(FormError::Privilege);
    }
    Ok(out)
}

impl GrantForm {
    /// Parses the grant form.
    pub fn parse(fields: &Fields, offered: &[Scope], today: Date) -> Result<GrantForm, FormError> {
        Ok(GrantForm {
            holder: holder(fields.get("holder").unwrap_or_default())?,
            scopes: scopes(fields, offered)?,
            access: access(fields)?,
            through: date_after(fields.get("through").unwrap_or_default(), today)?,
        })
    }

    /// The registry's input; the period ends at the end of `through` in Copenhagen.
    pub fn input(&self) -> Option<GrantInput> {
        Some(GrantInput {
            agent: match &self.holder {
                Holder::Person(c) => AgentRef::Person(c.clone()),
                Holder::Organisation(c) => AgentRef::Organisation(c.clone()),
            },
            scopes: self.scopes.clone(),
            access: self.access,
            valid_from: None,
            valid_until: eid_web::display::end_of_local_day(self.through)?,
        })
    }
}

impl RequestForm {
    /// Parses the request form.
    pub fn parse(
        fields: &Fields,
        offered: &[Scope],
        today: Date,
    ) -> Result<RequestForm, FormError> {
        Ok(RequestForm {
            principal: cpr(fields.get("principal").unwrap_or_default())?,
            scopes: scopes(fields, offered)?,
            access: access(fields)?,
            through: date_after(fields.get("through").unwrap_or_default(), today)?,
        })
    }

    /// The registry's input.
    pub fn input(&self) -> Option<RequestInput> {
        Some(RequestInput {
            principal: self.principal.clone(),
            scopes: self.scopes.clone(),
            access: self.access,
            valid_from: None,
            valid_until: eid_web::display::end_of_local_day(self.through)?,
        })
    }
}

impl RightForm {
    /// Parses the form assigning a right for `organisation`. An administrator right may cover
    /// no service.
    pub fn parse(
        organisation: Cvr,
        fields: &Fields,
        offered: &[Scope],
        today: Date,
    ) -> Result<RightForm, FormError> {
        let administrator = fields.get("administrator") == Some("yes");
        let scopes = match scopes(fields, offered) {
            Err(FormError::Scope) if administrator && fields.all("scope").next().is_none() => {
                Vec::new()
            }
            other => other?,
        };
        Ok(RightForm {
            organisation,
            employee: cpr(fields.get("employee").unwrap_or_default())?,
            scopes,
            privileges: privileges(fields.get("privileges").unwrap_or_default())?,
            access: access(fields)?,
            administrator,
            through: optional_date(fields, today)?,
        })
    }

    /// The registry's input.
    pub fn input(&self) -> RightInput {
        RightInput {
            organisation: self.organisation.clone(),
            employee: self.employee.clone(),
            scopes: self.scopes.clone(),
            privileges: self.privileges.clone(),
            access: self.access,
            administrator: self.administrator,
            valid_until: self.through.and_then(eid_web::display::end_of_local_day),
        }
    }
}

impl PowerForm {
    /// Parses the form giving a business power from `principal`.
    pub fn parse(
        principal: Cvr,
        fields: &Fields,
        offered: &[Scope],
        today: Date,
    ) -> Result<PowerForm, FormError> {
        Ok(PowerForm {
            principal,
            agent: Cvr::parse(fields.get("agent").unwrap_or_default())
                .map_err(|_| FormError::Cvr)?,
            scopes: scopes(fields, offered)?,
            access: access(fields)?,
            through: optional_date(fields, today)?,
        })
    }

    /// The registry's input.
    pub fn input(&self) -> PowerInput {
        PowerInput {
            principal: self.principal.clone(),
            agent: self.agent.clone(),
            scopes: self.scopes.clone(),
            access: self.access,
            valid_until: self.through.and_then(eid_web::display::end_of_local_day),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 06 - 10);

    fn offered() -> Vec<Scope> {
        vec![
            Scope::service("demo-rp").unwrap(),
            Scope::area("housing-benefit").unwrap(),
        ]
    }

    fn form(pairs: &[(&str, &str)]) -> Fields {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Fields::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_grant_form_becomes_a_typed_grant() {
        let f = form(&[
            ("holder", "010770-9991"),
            ("scope", "rp:demo-rp"),
            ("scope", "area:housing-benefit"),
            ("scope", "rp:demo-rp"),
            ("access", "read"),
            ("through", "2026-07-01"),
        ]);
        let g = GrantForm::parse(&f, &offered(), TODAY).unwrap();
        assert_eq!(g.holder, Holder::Person(Cpr::parse("0107709991").unwrap()));
        assert_eq!(g.scopes.len(), 2, "duplicates dropped");
        assert_eq!(g.access, Access::Read);
        let input = g.input().unwrap();
        assert_eq!(
            input.valid_until,
            time::macros::datetime!(2026-07-01 22:00 UTC),
            "through the end of the day in Copenhagen"
        );
        let org = form(&[
            ("holder", "12345678"),
            ("scope", "rp:demo-rp"),
            ("access", "act"),
            ("through", "2026-07-01"),
        ]);
        assert_eq!(
            GrantForm::parse(&org, &offered(), TODAY).unwrap().holder,
            Holder::Organisation(Cvr::parse("12345678").unwrap())
        );
    }

    #[test]
    fn a_scope_not_offered_is_refused() {
        let f = form(&[
            ("holder", "0107709991"),
            ("scope", "rp:other-service"),
            ("access", "act"),
            ("through", "2026-07-01"),
        ]);
        assert_eq!(
            GrantForm::parse(&f, &offered(), TODAY),
            Err(FormError::Scope)
        );
        let none = form(&[
            ("holder", "0107709991"),
            ("access", "act"),
            ("through", "2026-07-01"),
        ]);
        assert_eq!(
            GrantForm::parse(&none, &offered(), TODAY),
            Err(FormError::Scope)
        );
    }

    #[test]
    fn the_end_date_must_come_after_today() {
        assert_eq!(date_after("2026-06-10", TODAY), Err(FormError::Date));
        assert_eq!(date_after("2026-06-11", TODAY), Ok(date!(2026 - 06 - 11)));
        assert_eq!(date_after("11/06/2026", TODAY), Err(FormError::Date));
    }

    #[test]
    fn bad_numbers_and_levels_are_named() {
        let f = form(&[
            ("holder", "123"),
            ("scope", "rp:demo-rp"),
            ("access", "act"),
            ("through", "2026-07-01"),
        ]);
        assert_eq!(
            GrantForm::parse(&f, &offered(), TODAY),
            Err(FormError::CprOrCvr)
        );
        let f = form(&[
            ("principal", "0107709991"),
            ("scope", "rp:demo-rp"),
            ("access", "admin"),
            ("through", "2026-07-01"),
        ]);
        assert_eq!(
            RequestForm::parse(&f, &offered(), TODAY),
            Err(FormError::Access)
        );
    }

    #[test]
    fn an_administrator_right_may_cover_no_service() {
        let cvr = Cvr::parse("12345678").unwrap();
        let f = form(&[
            ("employee", "0905859994"),
            ("access", "act"),
            ("administrator", "yes"),
        ]);
        let r = RightForm::parse(cvr.clone(), &f, &offered(), TODAY).unwrap();
        assert!(r.scopes.is_empty() && r.administrator && r.through.is_none());
        let f = form(&[("employee", "0905859994"), ("access", "act")]);
        assert_eq!(
            RightForm::parse(cvr, &f, &offered(), TODAY),
            Err(FormError::Scope)
        );
    }

    #[test]
    fn privileges_are_uris_one_a_line() {
        assert_eq!(
            privileges("urn:dk:demo:privilege:apply\r\n\n https://x.example/p \n")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(privileges("apply"), Err(FormError::Privilege));
        let many = (0..21).map(|i| format!("urn:p:{i}\n")).collect::<String>();
        assert_eq!(privileges(&many), Err(FormError::Privilege));
    }

    #[test]
    fn an_oversized_form_is_refused() {
        let long = "x".repeat(MAX_VALUE + 1);
        assert_eq!(
            Fields::parse(format!("a={long}").as_bytes()),
            Err(FormError::TooLong)
        );
        let many = (0..=MAX_FIELDS)
            .map(|i| format!("f{i}=1&"))
            .collect::<String>();
        assert_eq!(Fields::parse(many.as_bytes()), Err(FormError::TooLong));
    }

    proptest! {
        /// Whatever a browser posts, parsing answers (never panics) and anything accepted is
        /// bounded and made only of offered scopes.
        #[test]
        fn any_body_parses_or_is_refused(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(fields) = Fields::parse(&body) {
                prop_assert!(fields.0.len() <= MAX_FIELDS);
                if let Ok(g) = GrantForm::parse(&fields, &offered(), TODAY) {
                    prop_assert!(g.scopes.iter().all(|s| offered().contains(s)));
                    prop_assert!(g.through > TODAY);
                }
                let _ = RequestForm::parse(&fields, &offered(), TODAY);
                let _ = PowerForm::parse(Cvr::parse("12345678").unwrap(), &fields, &offered(), TODAY);
            }
        }

        /// Any field value: the holder is a valid CPR or CVR number or refused.
        #[test]
        fn any_holder_is_a_number_or_refused(s in "\\PC{0,30}") {
            match holder(&s) {
                Ok(Holder::Person(c)) => prop_assert_eq!(c.as_str().len(), 10),
                Ok(Holder::Organisation(c)) => prop_assert_eq!(c.as_str().len(), 8),
                Err(e) => prop_assert_eq!(e, FormError::CprOrCvr),
            }
        }
    }
}
