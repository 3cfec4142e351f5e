//! Partitions for CI matrices: `--partition K/N` checks a deterministic share of each
//! check's entities, so N CI jobs (a GitHub Actions matrix, CircleCI `parallelism`,
//! GitLab `parallel:`) check everything once between them. By default an entity's
//! partition follows from the hash of its check and key (stable whatever else changes);
//! `--partition-by duration` balances the recorded durations instead (longest first onto
//! the least loaded partition), which needs the same history on every job. And within
//! a run, entities start longest first, so no run ends with one worker alone on the
//! slowest entity.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// This job's share: partition `index` (from 1) of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub index: usize,
    pub total: usize,
    #[serde(default)]
    pub by: PartitionBy,
}

/// How entities are spread over partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionBy {
    /// By the hash of check and key: stable, needs nothing shared.
    #[default]
    Hash,
    /// By recorded durations, balanced: every job must see the same history.
    Duration,
}

#[derive(Debug, Error, Diagnostic, PartialEq, Eq)]
pub enum PartitionError {
    #[error("`{given}` is no partition")]
    #[diagnostic(
        code(kiln::check::partition),
        help("write K/N with 1 ≤ K ≤ N, e.g. --partition 2/4; or --partition auto in CI")
    )]
    Malformed { given: String },

    #[error("--partition auto found no CI partition in the environment")]
    #[diagnostic(
        code(kiln::check::partition_auto),
        help(
            "auto reads KILN_PARTITION (K/N), CircleCI's CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL, GitLab's CI_NODE_INDEX/CI_NODE_TOTAL; in a GitHub Actions matrix set KILN_PARTITION: ${{{{ matrix.partition }}}}/N"
        )
    )]
    NoCiPartition,
}

impl FromStr for PartitionBy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "hash" => Ok(PartitionBy::Hash),
            "duration" => Ok(PartitionBy::Duration),
            other => Err(format!("`{other}`: expected `hash` or `duration`")),
        }
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    /// `K/N`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || PartitionError::Malformed {
            given: text.to_owned(),
        };
        let (index, total) = text.trim().split_once('/').ok_or_else(malformed)?;
        let index: usize = index.trim().parse().map_err(|_| malformed())?;
        let total: usize = total.trim().parse().map_err(|_| malformed())?;
        if index == 0 || total == 0 || index > total {
            return Err(malformed());
        }
        Ok(Partition {
            index,
            total,
            by: PartitionBy::Hash,
        })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

impl Partition {
    /// The partition the CI system gives this job, read through `var`: KILN_PARTITION
    /// (`K/N`, for a GitHub Actions matrix or any CI), CircleCI (`CIRCLE_NODE_INDEX`,
    /// from 0), GitLab (`CI_NODE_INDEX`, from 1).
    pub fn from_ci(var: impl Fn(&str) -> Option<String>) -> Result<Self, PartitionError> {
        if let Some(given) = var("KILN_PARTITION") {
            return given.parse();
        }
        let pair =
            |index: &str, total: &str, base: usize| -> Option<Result<Self, PartitionError>> {
                let (index, total) = (var(index)?, var(total)?);
                let shown = format!("{index}/{total}");
                Some(
                    match (index.trim().parse::<usize>(), total.trim().parse::<usize>()) {
                        (Ok(i), Ok(t)) => format!("{}/{t}", i + 1 - base).parse(),
                        _ => Err(PartitionError::Malformed { given: shown }),
                    },
                )
            };
        pair("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0)
            .or_else(|| pair("CI_NODE_INDEX", "CI_NODE_TOTAL", 1))
            .unwrap_or(Err(PartitionError::NoCiPartition))
    }

    /// Which of a check's entities (key and recorded duration, if any) are this
    /// partition's. Every partition computes the same split from the same input.
    pub fn select<'a>(&self, check: &str, entities: &'a [(String, Option<u64>)]) -> Vec<&'a str> {
        let by_hash = |key: &str| bucket(check, key, self.total) + 1 == self.index;
        let known: Vec<u64> = entities.iter().filter_map(|(_, d)| *d).collect();
        if self.by == PartitionBy::Hash || known.is_empty() {
            return entities
                .iter()
                .filter(|(key, _)| by_hash(key))
                .map(|(key, _)| key.as_str())
                .collect();
        }
        // Longest processing time first: each entity, longest first, to the partition
        // with the least load so far (the lowest on a tie). An entity never run counts
        // as the median of those that did.
        let mut sorted_known = known.clone();
        sorted_known.sort_unstable();
        let typical = sorted_known[sorted_known.len() / 2];
        let mut order: Vec<(u64, &str)> = entities
            .iter()
            .map(|(key, d)| (d.unwrap_or(typical), key.as_str()))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let mut load = vec![0u64; self.total];
        let mut mine = Vec::new();
        for (duration, key) in order {
            let (least, _) = load
                .iter()
                .enumerate()
                .min_by_key(|(i, l)| (**l, *i))
                .expect("at least one partition");
            load[least] += duration.max(1);
            if least + 1 == self.index {
                mine.push(key);
            }
        }
        mine
    }
}

