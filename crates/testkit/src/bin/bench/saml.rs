//! The SAML scenario's service provider: its keys (an ES256 request-signing key, so that signing
//! a fresh AuthnRequest per flow costs the load core little; an RSA encryption key, as RSA-OAEP
//! needs), its metadata, registered with the broker through a `[[broker.saml_service_providers]]`
//! section added to the configuration, and a signed HTTP-Redirect AuthnRequest per flow. Plus the
//! reference the issue names: `openssl speed` for the broker's SAML key type on the broker's core.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eid_keys::{Alg, SigningKey};
use eid_saml::binding::{MessageKind, SigAlg, signed_redirect_url};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use std::process::Command;

/// The bench service's entity ID.
const ENTITY_ID: &str = "https://bench-sp.example.dk/saml";
/// Its ACS (nothing listens: the load generator reads the auto-post page).
const ACS: &str = "https://bench-sp.example.dk/saml/acs";

/// The service provider the SAML workers play.
pub struct BenchSp {
    key: SigningKey,
    /// The broker's SSO URL (absolute: it is the request's `Destination`).
    sso_url: String,
    /// The scheme and authority to strip from the signed URL (the workers send a path).
    origin: String,
}

impl std::fmt::Debug for BenchSp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchSp")
            .field("sso_url", &self.sso_url)
            .finish_non_exhaustive()
    }
}

impl BenchSp {
    /// New keys for a service of the broker at `broker_url`; writes its metadata to `dir` and
    /// returns the configuration section that registers it.
    pub fn create(broker_url: &str, dir: &Path) -> anyhow::Result<(BenchSp, String)> {
        let key = SigningKey::from_pem(
            eid_keys::generate_pem(Alg::ES256, 0)?.as_bytes(),
            Alg::ES256,
        )?;
        let enc = SigningKey::from_pem(
            eid_keys::generate_pem(Alg::RS256, eid_keys::DEFAULT_RSA_BITS)?.as_bytes(),
            Alg::RS256,
        )?;
        let cert = |k: &SigningKey| -> anyhow::Result<String> {
            Ok(STANDARD.encode(eid_saml::dsig::certificate_for(k, "bench sp")?))
        };
        let metadata = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{ENTITY_ID}"><md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sign}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{enc}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>"#,
            sign = cert(&key)?,
            enc = cert(&enc)?,
        );
        let file = dir.join("bench-sp-metadata.xml");
        std::fs::write(&file, metadata)?;
        let section = format!(
            "\n[[broker.saml_service_providers]]\nmetadata = {:?}\nname = \"Bench SAML service\"\n\
             sector = \"sector-bench-saml\"\nrelease = [\"cpr\", \"name\"]\n",
            file.canonicalize()?.display().to_string()
        );
        let sp = BenchSp {
            key,
            sso_url: format!("{broker_url}/saml/sso"),
            origin: broker_url.to_owned(),
        };
        Ok((sp, section))
    }

    /// The path and query of a fresh signed AuthnRequest (a new request ID each time).
    pub fn request_path(&self, rng: &SystemRandom) -> Result<String, String> {
        let mut id = [0u8; 16];
        rng.fill(&mut id).map_err(|_| "no randomness")?;
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        let xml = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{id}" Version="2.0" IssueInstant="{now}" Destination="{}" AssertionConsumerServiceURL="{ACS}"><saml:Issuer>{ENTITY_ID}</saml:Issuer></samlp:AuthnRequest>"#,
            self.sso_url
        );
        let url = signed_redirect_url(
            &self.sso_url,
            MessageKind::Request,
            &xml,
            None,
            SigAlg::EcdsaSha256,
            |bytes| self.key.sign_as(Alg::ES256, bytes),
        )
        .map_err(|e| e.to_string())?;
        url.strip_prefix(&self.origin)
            .map(str::to_owned)
            .ok_or_else(|| "signed URL outside the broker".into())
    }
}

/// Whether a reply body is the auto-post page carrying a `SAMLResponse` to the bench ACS.
pub fn is_response_page(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("name=\"SAMLResponse\"") && text.contains(ACS)
}

/// RSA signatures per second of `openssl speed` for the broker's key size (RSA 3072, as
/// `eidbroker keygen` and the demo generate), one process pinned to `cpu`. `openssl speed`
/// divides by the CPU (user) time it used unless given `-elapsed`.
pub fn openssl_sign_rate(cpu: &str) -> anyhow::Result<f64> {
    let bits = eid_keys::DEFAULT_RSA_BITS;
    let out = Command::new("taskset")
        .args(["-c", cpu, "openssl", "speed", "-mr", "-seconds", "3"])
        .arg(format!("rsa{bits}"))
        .output()
        .context("running openssl speed (apt-get install openssl)")?;
    if !out.status.success() {
        bail!(
            "openssl speed failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Machine-readable result line: `+F2:<n>:<bits>:<sign>:<verify>`, where OpenSSL 3 gives
    // operations per second and older versions seconds per operation.
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("+F2:"))
        .context("no +F2 line in openssl speed -mr output")?;
    let sign: f64 = line
        .split(':')
        .nth(3)
        .context("short +F2 line")?
        .parse()
        .context("+F2 sign figure")?;
    if sign <= 0.0 {
        bail!("openssl speed reported {sign} for signing");
    }
    Ok(if sign < 1.0 { 1.0 / sign } else { sign })
}
