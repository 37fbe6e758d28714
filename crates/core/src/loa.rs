//! NSIS levels of assurance (Low, Substantial, High) and their URI spellings.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The URI prefix we emit for an NSIS level: `https://data.gov.dk/concept/core/nsis/loa/<Level>`.
pub const NSIS_LOA_PREFIX: &str = "https://data.gov.dk/concept/core/nsis/loa/";
/// The other spelling seen in the Danish OIDC ecosystem (no `/loa/` segment); accepted on input only.
pub const NSIS_PREFIX_WITHOUT_LOA: &str = "https://data.gov.dk/concept/core/nsis/";
/// The eIDAS level prefix (equivalent levels).
pub const EIDAS_LOA_PREFIX: &str = "http://eidas.europa.eu/LoA/";

/// An NSIS level of assurance. Ordered: `Low < Substantial < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Loa {
    /// NSIS Lav.
    Low,
    /// NSIS Betydelig.
    Substantial,
    /// NSIS Høj.
    High,
}

/// A string that is no level of assurance we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a known level of assurance: {0:?}")]
pub struct LoaParseError(pub String);

impl Loa {
    /// All levels, lowest first.
    pub const ALL: [Loa; 3] = [Loa::Low, Loa::Substantial, Loa::High];

    /// The bare word (`Low`, `Substantial`, `High`), as in the OIOSAML `nsis/loa` attribute.
    pub fn as_word(self) -> &'static str {
        match self {
            Loa::Low => "Low",
            Loa::Substantial => "Substantial",
            Loa::High => "High",
        }
    }

    /// The level's name on a page in language `lang` (Danish: Lav, Betydelig, Høj), as citizens read
    /// it. [`Loa::as_word`] stays the protocol and audit spelling.
    pub fn name(self, lang: crate::Lang) -> &'static str {
        match (lang, self) {
            (crate::Lang::Da, Loa::Low) => "Lav",
            (crate::Lang::Da, Loa::Substantial) => "Betydelig",
            (crate::Lang::Da, Loa::High) => "Høj",
            (crate::Lang::En, Loa::Low) => "Low",
            (crate::Lang::En, Loa::Substantial) => "Substantial",
            (crate::Lang::En, Loa::High) => "High",
        }
    }

    /// The URI we emit, e.g. `https://data.gov.dk/concept/core/nsis/loa/High`.
    pub fn as_uri(self) -> &'static str {
        match self {
            Loa::Low => "https://data.gov.dk/concept/core/nsis/loa/Low",
            Loa::Substantial => "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            Loa::High => "https://data.gov.dk/concept/core/nsis/loa/High",
        }
    }

    /// The equivalent eIDAS level URI.
    pub fn as_eidas_uri(self) -> &'static str {
        match self {
            Loa::Low => "http://eidas.europa.eu/LoA/low",
            Loa::Substantial => "http://eidas.europa.eu/LoA/substantial",
            Loa::High => "http://eidas.europa.eu/LoA/high",
        }
    }

    /// Parses any accepted spelling: the bare word, either NSIS URI spelling, or the eIDAS URI.
    pub fn parse(input: &str) -> Result<Loa, LoaParseError> {
        let word = input
            .strip_prefix(NSIS_LOA_PREFIX)
            .or_else(|| input.strip_prefix(NSIS_PREFIX_WITHOUT_LOA))
            .or_else(|| input.strip_prefix(EIDAS_LOA_PREFIX))
            .unwrap_or(input);
        match word {
            "Low" | "low" => Ok(Loa::Low),
            "Substantial" | "substantial" => Ok(Loa::Substantial),
            "High" | "high" => Ok(Loa::High),
            _ => Err(LoaParseError(input.to_owned())),
        }
    }

    /// The lowest of two levels: a transaction is only as strong as its weakest part.
    pub fn min(self, other: Loa) -> Loa {
        std::cmp::min(self, other)
    }
}

impl fmt::Display for Loa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_word())
    }
}

impl FromStr for Loa {
    type Err = LoaParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Loa::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_page_language() {
        use crate::Lang;
        let da: Vec<&str> = Loa::ALL.iter().map(|l| l.name(Lang::Da)).collect();
        let en: Vec<&str> = Loa::ALL.iter().map(|l| l.name(Lang::En)).collect();
        assert_eq!(da, ["Lav", "Betydelig", "Høj"]);
        assert_eq!(en, ["Low", "Substantial", "High"]);
        // The protocol spelling is unchanged.
        assert_eq!(Loa::High.as_word(), "High");
    }

    #[test]
    fn accepts_both_nsis_spellings_and_eidas() {
        assert_eq!(
            Loa::parse("https://data.gov.dk/concept/core/nsis/loa/Substantial"),
            Ok(Loa::Substantial)
        );
        assert_eq!(
            Loa::parse("https://data.gov.dk/concept/core/nsis/Substantial"),
            Ok(Loa::Substantial)
        );
        assert_eq!(Loa::parse("http://eidas.europa.eu/LoA/high"), Ok(Loa::High));
        assert_eq!(Loa::parse("Low"), Ok(Loa::Low));
    }

    #[test]
    fn rejects_unknown_and_lookalike_values() {
        assert!(Loa::parse("https://data.gov.dk/concept/core/nsis/loa/Highest").is_err());
        assert!(Loa::parse("https://evil.example/nsis/loa/High").is_err());
        assert!(Loa::parse("").is_err());
    }

    #[test]
    fn emits_the_oiosaml_spelling_and_orders_levels() {
        assert_eq!(Loa::High.as_uri(), format!("{NSIS_LOA_PREFIX}High"));
        assert!(Loa::Low < Loa::Substantial && Loa::Substantial < Loa::High);
        assert_eq!(Loa::High.min(Loa::Low), Loa::Low);
        for loa in Loa::ALL {
            assert_eq!(Loa::parse(loa.as_uri()), Ok(loa));
        }
    }
}
