//! What a node's row in the summary says happened to it: one enum for the whole run —
//! an image's tier, a step left in its tier, an entity's class, a planned entity's
//! result source, work done, and the ways a node does not finish. The exit code, the
//! console's table and totals, the reports and `kiln plan` read it; summaries, `--json`
//! and `kiln plan --json` write it as the words they always wrote (`built`, `file`,
//! `script-error`, `cancelled` …).
//!
//! Every question asked of an outcome is an exhaustive `match` here: a new tier, class
//! or result source does not compile until each of them says where it belongs.

use serde::Serialize;

use crate::build::{Image, Source};
use crate::cache::{ImageTier, ResultSource};
use crate::check::outcome::ResultClass;
use crate::docker::Backend;

/// What happened to one node of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// No end of the node was heard (a row is made on its first event): written as an
    /// empty string, as summaries always wrote it.
    #[default]
    Pending,
    /// A step's image came (for `kiln plan`: would come) from this tier, or was built.
    Image(Source),
    /// `--shortcut` left a step's image in the file cache or the registry.
    Shortcut,
    /// An entity ran, or the result cache answered: its class.
    Entity(ResultClass),
    /// `kiln plan --checks`: where an entity's result would come from.
    Planned(ResultSource),
    /// Other work (a task, a check's discovery and record) finished.
    Done,
    /// A clean-up that left images.
    Incomplete,
    Failed,
    /// Not run: a dependency failed, or a stop.
    Skipped,
    Cancelled,
}

impl Outcome {
    /// An image a run got, or a plan located.
    pub fn of_image(image: &Image) -> Self {
        if image.deferred.is_some() {
            Self::Shortcut
        } else {
            Self::Image(image.tier)
        }
    }

    /// As summaries, `--json`, reports and the console write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "",
            Self::Image(source) => source.as_str(),
            Self::Shortcut => "shortcut",
            Self::Entity(class) => class.as_str(),
            Self::Planned(source) => source.as_str(),
            Self::Done => "done",
            Self::Incomplete => "incomplete",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// The node did not finish: failed, skipped or cancelled.
    pub fn not_done(self) -> bool {
        match self {
            Self::Failed | Self::Skipped | Self::Cancelled => true,
            Self::Pending
            | Self::Image(_)
            | Self::Shortcut
            | Self::Entity(_)
            | Self::Planned(_)
            | Self::Done
            | Self::Incomplete => false,
        }
    }

    /// A step's image that is now in the daemon: where it came from (a shortcut left
    /// its image elsewhere).
    pub fn image(self) -> Option<Source> {
        match self {
            Self::Image(source) => Some(source),
            _ => None,
        }
    }

    /// A step's image was built.
    pub fn built(self) -> bool {
        self == Self::Image(Source::Built)
    }

    /// A step's image was loaded from the file cache or pulled from the registry.
    pub fn loaded(self) -> bool {
        self.image()
            .and_then(Source::tier)
            .is_some_and(|tier| tier.moves())
    }

    /// Nothing had to be done for a step's image: the daemon had it, or `--shortcut`
    /// left it where it was.
    pub fn unchanged(self) -> bool {
        self == Self::Image(Source::DAEMON) || self == Self::Shortcut
    }

    /// Where the totals line of a run's table puts this outcome: images by the work
    /// they took (built, from the daemon, from files, from the registry, left in their
    /// tier), then other work, then what did not finish. `None`: not in the totals —
    /// entities have lines of their own, a plan's entities no table, and a row with no
    /// end has nothing to count.
    fn rank(self) -> Option<(u8, Option<ImageTier>)> {
        match self {
            Self::Image(Source::Built) => Some((0, None)),
            // The tiers in the order of `ImageTier`.
            Self::Image(Source::Tier(tier)) => Some((1, Some(tier))),
            Self::Shortcut => Some((2, None)),
            Self::Done => Some((3, None)),
            Self::Incomplete => Some((4, None)),
            Self::Failed => Some((5, None)),
            Self::Skipped => Some((6, None)),
            Self::Cancelled => Some((7, None)),
            Self::Pending | Self::Entity(_) | Self::Planned(_) => None,
        }
    }

    /// How many of `outcomes` there are of each outcome the totals count, in the
    /// totals' order (see [`Outcome::rank`]); outcomes with none are left out.
    pub fn tally(outcomes: impl IntoIterator<Item = Outcome>) -> Vec<(Outcome, usize)> {
        let mut tally: Vec<((u8, Option<ImageTier>), Outcome, usize)> = Vec::new();
        for outcome in outcomes {
            let Some(rank) = outcome.rank() else {
                continue;
            };
            match tally.iter_mut().find(|(_, o, _)| *o == outcome) {
                Some((_, _, n)) => *n += 1,
                None => tally.push((rank, outcome, 1)),
            }
        }
        tally.sort_by_key(|(rank, _, _)| *rank);
        tally.into_iter().map(|(_, o, n)| (o, n)).collect()
    }

