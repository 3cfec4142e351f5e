//! The watch loop's decisions, apart from the files and the daemon: what to do with
//! the workspace as it loads now, and whether a change supersedes a running cycle. (A
//! configuration that does not load decides itself: watch says why and waits.)

use super::{State, changed};

/// What a look at the workspace leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Every hash is what the last finished cycle saw: run nothing.
    NothingChanged,
    /// Run a cycle; `changed` names the steps and entities whose hash changed (none
    /// for the first cycle, or after a cycle that did not finish).
    Run { changed: Vec<String> },
}

/// `now` is the state of the workspace as it loads now, `last` that of the last cycle
/// that finished.
pub fn decide(now: &State, last: Option<&State>) -> Decision {
    match last.map(|last| changed(last, now)) {
        Some(ids) if ids.is_empty() => Decision::NothingChanged,
        ids => Decision::Run {
            changed: ids.unwrap_or_default(),
        },
    }
}

/// Whether a change seen while a cycle runs cancels it: the content differs from what
/// the cycle started with, or the configuration no longer loads. A check writing a new
/// folder for its artifacts changes no hash and does not.
pub fn supersedes(started: &State, now: Option<&State>) -> bool {
    now.is_none_or(|now| !changed(started, now).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> State {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_first_look_runs_and_names_nothing() {
        assert_eq!(
            decide(&state(&[("f/a", "1")]), None),
            Decision::Run { changed: vec![] }
        );
    }

    #[test]
    fn only_a_changed_hash_runs_a_cycle() {
        let last = state(&[("f/a", "1"), ("f/c/e1", "2")]);
        assert_eq!(decide(&last, Some(&last)), Decision::NothingChanged);
        let now = state(&[("f/a", "1"), ("f/c/e1", "3"), ("f/c/e2", "4")]);
        assert_eq!(
            decide(&now, Some(&last)),
            Decision::Run {
                changed: vec!["f/c/e1".to_owned(), "f/c/e2".to_owned()]
            }
        );
    }

    #[test]
    fn a_run_is_superseded_by_content_or_a_broken_configuration() {
        let started = state(&[("f/a", "1")]);
        assert!(!supersedes(&started, Some(&started)));
        assert!(supersedes(&started, Some(&state(&[("f/a", "2")]))));
        assert!(supersedes(&started, None));
    }
}
