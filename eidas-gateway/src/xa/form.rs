//! The posted forms of XA's pages and bindings: named fields, each at most once, few in all.

/// The most fields a form of ours may carry.
pub const MAX_FIELDS: usize = 16;

/// A posted form (`application/x-www-form-urlencoded`), read but not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

/// Why a form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A field of ours appears more than once (which one would count?).
    #[error("a field appears more than once")]
    Repeated,
    /// More than [`MAX_FIELDS`] fields.
    #[error("too many fields")]
    TooMany,
}

impl Form {
    /// Reads `body`. Fields whose name is not in `known` are ignored; a known one may appear once.
    pub fn parse(body: &[u8], known: &[&str]) -> Result<Form, FormError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (i, (name, value)) in url::form_urlencoded::parse(body).enumerate() {
            if i >= MAX_FIELDS {
                return Err(FormError::TooMany);
            }
            if !known.contains(&name.as_ref()) {
                continue;
            }
            if fields.iter().any(|(n, _)| *n == name) {
                return Err(FormError::Repeated);
            }
            fields.push((name.into_owned(), value.into_owned()));
        }
        Ok(Form { fields })
    }

    /// The value of `name`, if posted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the form carries `name`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_fields_are_read_once_and_others_ignored() {
        let f = Form::parse(b"a=1&x=2&b=%C3%A6", &["a", "b"]).unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), Some("æ"));
        assert_eq!(f.get("x"), None);
        assert_eq!(Form::parse(b"a=1&a=2", &["a"]), Err(FormError::Repeated));
        assert!(Form::parse(b"x=1&x=2", &["a"]).is_ok());
        let many: String = (0..=MAX_FIELDS).map(|i| format!("f{i}=1&")).collect();
        assert_eq!(
            Form::parse(many.as_bytes(), &["a"]),
            Err(FormError::TooMany)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any body is read or refused, never a panic; what is read holds only known fields, each
        /// once, with the value the body gives it.
        #[test]
        fn any_body_gives_known_fields_once(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let known = ["SAMLResponse", "RelayState", "a"];
            if let Ok(form) = Form::parse(&body, &known) {
                for (name, value) in url::form_urlencoded::parse(&body) {
                    if known.contains(&name.as_ref()) {
                        prop_assert_eq!(form.get(&name), Some(value.as_ref()));
                    } else {
                        prop_assert!(form.get(&name).is_none());
                    }
                }
                prop_assert!(form.fields.len() <= known.len());
            }
        }
    }
}