    /// The words after a count in the totals line (`3 from the daemon`); `builder`
    /// built what the run built.
    pub fn total_label(self, builder: Option<Backend>) -> &'static str {
        match self {
            Self::Image(Source::Built) => match builder {
                Some(Backend::BuildKit) => "built by BuildKit",
                Some(Backend::Classic) => "built by the classic builder",
                None => "built",
            },
            Self::Image(Source::Tier(tier)) => tier.total_label(),
            Self::Shortcut => "left in their tier (--shortcut)",
            Self::Pending
            | Self::Entity(_)
            | Self::Planned(_)
            | Self::Done
            | Self::Incomplete
            | Self::Failed
            | Self::Skipped
            | Self::Cancelled => self.as_str(),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every outcome, with the word summaries, `--json` and the reports wrote for it
    /// before it was an enum.
    const WORDS: [(Outcome, &str); 18] = [
        (Outcome::Pending, ""),
        (Outcome::Image(Source::DAEMON), "daemon"),
        (Outcome::Image(Source::FILE), "file"),
        (Outcome::Image(Source::REGISTRY), "registry"),
        (Outcome::Image(Source::Built), "built"),
        (Outcome::Shortcut, "shortcut"),
        (Outcome::Entity(ResultClass::Success), "success"),
        (Outcome::Entity(ResultClass::Inaccurate), "inaccurate"),
        (Outcome::Entity(ResultClass::ScriptError), "script-error"),
        (Outcome::Entity(ResultClass::Timeout), "timeout"),
        (Outcome::Planned(ResultSource::Cache), "cache"),
        (Outcome::Planned(ResultSource::Registry), "registry"),
        (Outcome::Planned(ResultSource::Run), "run"),
        (Outcome::Done, "done"),
        (Outcome::Incomplete, "incomplete"),
        (Outcome::Failed, "failed"),
        (Outcome::Skipped, "skipped"),
        (Outcome::Cancelled, "cancelled"),
    ];

    #[test]
    fn every_outcome_is_written_as_the_word_it_always_was() {
        for (outcome, word) in WORDS {
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::Value::String(word.to_owned()),
                "{outcome:?}"
            );
            assert_eq!(outcome.to_string(), word, "{outcome:?}");
        }
        // The words of the types inside are theirs, serialised alike.
        for (outcome, word) in WORDS {
            let inner = match outcome {
                Outcome::Image(source) => serde_json::to_value(source).unwrap(),
                Outcome::Entity(class) => serde_json::to_value(class).unwrap(),
                Outcome::Planned(source) => serde_json::to_value(source).unwrap(),
                _ => continue,
            };
            assert_eq!(inner, serde_json::Value::String(word.to_owned()));
        }
    }

    #[test]
    fn only_failed_skipped_and_cancelled_are_not_done() {
        let not_done: Vec<&str> = WORDS
            .iter()
            .filter(|(o, _)| o.not_done())
            .map(|(_, w)| *w)
            .collect();
        assert_eq!(not_done, ["failed", "skipped", "cancelled"]);
    }

    #[test]
    fn images_are_built_loaded_or_unchanged() {
        let words = |pick: fn(Outcome) -> bool| -> Vec<&str> {
            WORDS
                .iter()
                .filter(|(o, _)| pick(*o))
                .map(|(_, w)| *w)
                .collect()
        };
        assert_eq!(words(Outcome::built), ["built"]);
        assert_eq!(words(Outcome::loaded), ["file", "registry"]);
        assert_eq!(words(Outcome::unchanged), ["daemon", "shortcut"]);
    }

    #[test]
    fn totals_list_images_then_work_then_what_did_not_finish() {
        // Every outcome twice, in reverse: the tally puts them in the totals' order.
        let all = WORDS.iter().rev().flat_map(|(o, _)| [*o, *o]);
        let tally: Vec<(&str, usize)> = Outcome::tally(all)
            .into_iter()
            .map(|(o, n)| (o.as_str(), n))
            .collect();
        assert_eq!(
            tally,
            [
                ("built", 2),
                ("daemon", 2),
                ("file", 2),
                ("registry", 2),
                ("shortcut", 2),
                ("done", 2),
                ("incomplete", 2),
                ("failed", 2),
                ("skipped", 2),
                ("cancelled", 2),
            ],
            "a planned entity from the registry is not an image from the registry"
        );
        let labels: Vec<&str> = WORDS
            .iter()
            .map(|(o, _)| o.total_label(None))
            .filter(|l| l.contains(' '))
            .collect();
        assert_eq!(
            labels,
            [
                "from the daemon",
                "from files",
                "from the registry",
                "left in their tier (--shortcut)"
            ]
        );
        let built = Outcome::Image(Source::Built);
        assert_eq!(built.total_label(None), "built");
        assert_eq!(
            built.total_label(Some(Backend::BuildKit)),
            "built by BuildKit"
        );
        assert_eq!(
            built.total_label(Some(Backend::Classic)),
            "built by the classic builder"
        );
    }
}
