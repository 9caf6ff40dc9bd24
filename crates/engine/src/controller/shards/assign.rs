//! Which replica should own an application: rendezvous (highest random weight) hashing.
//! Every replica computes the same answer from the same member list with no coordination,
//! and a change of membership moves only the applications it must: those of a member that
//! left, or those a new member now wins — never one between two members that stayed.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The weight of `member` for `app`: the first 8 bytes of SHA-256 over both (stable across
/// processes, versions and hosts, unlike `std`'s hasher).
fn weight(member: &str, app: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(member.as_bytes());
    h.update([0]);
    h.update(app.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// The member that should own `app` (`None` without members). Ties, vanishingly rare, go
/// to the smaller name so every replica agrees.
pub fn owner<'a>(app: &str, members: &'a [String]) -> Option<&'a str> {
    members
        .iter()
        .map(|m| (weight(m, app), std::cmp::Reverse(m.as_str())))
        .max()
        .map(|(_, std::cmp::Reverse(m))| m)
}

/// Every app's owner.
pub fn assign<'a>(
    apps: impl IntoIterator<Item = &'a str>,
    members: &[String],
) -> BTreeMap<String, String> {
    apps.into_iter()
        .filter_map(|a| owner(a, members).map(|m| (a.to_string(), m.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn counts(a: &BTreeMap<String, String>) -> BTreeMap<&str, usize> {
        let mut c = BTreeMap::new();
        for m in a.values() {
            *c.entry(m.as_str()).or_default() += 1;
        }
        c
    }

    #[test]
    fn shares_are_even_enough() {
        let apps = names("app-", 3000);
        let members = names("driftless-", 3);
        let a = assign(apps.iter().map(String::as_str), &members);
        assert_eq!(a.len(), 3000);
        for (m, n) in counts(&a) {
            assert!((850..=1150).contains(&n), "{m} got {n} of 3000");
        }
        assert_eq!(owner("x", &[]), None);
    }

    #[test]
    fn a_new_member_takes_only_what_it_wins() {
        let apps = names("app-", 3000);
        let three = names("r", 3);
        let four = names("r", 4);
        let before = assign(apps.iter().map(String::as_str), &three);
        let after = assign(apps.iter().map(String::as_str), &four);
        let moved: Vec<&String> = apps.iter().filter(|a| before[*a] != after[*a]).collect();
        for a in &moved {
            assert_eq!(after[*a], "r3", "{a} moved between members that stayed");
        }
        // A quarter should move to the newcomer, give or take.
        assert!((600..=900).contains(&moved.len()), "{} moved", moved.len());
    }

    #[test]
    fn a_leaving_member_gives_away_only_its_own() {
        let apps = names("app-", 3000);
        let three = names("r", 3);
        let two: Vec<String> = vec!["r0".into(), "r2".into()];
        let before = assign(apps.iter().map(String::as_str), &three);
        let after = assign(apps.iter().map(String::as_str), &two);
        for a in &apps {
            if before[a] != "r1" {
                assert_eq!(before[a], after[a], "{a} moved though its owner stayed");
            } else {
                assert_ne!(after[a], "r1");
            }
        }
        // Its apps spread over both survivors, not onto one.
        let c = counts(&after);
        assert!(c["r0"] > 1200 && c["r2"] > 1200, "{c:?}");
    }

    #[test]
    fn every_replica_computes_the_same_owner_whatever_the_member_order() {
        let m1: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let m2: Vec<String> = vec!["c".into(), "a".into(), "b".into()];
        for app in names("x", 200) {
            assert_eq!(owner(&app, &m1), owner(&app, &m2));
        }
    }
}
