//! Names of the things a run works on: a step of a flavor, a check of a flavor, one
//! entity of a check. Each shows (and serializes) as the slash-joined path users see —
//! `slc/release`, `checkenv/entities`, `checkenv/entities/hello` — and compares by its
//! parts, so no code builds or parses those strings itself.

use std::fmt;

use serde::{Serialize, Serializer};

/// A step of a flavor: `flavor/step`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId {
    pub flavor: String,
    pub step: String,
}

impl StepId {
    pub fn new(flavor: impl Into<String>, step: impl Into<String>) -> Self {
        Self {
            flavor: flavor.into(),
            step: step.into(),
        }
    }

    /// `<flavor>-<step>`: the stem of the step's files in a job record.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.flavor, self.step)
    }
}

/// A check of a flavor: `flavor/check`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId {
    pub flavor: String,
    pub check: String,
}

impl CheckId {
    pub fn new(flavor: impl Into<String>, check: impl Into<String>) -> Self {
        Self {
            flavor: flavor.into(),
            check: check.into(),
        }
    }

    /// `<flavor>-<check>`: the stem of the check's files in a job record.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.flavor, self.check)
    }
}

/// One entity of a check: `flavor/check/key`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityId {
    pub check: CheckId,
    pub key: String,
}

impl EntityId {
    pub fn new(check: CheckId, key: impl Into<String>) -> Self {
        Self {
            check,
            key: key.into(),
        }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.flavor, self.step)
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.flavor, self.check)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.check, self.key)
    }
}

/// Each id serializes as the text it displays.
macro_rules! serialize_as_display {
    ($($id:ty),*) => {$(
        impl Serialize for $id {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}

serialize_as_display!(StepId, CheckId, EntityId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_show_as_paths_and_order_by_their_parts() {
        let check = CheckId::new("env", "models");
        let entity = EntityId::new(check.clone(), "lorenz");
        assert_eq!(entity.to_string(), "env/models/lorenz");
        assert_eq!(
            serde_json::to_string(&entity).unwrap(),
            "\"env/models/lorenz\""
        );
        assert_eq!(StepId::new("slc", "release").stem(), "slc-release");
        // By parts, not by text: "a-b/c" would sort after "a/z" as a string.
        assert!(StepId::new("a", "z") < StepId::new("a-b", "c"));
        assert_eq!(check.stem(), "env-models");
    }
}
