//! eIDAS levels of assurance and their NSIS equivalents.

use eid_core::Loa;

/// A notified eIDAS level of assurance. Non-notified URIs (`…/NotNotified/LoA/…`) are recognised
/// on reading only to be refused: we neither send nor accept them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EidasLoa {
    /// `http://eidas.europa.eu/LoA/low`
    Low,
    /// `http://eidas.europa.eu/LoA/substantial`
    Substantial,
    /// `http://eidas.europa.eu/LoA/high`
    High,
}

impl EidasLoa {
    /// Every level, lowest first.
    pub const ALL: [EidasLoa; 3] = [EidasLoa::Low, EidasLoa::Substantial, EidasLoa::High];

    /// Its URI.
    pub fn uri(self) -> &'static str {
        match self {
            EidasLoa::Low => "http://eidas.europa.eu/LoA/low",
            EidasLoa::Substantial => "http://eidas.europa.eu/LoA/substantial",
            EidasLoa::High => "http://eidas.europa.eu/LoA/high",
        }
    }

    /// The notified level a URI names (exact match), if any.
    pub fn from_uri(uri: &str) -> Option<EidasLoa> {
        EidasLoa::ALL.into_iter().find(|l| l.uri() == uri)
    }

    /// The NSIS level it is equivalent to (DESIGN.md §5: eIDAS low/substantial/high = NSIS
    /// Low/Substantial/High).
    pub fn to_nsis(self) -> Loa {
        match self {
            EidasLoa::Low => Loa::Low,
            EidasLoa::Substantial => Loa::Substantial,
            EidasLoa::High => Loa::High,
        }
    }

    /// The eIDAS level equivalent to an NSIS level.
    pub fn from_nsis(loa: Loa) -> EidasLoa {
        match loa {
            Loa::Low => EidasLoa::Low,
            Loa::Substantial => EidasLoa::Substantial,
            Loa::High => EidasLoa::High,
        }
    }
}

/// `RequestedAuthnContext/@Comparison`. With notified levels only, we send `minimum`; a missing
/// attribute means `exact` (as the EU node reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Comparison {
    /// The level or higher.
    Minimum,
    /// Exactly the level.
    Exact,
}

/// Whether `uri` names a non-notified level (`…/NotNotified/LoA/…` or `…/LoA/NotNotified/…`).
pub(crate) fn is_not_notified(uri: &str) -> bool {
    uri.starts_with("http://eidas.europa.eu/NotNotified/")
        || uri.starts_with("http://eidas.europa.eu/LoA/NotNotified/")
}

/// The notified level a received URI names; a non-notified or unknown URI breaks a rule.
pub(crate) fn read_level(uri: &str) -> Result<EidasLoa, super::EidasError> {
    if is_not_notified(uri) {
        return Err(super::EidasError::Rule(super::rules::LOA_NOT_NOTIFIED));
    }
    EidasLoa::from_uri(uri).ok_or(super::EidasError::Rule(super::rules::LOA_UNKNOWN))
}

impl Comparison {
    /// The attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Minimum => "minimum",
            Comparison::Exact => "exact",
        }
    }
}
