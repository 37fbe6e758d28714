//! Keeping `take_once`'s two keys in one cluster slot (Redis Cluster only).
//!
//! A script may touch only keys of one slot. `put(key)` has already fixed the key's slot, so the
//! tombstone follows it: on a cluster its Redis name is `prefix + "{" + S + "}" + tombstone`, where
//! `S` is the part of `prefix + key` that decides the key's slot (its hash tag, or all of it).
//! Standalone and Sentinel keep the plain `prefix + tombstone`, byte for byte. The configured prefix
//! has no braces on a cluster (checked at construction), so the added `{S}` is the first hash tag.

use eid_core::StoreError;
use redis::cluster_routing::Slot;

/// Redis' hash-tag rule: the bytes between the first `{` and the first `}` after it, if any.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|b| *b == b'{')?;
    let close = key[open + 1..].iter().position(|b| *b == b'}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

/// The tombstone's full Redis key on a cluster, in the slot of `prefix + key`.
pub(super) fn tombstone_in_slot_of(
    prefix: &str,
    key: &str,
    tombstone: &str,
) -> Result<Vec<u8>, StoreError> {
    let full: Vec<u8> = [prefix.as_bytes(), key.as_bytes()].concat();
    let slot_part = hash_tag(&full).unwrap_or(&full);
    // `S` inside a new tag must not end it early.
    if slot_part.contains(&b'}') || prefix.contains(['{', '}']) {
        return Err(StoreError::Backend(
            "a take_once key with an unbalanced `}` cannot share its tombstone's cluster slot"
                .to_owned(),
        ));
    }
    let in_slot = [
        prefix.as_bytes(),
        b"{",
        slot_part,
        b"}",
        tombstone.as_bytes(),
    ]
    .concat();
    if Slot::for_key(&in_slot) != Slot::for_key(&full) {
        return Err(StoreError::Backend(
            "take_once tombstone could not be placed in its key's cluster slot".to_owned(),
        ));
    }
    Ok(in_slot)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hash_tags_follow_redis_rules() {
        assert_eq!(hash_tag(b"a{b}c"), Some(&b"b"[..]));
        assert_eq!(
            hash_tag(b"a{}c{d}"),
            None,
            "an empty first tag means no tag"
        );
        assert_eq!(hash_tag(b"a{b{c}d}"), Some(&b"b{c"[..]));
        assert_eq!(hash_tag(b"abc"), None);
        assert_eq!(hash_tag(b"a}b{c"), None);
    }

    #[test]
    fn the_tombstone_lands_in_the_keys_slot() {
        for key in [
            "broker:rt:AbC-_x",
            "broker:code:{tagged}rest",
            "ünïcødé",
            "",
        ] {
            let t = tombstone_in_slot_of("eid:", key, "broker:rt-used:x").unwrap();
            assert_eq!(
                Slot::for_key(&t),
                Slot::for_key(format!("eid:{key}")),
                "{key:?}"
            );
            assert!(t.starts_with(b"eid:{") && t.ends_with(b"}broker:rt-used:x"));
        }
        // Without the rewrite the two would (here) be in different slots.
        assert_ne!(
            Slot::for_key("eid:broker:rt:AbC-_x"),
            Slot::for_key("eid:broker:rt-used:x")
        );
    }

    #[test]
    fn keys_whose_slot_part_would_end_the_tag_early_are_refused() {
        assert!(tombstone_in_slot_of("eid:", "a}b", "t").is_err());
        // An empty first tag means the whole key decides, and it holds a `}`.
        assert!(tombstone_in_slot_of("eid:", "odd {} key", "t").is_err());
        assert!(tombstone_in_slot_of("eid:{x}", "k", "t").is_err());
    }
}
