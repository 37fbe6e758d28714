//! Checks of the authorization response (the query of the broker's callback), before any network call.

use subtle::ConstantTimeEq;

use super::UpstreamError;

/// Compares two secrets in constant time (for equal lengths).
pub(crate) fn secret_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The value of a parameter that may appear at most once: `Err(())` if repeated.
fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ()> {
    let mut found = None;
    for (k, v) in params {
        if k == name {
            if found.is_some() {
                return Err(());
            }
            found = Some(v.as_str());
        }
    }
    Ok(found)
}

/// Checks `state`, then `iss` (RFC 9207), then whether the response is an error, and returns the `code`.
///
/// State and issuer are checked before an error response is believed: an error from a mixed-up or forged
/// response is no more trustworthy than a code from one.
pub(crate) fn check<'a>(
    params: &'a [(String, String)],
    expected_state: &str,
    issuer: &str,
    iss_required: bool,
) -> Result<&'a str, UpstreamError> {
    let state = single(params, "state")
        .map_err(|()| UpstreamError::StateMismatch)?
        .ok_or(UpstreamError::StateMismatch)?;
    if !secret_eq(state, expected_state) {
        return Err(UpstreamError::StateMismatch);
    }
    match single(params, "iss").map_err(|()| UpstreamError::IssuerMismatch)? {
        Some(iss) if iss == issuer => {}
        Some(_) => return Err(UpstreamError::IssuerMismatch),
        None if iss_required => return Err(UpstreamError::IssuerMismatch),
        None => {}
    }
    let repeated = |name: &str| UpstreamError::Callback(format!("{name} is repeated"));
    if let Some(error) = single(params, "error").map_err(|()| repeated("error"))? {
        let description = single(params, "error_description")
            .map_err(|()| repeated("error_description"))?
            .map(str::to_owned);
        return Err(UpstreamError::Refused {
            error: error.to_owned(),
            description,
        });
    }
    single(params, "code")
        .map_err(|()| repeated("code"))?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| UpstreamError::Callback("code is missing".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://idp.example";

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_good_response_yields_the_code() {
        let params = p(&[("code", "c1"), ("state", "s1"), ("iss", ISS)]);
        assert_eq!(check(&params, "s1", ISS, true), Ok("c1"));
    }

    #[test]
    fn state_must_match_and_appear_once() {
        for params in [
            p(&[("code", "c"), ("iss", ISS)]),
            p(&[("code", "c"), ("state", "s2"), ("iss", ISS)]),
            p(&[
                ("code", "c"),
                ("state", "s1"),
                ("state", "s1"),
                ("iss", ISS),
            ]),
            p(&[("code", "c"), ("state", ""), ("iss", ISS)]),
        ] {
            assert_eq!(
                check(&params, "s1", ISS, true),
                Err(UpstreamError::StateMismatch)
            );
        }
    }

    #[test]
    fn iss_is_required_when_promised_and_must_match_when_present() {
        let missing = p(&[("code", "c"), ("state", "s")]);
        assert_eq!(
            check(&missing, "s", ISS, true),
            Err(UpstreamError::IssuerMismatch)
        );
        assert_eq!(check(&missing, "s", ISS, false), Ok("c"));
        let wrong = p(&[
            ("code", "c"),
            ("state", "s"),
            ("iss", "https://idp.example/"),
        ]);
        assert_eq!(
            check(&wrong, "s", ISS, false),
            Err(UpstreamError::IssuerMismatch)
        );
        let twice = p(&[("code", "c"), ("state", "s"), ("iss", ISS), ("iss", ISS)]);
        assert_eq!(
            check(&twice, "s", ISS, true),
            Err(UpstreamError::IssuerMismatch)
        );
    }

    #[test]
    fn error_responses_are_refusals_but_only_after_state_and_iss() {
        let params = p(&[
            ("error", "access_denied"),
            ("error_description", "cancelled"),
            ("state", "s"),
            ("iss", ISS),
        ]);
        assert_eq!(
            check(&params, "s", ISS, true),
            Err(UpstreamError::Refused {
                error: "access_denied".into(),
                description: Some("cancelled".into())
            })
        );
        assert_eq!(
            check(&params, "other", ISS, true),
            Err(UpstreamError::StateMismatch)
        );
    }

    #[test]
    fn code_must_be_present_once() {
        let none = p(&[("state", "s"), ("iss", ISS)]);
        assert!(matches!(
            check(&none, "s", ISS, true),
            Err(UpstreamError::Callback(_))
        ));
        let twice = p(&[("code", "a"), ("code", "b"), ("state", "s"), ("iss", ISS)]);
        assert!(matches!(
            check(&twice, "s", ISS, true),
            Err(UpstreamError::Callback(_))
        ));
    }
}
