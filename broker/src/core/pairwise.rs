//! Pairwise subject identifiers: a keyed hash (HMAC-SHA256 with the broker's secret) of the relying
//! party's sector and the person's stable upstream identity, shaped as a UUID so that the same value
//! serves as OIDC `sub` and as the SAML persistent NameID.

use ring::hmac;
use uuid::Uuid;

/// The broker's pairwise key, and the keys derived from it: of audit ids, and of sealed access
/// tokens.
#[derive(Clone)]
pub struct PairwiseKey {
    pairwise: hmac::Key,
    audit: hmac::Key,
    sealer: eid_oidc::seal::TokenSealer,
}

impl std::fmt::Debug for PairwiseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairwiseKey(..)")
    }
}

impl PairwiseKey {
    /// A key from secret bytes (at least 32).
    pub fn new(secret: &[u8]) -> Option<Self> {
        (secret.len() >= 32).then(|| {
            let pairwise = hmac::Key::new(hmac::HMAC_SHA256, secret);
            // A key of its own (domain-separated), so that no sector's identifiers equal audit ids.
            let audit_secret = hmac::sign(&pairwise, b"eid-broker audit person key v1");
            // Likewise the key that seals access tokens: every node sharing the secret opens them.
            let mut seal_secret = [0u8; 32];
            seal_secret.copy_from_slice(
                hmac::sign(&pairwise, b"eid-broker access token sealing key v1").as_ref(),
            );
            PairwiseKey {
                audit: hmac::Key::new(hmac::HMAC_SHA256, audit_secret.as_ref()),
                sealer: eid_oidc::seal::TokenSealer::new(&seal_secret),
                pairwise,
            }
        })
    }

    /// The audit id of `person` (`<upstream>:<subject>`) of an upstream whose subjects are not
    /// person-register ids: stable across nodes sharing the secret, and not reversible by whoever
    /// reads the audit log (a foreign personal number has little entropy). A version-8 UUID, which
    /// the person register never issues.
    pub fn audit_id(&self, person: &str) -> Uuid {
        let tag = hmac::sign(&self.audit, person.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        Uuid::new_v8(bytes)
    }

    /// The sealer of the broker's access tokens.
    pub fn token_sealer(&self) -> &eid_oidc::seal::TokenSealer {
        &self.sealer
    }

    /// The identifier of `person` (`<upstream>:<subject>`) in `sector`.
    pub fn subject(&self, sector: &str, person: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.pairwise);
        ctx.update(sector.as_bytes());
        ctx.update(b"\x00");
        ctx.update(person.as_bytes());
        let tag = ctx.sign();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        Uuid::new_v8(bytes).to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A known answer: changing the derivation (input order, separator, truncation, UUID shape)
    /// would silently give every person a new `sub` at every service. The expected value was
    /// checked independently (HMAC-SHA256 of `sector NUL person`, first 16 bytes, UUIDv8 bits).
    #[test]
    fn the_derivation_is_fixed() {
        let key = PairwiseKey::new(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            key.subject("https://service.example", "mitid:9208-2002-2-000000000001"),
            "b29467f1-4d26-8b0c-b4ab-1e65da893c97"
        );
    }

    #[test]
    fn stable_per_sector_and_different_across_sectors() {
        let key = PairwiseKey::new(&[7u8; 32]).unwrap();
        let a1 = key.subject("sector-a", "idp:alice");
        assert_eq!(a1, key.subject("sector-a", "idp:alice"));
        assert_ne!(a1, key.subject("sector-b", "idp:alice"));
        assert_ne!(a1, key.subject("sector-a", "idp:bob"));
        assert!(Uuid::parse_str(&a1).is_ok());
        let other = PairwiseKey::new(&[8u8; 32]).unwrap();
        assert_ne!(a1, other.subject("sector-a", "idp:alice"));
        assert!(PairwiseKey::new(&[0u8; 16]).is_none());
    }

    #[test]
    fn audit_ids_are_keyed_and_apart_from_pairwise_subjects() {
        let key = PairwiseKey::new(&[7u8; 32]).unwrap();
        let id = key.audit_id("eidas:SE/DK/199001011234");
        assert_eq!(id, key.audit_id("eidas:SE/DK/199001011234"));
        assert_eq!(id.get_version_num(), 8);
        assert_ne!(
            id,
            PairwiseKey::new(&[8u8; 32])
                .unwrap()
                .audit_id("eidas:SE/DK/199001011234")
        );
        assert_ne!(id.to_string(), key.subject("", "eidas:SE/DK/199001011234"));
    }
}