/// The bucket (from 0) of `check/key` among `total`: the first 8 bytes of its sha256.
fn bucket(check: &str, key: &str, total: usize) -> usize {
    let digest = crate::hash::sha256(format!("{check}\0{key}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % total as u64) as usize
}

/// `keys` ordered longest first by recorded duration; entities never run first of all
/// (nothing says they are short), then by key.
pub fn longest_first<T>(
    items: &mut [T],
    key: impl Fn(&T) -> &str,
    durations: &BTreeMap<String, u64>,
) {
    items.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        let (da, db) = (durations.get(a), durations.get(b));
        match (da, db) {
            (None, None) => a.cmp(b),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => y.cmp(x).then(a.cmp(b)),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entities(n: usize) -> Vec<(String, Option<u64>)> {
        (0..n).map(|i| (format!("e{i:03}"), None)).collect()
    }

    #[test]
    fn k_of_n_parses_and_nonsense_is_refused() {
        assert_eq!("2/4".parse::<Partition>().unwrap().to_string(), "2/4");
        for bad in ["0/2", "3/2", "1/0", "a/b", "2", "", "1/2/3"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ci_variables_name_the_partition() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let circle = Partition::from_ci(env(&[
            ("CIRCLE_NODE_INDEX", "0"),
            ("CIRCLE_NODE_TOTAL", "3"),
        ]));
        assert_eq!(circle.unwrap().to_string(), "1/3");
        let gitlab = Partition::from_ci(env(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "3")]));
        assert_eq!(gitlab.unwrap().to_string(), "3/3");
        let kiln = Partition::from_ci(env(&[
            ("KILN_PARTITION", "2/5"),
            ("CI_NODE_INDEX", "1"),
            ("CI_NODE_TOTAL", "2"),
        ]));
        assert_eq!(kiln.unwrap().to_string(), "2/5", "KILN_PARTITION wins");
        assert_eq!(
            Partition::from_ci(env(&[])),
            Err(PartitionError::NoCiPartition)
        );
    }

    #[test]
    fn every_entity_falls_in_exactly_one_partition() {
        let all = entities(200);
        for by in [PartitionBy::Hash, PartitionBy::Duration] {
            let timed: Vec<(String, Option<u64>)> = all
                .iter()
                .enumerate()
                .map(|(i, (k, _))| {
                    (
                        k.clone(),
                        (by == PartitionBy::Duration && i % 7 != 0).then_some(i as u64 * 13 % 97),
                    )
                })
                .collect();
            let mut seen = BTreeMap::new();
            for index in 1..=3 {
                let partition = Partition {
                    index,
                    total: 3,
                    by,
                };
                let mine = partition.select("f/c", &timed);
                assert!(!mine.is_empty(), "{by:?} {index}");
                for key in mine {
                    *seen.entry(key.to_owned()).or_insert(0) += 1;
                }
            }
            assert_eq!(seen.len(), 200, "{by:?}");
            assert!(seen.values().all(|n| *n == 1), "{by:?}");
        }
    }

    #[test]
    fn duration_balancing_keeps_the_loads_within_the_longest_entity() {
        let timed: Vec<(String, Option<u64>)> = [
            22_000, 9_000, 8_000, 7_000, 5_000, 4_000, 3_000, 1_000, 1_000, 500,
        ]
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("e{i}"), Some(*d)))
        .collect();
        let loads: Vec<u64> = (1..=2)
            .map(|index| {
                let partition = Partition {
                    index,
                    total: 2,
                    by: PartitionBy::Duration,
                };
                partition
                    .select("f/c", &timed)
                    .iter()
                    .map(|k| timed.iter().find(|(key, _)| key == k).unwrap().1.unwrap())
                    .sum()
            })
            .collect();
        assert!(loads[0].abs_diff(loads[1]) < 22_000, "{loads:?}");
    }

    #[test]
    fn the_longest_start_first_and_the_unknown_before_them() {
        let durations = BTreeMap::from([
            ("a".to_owned(), 10),
            ("b".to_owned(), 500),
            ("c".to_owned(), 20),
        ]);
        let mut keys = vec!["a", "b", "c", "new"];
        longest_first(&mut keys, |k| k, &durations);
        assert_eq!(keys, ["new", "b", "c", "a"]);
    }
}
