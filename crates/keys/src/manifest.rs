//! The key manifest `keys.toml` and [`KeyEntry`], the description of one key file.
//!
//! ```toml
//! [[key]]
//! kid = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"   # optional; checked against the RFC 7638 thumbprint
//! alg = "ES256"                                       # ES256 | RS256 | PS256
//! file = "es256-NzbLsXh8uDCcd-6M.pem"                  # relative to the key directory, or absolute
//! state = "active"                                    # next | active | retired
//! created = 2026-11-23T22:00:00Z                      # optional; TOML datetime or RFC 3339 string
//! not_after = 2027-02-23T22:00:00Z                    # optional
//! ```
//!
//! Unknown fields are rejected, so a misspelt `not-after` does not silently keep a key alive.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::alg::{Alg, KeyState};
use crate::error::KeyError;
use crate::pem_io;

/// The manifest's file name inside a key directory.
pub const MANIFEST_FILE: &str = "keys.toml";

/// One key: a PEM file, the algorithm it is used for, and its state.
///
/// Used both for manifest entries and for keys that operators name in the main configuration (the
/// `extra` entries of [`crate::KeyStore::open`]; there a relative `file` is used as given, so the config
/// loader should resolve it against the config file's directory). Deserialises from TOML or JSON;
/// `created`/`not_after` accept a TOML datetime or an RFC 3339 string and serialise as RFC 3339 strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The expected key id (RFC 7638 thumbprint). Checked when loading if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The algorithm the key is used and published for.
    pub alg: Alg,
    /// The PEM file: relative to the key directory for manifest entries, or absolute.
    pub file: PathBuf,
    /// The key's state.
    pub state: KeyState,
    /// When the key was created; decides which of several active keys signs (the newest). If absent, the
    /// file's modification time is used.
    #[serde(
        default,
        deserialize_with = "de_datetime_opt",
        serialize_with = "time::serde::rfc3339::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<OffsetDateTime>,
    /// After this instant the key is neither published nor used to sign or verify.
    #[serde(
        default,
        deserialize_with = "de_datetime_opt",
        serialize_with = "time::serde::rfc3339::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_after: Option<OffsetDateTime>,
}

impl KeyEntry {
    /// An entry with no expected kid, no `created` and no `not_after`.
    pub fn new(file: impl Into<PathBuf>, alg: Alg, state: KeyState) -> KeyEntry {
        KeyEntry {
            kid: None,
            alg,
            file: file.into(),
            state,
            created: None,
            not_after: None,
        }
    }

    /// Sets `not_after`.
    pub fn with_not_after(mut self, not_after: Option<OffsetDateTime>) -> KeyEntry {
        self.not_after = not_after;
        self
    }

    /// Whether the entry is still valid at `now` (no `not_after`, or `not_after` in the future).
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_after.is_none_or(|na| now < na)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestIn {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Serialize)]
struct ManifestOut<'a> {
    key: Vec<EntryOut<'a>>,
}

/// The on-disk form: datetimes as native TOML datetimes.
#[derive(Serialize)]
struct EntryOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    alg: Alg,
    file: &'a Path,
    state: KeyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<toml::value::Datetime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_after: Option<toml::value::Datetime>,
}

