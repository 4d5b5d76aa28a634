//! Key groups: how a keyed pipeline's keys are split between the nodes of a cluster.
//!
//! As in Flink, a key's hash picks one of a fixed number of *key groups* (the cluster's
//! `key_groups`, Flink's maximum parallelism), and the groups are split into contiguous ranges,
//! one per node in the order of `cluster.nodes`: node `i` of `n` owns groups
//! `⌈i·G/n⌉ .. ⌈(i+1)·G/n⌉`. Every node computes the same split from the same list, so no
//! coordination is needed; changing the list moves groups (and their window state) between
//! nodes.
//!
//! A pipeline that is not keyed is placed whole: partitioned by publisher, a publisher's
//! messages go to the owner of the publisher's group; with a single instance, the owner of the
//! pipeline name's group runs it.

use std::ops::Range;

use super::shard::shard;

/// The key groups one node owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGroups {
    groups: u32,
    owned: Range<u32>,
}

impl KeyGroups {
    /// Node `index` of `nodes` with `groups` key groups (`groups ≥ nodes ≥ 1`).
    pub fn new(groups: u32, index: usize, nodes: usize) -> KeyGroups {
        let (g, n) = (u64::from(groups.max(1)), nodes.max(1) as u64);
        let start = |i: u64| (i * g).div_ceil(n) as u32;
        let i = (index as u64).min(n);
        KeyGroups { groups: groups.max(1), owned: start(i)..start((i + 1).min(n)) }
    }

    /// The group of a 64-bit hash.
    pub fn group(&self, hash: u64) -> u32 {
        shard(hash, self.groups as usize) as u32
    }

    /// Whether this node owns the group of `hash`.
    pub fn owns(&self, hash: u64) -> bool {
        self.owned.contains(&self.group(hash))
    }

    /// The groups this node owns.
    pub fn owned(&self) -> Range<u32> {
        self.owned.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shard::key_hash;

    #[test]
    fn every_group_has_exactly_one_owner() {
        for nodes in 1..=7 {
            for groups in [nodes as u32, 10, 128] {
                let split: Vec<KeyGroups> =
                    (0..nodes).map(|i| KeyGroups::new(groups, i, nodes)).collect();
                for g in 0..groups {
                    let owners = split.iter().filter(|k| k.owned.contains(&g)).count();
                    assert_eq!(owners, 1, "group {g} of {groups} over {nodes}");
                }
            }
        }
        let three: Vec<KeyGroups> = (0..3).map(|i| KeyGroups::new(128, i, 3)).collect();
        assert_eq!(three[0].owned(), 0..43);
        assert_eq!(three[2].owned(), 86..128);
        let h = key_hash(b"\"BTC\"");
        assert_eq!(three.iter().filter(|k| k.owns(h)).count(), 1);
    }
}
