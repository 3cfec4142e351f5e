//! How an entity's run is classified.

use serde::{Deserialize, Serialize};

use crate::model::Outcome;

/// The class of one entity's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultClass {
    /// The exit code is one of the check's success codes.
    Success,
    /// The exit code is one of the check's inaccurate codes: it ran, the result is off.
    Inaccurate,
    /// Any other exit code, or none.
    ScriptError,
    /// Killed at the check's timeout.
    Timeout,
}

impl ResultClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultClass::Success => "success",
            ResultClass::Inaccurate => "inaccurate",
            ResultClass::ScriptError => "script-error",
            ResultClass::Timeout => "timeout",
        }
    }

    /// A script error or a timeout (inaccurate is the caller's choice).
    pub fn is_failure(self) -> bool {
        matches!(self, ResultClass::ScriptError | ResultClass::Timeout)
    }
}

impl std::fmt::Display for ResultClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies a run: timed out, else by exit code; a code outside 0–255 or none is a
/// script error (never wrapped: 256 is not 0).
pub fn classify(outcome: &Outcome, exit_code: Option<i64>, timed_out: bool) -> ResultClass {
    if timed_out {
        return ResultClass::Timeout;
    }
    let Some(code) = exit_code.and_then(|c| u8::try_from(c).ok()) else {
        return ResultClass::ScriptError;
    };
    if outcome.success.contains(&code) {
        ResultClass::Success
    } else if outcome.inaccurate.contains(&code) {
        ResultClass::Inaccurate
    } else {
        ResultClass::ScriptError
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_map_to_classes_without_wrapping() {
        let outcome = Outcome {
            success: vec![0],
            inaccurate: vec![2],
        };
        assert_eq!(classify(&outcome, Some(0), false), ResultClass::Success);
        assert_eq!(classify(&outcome, Some(2), false), ResultClass::Inaccurate);
        assert_eq!(classify(&outcome, Some(1), false), ResultClass::ScriptError);
        assert_eq!(
            classify(&outcome, Some(256), false),
            ResultClass::ScriptError
        );
        assert_eq!(
            classify(&outcome, Some(-1), false),
            ResultClass::ScriptError
        );
        assert_eq!(classify(&outcome, None, false), ResultClass::ScriptError);
        assert_eq!(classify(&outcome, Some(0), true), ResultClass::Timeout);
        assert_eq!(ResultClass::ScriptError.to_string(), "script-error");
        assert!(ResultClass::Timeout.is_failure() && !ResultClass::Inaccurate.is_failure());
    }
}
