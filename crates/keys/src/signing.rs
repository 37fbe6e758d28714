//! [`SigningKey`]: a private key parsed once into a ring key pair, with its kid, state and public JWK.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _, UnparsedPublicKey};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::alg::{Alg, KeyState};
use crate::error::KeyError;
use crate::jwk::PublicComponents;
use crate::pem_io::{self, ParsedKey};

/// The process-wide random source used for ECDSA nonces, RSA-PSS salts and RSA blinding.
pub(crate) fn rng() -> &'static SystemRandom {
    static RNG: OnceLock<SystemRandom> = OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

/// Largest RSA signature ring produces (4096-bit modulus).
const MAX_SIG_LEN: usize = 512;

/// A private signing key, parsed once; signing never re-parses.
///
/// Cheap to share behind an `Arc` (the key store hands out `Arc<SigningKey>`). `Debug` shows only public data.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    state: KeyState,
    created: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    file: PathBuf,
    key: ParsedKey,
    public: PublicComponents,
    public_jwk: Value,
    /// `{"alg":"…","kid":"…"` — the JWS header without `typ` and without the closing brace.
    header_prefix: String,
    /// base64url of the header without `typ`.
    header_b64_no_typ: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("created", &self.created)
            .field("not_after", &self.not_after)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PEM private key (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, or SEC1 `EC PRIVATE KEY` with its public key) as an active key for `alg`.
    ///
    /// Meant for tests and tools; services get their keys from [`crate::KeyStore`].
    pub fn from_pem(pem: &[u8], alg: Alg) -> Result<SigningKey, KeyError> {
        let path = Path::new("<memory>");
        let parsed = pem_io::parse_private_pem(pem, path)?;
        SigningKey::from_parsed(parsed, alg, KeyState::Active, None, None, path.to_owned())
    }

    pub(crate) fn from_parsed(
        key: ParsedKey,
        alg: Alg,
        state: KeyState,
        created: Option<OffsetDateTime>,
        not_after: Option<OffsetDateTime>,
        file: PathBuf,
    ) -> Result<SigningKey, KeyError> {
        if key.kind() != alg.kind() {
            return Err(KeyError::AlgMismatch {
                path: file,
                alg,
                found: key.kind().describe(),
            });
        }
        let public = key.public_components()?;
        let kid = public.thumbprint();
        let public_jwk = public.to_jwk(&kid, alg);
        // kid is base64url and alg is a fixed name: no JSON escaping needed.
        let header_prefix = format!(r#"{{"alg":"{}","kid":"{}""#, alg.as_str(), kid);
        let header_b64_no_typ = URL_SAFE_NO_PAD.encode(format!("{header_prefix}}}"));
        Ok(SigningKey {
            kid,
            alg,
            state,
            created,
            not_after,
            file,
            key,
            public,
            public_jwk,
            header_prefix,
            header_b64_no_typ,
        })
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key is published and used for.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key's state when the key set was loaded.
    pub fn state(&self) -> KeyState {
        self.state
    }

    /// The `created` time from the manifest (or the file's modification time, if the entry had none).
    pub fn created(&self) -> Option<OffsetDateTime> {
        self.created
    }

    /// After this instant the key is neither published nor used.
    pub fn not_after(&self) -> Option<OffsetDateTime> {
        self.not_after
    }

    /// The PEM file the key was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether the key is still valid at `now` (no `not_after`, or `not_after` in the future).
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_after.is_none_or(|na| now < na)
    }

    /// The public key's components (for certificates, metadata, …).
    pub fn public_components(&self) -> &PublicComponents {
        &self.public
    }

    /// The raw public key as ring encodes it: the uncompressed point `04 || x || y` for EC, the DER
    /// `RSAPublicKey` for RSA.
    pub fn public_key_bytes(&self) -> &[u8] {
        match &self.key {
            ParsedKey::Ec(kp) => kp.public_key().as_ref(),
            ParsedKey::Rsa(kp) => kp.public().as_ref(),
        }
    }

    /// The public JWK: `kid`, `kty`, `alg`, `use: "sig"` and the public members (`crv`,`x`,`y` or `n`,`e`).
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    pub(crate) fn public_jwk_ref(&self) -> &Value {
        &self.public_jwk
    }

    /// Signs `msg` with the key's own algorithm. ES256 gives the fixed 64-byte `r || s`; RS256/PS256 give a
    /// signature as long as the modulus.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.signature(self.alg, msg)?.as_ref().to_vec())
    }

    /// Signs `msg` with `alg`, which must suit the key kind. This lets an RSA key listed for RS256 also
    /// sign RSA-PSS (or the other way round), e.g. for XML-DSig towards a peer that needs the other padding.
    /// JWS always uses [`SigningKey::alg`].
    pub fn sign_as(&self, alg: Alg, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.signature(alg, msg)?.as_ref().to_vec())
    }

    /// The signature of `msg` in a stack buffer (no heap allocation).
    fn signature(&self, alg: Alg, msg: &[u8]) -> Result<SigBuf, KeyError> {
        let mut out = SigBuf {
            buf: [0u8; MAX_SIG_LEN],
            len: 0,
        };
        match (&self.key, alg) {
            (ParsedKey::Ec(kp), Alg::ES256) => {
                let sig = kp.sign(rng(), msg).map_err(|_| KeyError::Sign)?;
                let sig = sig.as_ref();
                out.buf
                    .get_mut(..sig.len())
                    .ok_or(KeyError::Sign)?
                    .copy_from_slice(sig);
                out.len = sig.len();
            }
            (ParsedKey::Rsa(kp), Alg::RS256 | Alg::PS256) => {
                let padding: &'static dyn signature::RsaEncoding = if alg == Alg::RS256 {
                    &signature::RSA_PKCS1_SHA256
                } else {
                    &signature::RSA_PSS_SHA256
                };
                let len = kp.public().modulus_len();
                let sig = out.buf.get_mut(..len).ok_or(KeyError::Sign)?;
                kp.sign(padding, rng(), msg, sig)
                    .map_err(|_| KeyError::Sign)?;
                out.len = len;
            }
            _ => {
                return Err(KeyError::IncompatibleAlg {
                    kid: self.kid.clone(),
                    alg,
                });
            }
        }
        Ok(out)
    }

    /// Verifies a signature made with this key's own algorithm.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verify_as(self.alg, msg, sig)
    }

    /// Verifies a signature made with `alg` (which must suit the key kind).
    pub fn verify_as(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        let params: &'static dyn signature::VerificationAlgorithm = match (&self.key, alg) {
            (ParsedKey::Ec(_), Alg::ES256) => &signature::ECDSA_P256_SHA256_FIXED,
            (ParsedKey::Rsa(_), Alg::RS256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (ParsedKey::Rsa(_), Alg::PS256) => &signature::RSA_PSS_2048_8192_SHA256,
            _ => return false,
        };
        UnparsedPublicKey::new(params, self.public_key_bytes())
            .verify(msg, sig)
            .is_ok()
    }

    /// Produces a compact JWS `b64url(header).b64url(payload).b64url(signature)` over `claims_json` (the
    /// payload bytes, normally a JSON object), with header `{"alg":…,"kid":…,"typ":…}` (`typ` only if given).
    pub fn sign_jws(&self, typ: Option<&str>, claims_json: &[u8]) -> Result<String, KeyError> {
        // With a `typ`, the header JSON is built in one small buffer (serde_json escapes `typ`).
        let header_json = match typ {
            None => None,
            Some(typ) => {
                let mut h = Vec::with_capacity(self.header_prefix.len() + typ.len() + 12);
                h.extend_from_slice(self.header_prefix.as_bytes());
                h.extend_from_slice(br#","typ":"#);
                serde_json::to_writer(&mut h, typ)?;
                h.push(b'}');
                Some(h)
            }
        };
        let header_b64_len = header_json
            .as_ref()
            .map_or(self.header_b64_no_typ.len(), |h| b64_len(h.len()));
        let sig_len = match &self.key {
            ParsedKey::Ec(_) => 64,
            ParsedKey::Rsa(kp) => kp.public().modulus_len(),
        };
        let cap = header_b64_len + 2 + b64_len(claims_json.len()) + b64_len(sig_len);
        let mut out = String::with_capacity(cap);
        match &header_json {
            None => out.push_str(&self.header_b64_no_typ),
            Some(h) => URL_SAFE_NO_PAD.encode_string(h, &mut out),
        }
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(claims_json, &mut out);
        let sig = self.signature(self.alg, out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut out);
        Ok(out)
    }

    /// Serialises `claims` to JSON and signs it as a compact JWS (see [`SigningKey::sign_jws`]).
    pub fn sign_claims<T: Serialize + ?Sized>(
        &self,
        typ: Option<&str>,
        claims: &T,
    ) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims)?;
        self.sign_jws(typ, &payload)
    }
}

/// A signature held on the stack.
struct SigBuf {
    buf: [u8; MAX_SIG_LEN],
    len: usize,
}

impl AsRef<[u8]> for SigBuf {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

fn b64_len(n: usize) -> usize {
    base64::encoded_len(n, false).unwrap_or(0)
}
