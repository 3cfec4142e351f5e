//! Analysis of a step: what goes into its image (the context, the Dockerfile, the args,
//! the dependencies' hashes) and therefore its hash and image name. Needs no daemon.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::hash::{self, Context, ContextSpec, Manifest, StepInputs};
use crate::model::{ArgValue, Secret, Step, Workspace};

use super::bases::Bases;
use super::build_info::{self, BuildInfo};
use super::error::BuildError;
use super::naming::image_name;

/// Everything known about a step before getting its image.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub flavor: String,
    pub step: String,
    pub hash: String,
    /// Local image name, `<repository>:<flavor>-<step>_<hash prefix>`.
    pub image: String,
    pub manifest: Manifest,
    pub context: Arc<Context>,
    /// The Dockerfile template as written.
    pub dockerfile: String,
    /// Build args passed to the daemon: image-changing and transparent ones.
    pub build_args: Vec<(String, String)>,
    /// The `/build_info` files of a flavor with `build-info #true`: hashed with the
    /// context, sent besides it.
    pub build_info: Option<BuildInfo>,
    /// The step's build secrets: where their values come from, read only when the
    /// step is built.
    pub secrets: Vec<Secret>,
}

/// Analyses `step` of `flavor` in `workspace`, given the hash of each step it needs (by
/// step name) and the identities of external base images (`bases`: those it lacks
/// hash as not in the daemon). Everything the workspace decides about the hash — its repository, its
/// folders left out of contexts, the flavor's `build-info` — is read here, so a build,
/// `kiln explain`, `kiln gc` and watch mode hash a step alike.
pub fn analyze(
    workspace: &Workspace,
    flavor: &str,
    step: &Step,
    dependencies: &[(String, String)],
    bases: &Bases,
    cancel: &CancellationToken,
) -> Result<Analysis, BuildError> {
    let repository = workspace.settings.repository.as_str();
    let with_build_info = workspace.build_info(flavor);
    let spec = ContextSpec::for_step(step, workspace.settings.own_dirs());
    let context = hash::collect_until(&spec, cancel)?;
    let dockerfile = read(&step.dockerfile.value)?;
    let mut hashed_args = Vec::new();
    let mut build_args = Vec::new();
    for arg in &step.args {
        let value = match &arg.value {
            ArgValue::Literal(value) => Some(value.clone()),
            ArgValue::Env { var, default } => std::env::var(var).ok().or_else(|| default.clone()),
        };
        match (value, arg.transparent) {
            (Some(value), transparent) => {
                if !transparent {
                    hashed_args.push((arg.name.value.clone(), value.clone()));
                }
                build_args.push((arg.name.value.clone(), value));
            }
            // An unset transparent arg (a proxy nobody configured) is simply not passed.
            (None, true) => {}
            (None, false) => {
                let ArgValue::Env { var, .. } = &arg.value else {
                    unreachable!("literals have values")
                };
                return Err(BuildError::UnsetVariable {
                    step: step.name.value.clone(),
                    arg: arg.name.value.clone(),
                    var: var.clone(),
                });
            }
        }
    }
    let build_info = if with_build_info {
        let images: Vec<(String, String)> = dependencies
            .iter()
            .map(|(need, hash)| (need.clone(), image_name(repository, flavor, need, hash)))
            .collect();
        let inputs = build_info::Inputs {
            flavor,
            step: &step.name.value,
            description: step.description.as_deref(),
            template: &dockerfile,
            images: &images,
            args: &hashed_args,
        };
        Some(BuildInfo::new(
            &inputs,
            &step.dockerfile.value.display().to_string(),
        )?)
    } else {
        None
    };
    // The generated files are inputs like the context's own.
    let with_generated;
    let hashed = match &build_info {
        Some(info) => {
            let mut files = context.files.clone();
            files.extend(info.hashed());
            files.sort_by(|a, b| a.path.cmp(&b.path));
            with_generated = Context { files };
            &with_generated
        }
        None => &context,
    };
    let manifest = hash::step_hash(&StepInputs {
        bases: bases.of(step, &dockerfile),
        dockerfile: dockerfile.as_bytes(),
        args: hashed_args,
        dependencies: dependencies.to_vec(),
        context: hashed,
    });
    Ok(Analysis {
        flavor: flavor.to_owned(),
        step: step.name.value.clone(),
        image: image_name(repository, flavor, &step.name.value, &manifest.hash),
        hash: manifest.hash.clone(),
        manifest,
        context: Arc::new(context),
        dockerfile,
        build_args,
        build_info,
        secrets: step.secrets.clone(),
    })
}

fn read(path: &Path) -> Result<String, BuildError> {
    std::fs::read_to_string(path).map_err(|e| BuildError::Io {
        path: path.display().to_string(),
        source: e,
    })
}
