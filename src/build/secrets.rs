//! A step's build secrets, read when it is built: from the environment or a file, into
//! memory only, for the BuildKit session to give the build.

use std::collections::HashMap;

use crate::docker::SecretValues;
use crate::model::{Secret, SecretSource};

use super::analysis::Analysis;
use super::error::BuildError;

/// The values of the step's build secrets, read now: a variable that is not set or a
/// file that cannot be read fails the step, naming the secret.
pub fn values(analysis: &Analysis) -> Result<SecretValues, BuildError> {
    let mut values = HashMap::new();
    for secret in &analysis.secrets {
        let Secret { id, source } = secret;
        let value = match source {
            SecretSource::Env(var) => match std::env::var_os(var) {
                Some(value) => value.into_encoded_bytes(),
                None => {
                    return Err(BuildError::SecretUnset {
                        step: analysis.step.clone(),
                        id: id.value.clone(),
                        var: var.clone(),
                    });
                }
            },
            SecretSource::File(path) => {
                std::fs::read(path).map_err(|source| BuildError::SecretUnreadable {
                    step: analysis.step.clone(),
                    id: id.value.clone(),
                    path: path.clone(),
                    source,
                })?
            }
        };
        values.insert(id.value.clone(), value);
    }
    Ok(SecretValues::new(values))
}