/// Reads `dir/keys.toml`. A missing directory or manifest gives an empty list. Paths are returned as written.
pub fn read_manifest(dir: &Path) -> Result<Vec<KeyEntry>, KeyError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::io(path, e)),
    };
    let m: ManifestIn = toml::from_str(&text).map_err(|e| KeyError::Manifest {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(m.key)
}

/// Writes `dir/keys.toml` atomically (temp file + rename, mode 0600), creating `dir` if needed.
pub fn write_manifest(dir: &Path, entries: &[KeyEntry]) -> Result<(), KeyError> {
    let path = dir.join(MANIFEST_FILE);
    let bad = |reason: String| KeyError::Manifest {
        path: path.clone(),
        reason,
    };
    let key = entries
        .iter()
        .map(|e| {
            Ok(EntryOut {
                kid: e.kid.as_deref(),
                alg: e.alg,
                file: &e.file,
                state: e.state,
                created: e.created.map(to_toml_datetime).transpose()?,
                not_after: e.not_after.map(to_toml_datetime).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(bad)?;
    let mut text = String::from(
        "# Key manifest maintained by `eidbroker keygen`; see the eid-keys crate docs for the format.\n\n",
    );
    text.push_str(&toml::to_string(&ManifestOut { key }).map_err(|e| bad(e.to_string()))?);
    pem_io::create_key_dir(dir)?;
    pem_io::write_atomic(&path, text.as_bytes(), true)
}

fn to_toml_datetime(t: OffsetDateTime) -> Result<toml::value::Datetime, String> {
    let s = t
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| e.to_string())?;
    toml::value::Datetime::from_str(&s).map_err(|e| e.to_string())
}

fn parse_rfc3339<E: de::Error>(s: &str) -> Result<OffsetDateTime, E> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
        E::custom(format_args!(
            "invalid datetime `{s}` ({e}); use RFC 3339 with an offset, e.g. 2027-01-31T12:00:00Z"
        ))
    })
}

/// Deserialises an optional datetime given as a TOML datetime or as an RFC 3339 string.
fn de_datetime_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    struct OptV;
    impl<'de> Visitor<'de> for OptV {
        type Value = Option<OffsetDateTime>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 datetime")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(DtV).map(Some)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            parse_rfc3339(s).map(Some)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            DtV.visit_map(map).map(Some)
        }
    }
    struct DtV;
    impl<'de> Visitor<'de> for DtV {
        type Value = OffsetDateTime;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 datetime")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            parse_rfc3339(s)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            // A native TOML datetime arrives as toml's private one-field map.
            let dt =
                toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
            parse_rfc3339(&dt.to_string())
        }
    }
    d.deserialize_option(OptV)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manifest_parses_toml_datetimes_and_strings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            r#"
[[key]]
kid = "abc"
alg = "ES256"
file = "es256-abc.pem"
state = "active"
created = 2026-11-23T22:00:00Z

[[key]]
alg = "PS256"
file = "/etc/keys/rsa.pem"
state = "retired"
created = "2026-11-23T23:00:00+01:00"
not_after = 2027-01-01T00:00:00.5Z
"#,
        )
        .unwrap();
        let entries = read_manifest(dir.path()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kid.as_deref(), Some("abc"));
        assert_eq!(entries[0].created, Some(datetime!(2026-11-23 22:00:00 UTC)));
        assert_eq!(entries[0].not_after, None);
        assert_eq!(entries[1].alg, Alg::PS256);
        assert_eq!(entries[1].state, KeyState::Retired);
        assert_eq!(entries[1].created, Some(datetime!(2026-11-23 22:00:00 UTC)));
        assert_eq!(
            entries[1].not_after,
            Some(datetime!(2027-01-01 00:00:00.5 UTC))
        );

        // Round trip through the writer.
        write_manifest(dir.path(), &entries).unwrap();
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(text.contains("created = 2026-11-23T22:00:00Z"), "{text}");
        assert_eq!(read_manifest(dir.path()).unwrap(), entries);
    }

    #[test]
    fn manifest_rejects_unknown_fields_and_local_datetimes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        std::fs::write(
            &path,
            "[[key]]\nalg = \"ES256\"\nfile = \"a.pem\"\nstate = \"active\"\nnot-after = 2027-01-01T00:00:00Z\n",
        )
        .unwrap();
        let err = read_manifest(dir.path()).err().unwrap();
        assert!(err.to_string().contains("keys.toml"), "{err}");
        std::fs::write(
            &path,
            "[[key]]\nalg = \"ES256\"\nfile = \"a.pem\"\nstate = \"active\"\nnot_after = 2027-01-01T00:00:00\n",
        )
        .unwrap();
        let err = read_manifest(dir.path()).err().unwrap();
        assert!(err.to_string().contains("offset"), "{err}");
    }

    #[test]
    fn missing_dir_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_manifest(&dir.path().join("nope")).unwrap().is_empty());
    }

    #[test]
    fn key_entry_json() {
        let e = KeyEntry::new("k.pem", Alg::RS256, KeyState::Next)
            .with_not_after(Some(datetime!(2027-01-01 00:00 UTC)));
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"alg":"RS256","file":"k.pem","state":"next","not_after":"2027-01-01T00:00:00Z"}"#
        );
        assert_eq!(serde_json::from_str::<KeyEntry>(&json).unwrap(), e);
    }
}
