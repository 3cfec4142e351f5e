//! `kiln export`: builds (or finds) the release image of each selected flavor and writes
//! it as `<flavor>-<step>_<hash>.tar.gz` with a `sha256sum`-style `.sha256` file beside it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::CliError;
use super::build::{self, BuildArgs, Console};
use crate::build::BuildError;
use crate::docker::{Daemon, split_reference};
use crate::hash::HashingWriter;
use crate::model::Workspace;
use crate::plan;

/// Where exports go when `--output` is not given, relative to the workspace root.
pub const DEFAULT_EXPORT_DIR: &str = ".kiln/export";

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// Folder to write the archives to (default: .kiln/export in the workspace)
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
}

/// One written archive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    pub node: String,
    pub image: String,
    pub archive: PathBuf,
    pub sha256: String,
}

pub async fn run(
    workspace: Workspace,
    args: &ExportArgs,
    console: Console,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut build_args = args.build.clone();
    // Without --goal: the `release` goal (or step) of every selected flavor that has one.
    if build_args.select.goals.is_empty() {
        build_args.select.goals = vec!["release".to_owned()];
        if build_args.select.flavors.is_empty() {
            build_args.select.flavors = vec!["*".to_owned()];
        }
    }
    let selection = build_args.select.selection();
    let targets: Vec<String> = plan::targets(&workspace, &selection)?
        .into_iter()
        .flat_map(|(flavor, steps)| {
            steps
                .into_iter()
                .map(move |s| format!("{}/{s}", flavor.name.value))
        })
        .collect();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| workspace.root.join(DEFAULT_EXPORT_DIR));
    let graph = plan::build_graph(&workspace, &selection)?;
    let report = build::execute(workspace, &graph, &build_args, "export", console).await?;
    let daemon = Daemon::connect().await.map_err(BuildError::from)?;
    std::fs::create_dir_all(&output)?;
    for node in targets {
        let image = report
            .iter()
            .filter_map(|n| n.output())
            .find(|o| format!("{}/{}", o.analysis.flavor, o.analysis.step) == node)
            .map(|o| o.analysis.image.clone())
            .ok_or_else(|| CliError::Internal(format!("{node} succeeded without an image")))?;
        let exported = export(&daemon, &node, &image, &output).await?;
        if build_args.json {
            let line =
                serde_json::to_string(&exported).map_err(|e| CliError::Internal(e.to_string()))?;
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{}  {}", exported.sha256, exported.archive.display())?;
        }
    }
    Ok(())
}

/// Writes `image` to `<dir>/<tag>.tar.gz` (via a temporary name) and its checksum file.
async fn export(
    daemon: &Daemon,
    node: &str,
    image: &str,
    dir: &Path,
) -> Result<Exported, CliError> {
    let (_, tag) = split_reference(image);
    let name = format!("{tag}.tar.gz");
    let archive = dir.join(&name);
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = async {
        let file = File::create(&temp)?;
        let mut gzip = GzEncoder::new(
            HashingWriter::new(BufWriter::new(file)),
            Compression::fast(),
        );
        daemon
            .export(image, &mut gzip)
            .await
            .map_err(BuildError::from)?;
        let (file, sha256) = gzip.finish()?.finish()?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, &archive)?;
        std::fs::write(
            dir.join(format!("{name}.sha256")),
            format!("{sha256}  {name}\n"),
        )?;
        Ok::<_, CliError>(sha256)
    }
    .await;
    match result {
        Ok(sha256) => Ok(Exported {
            node: node.to_owned(),
            image: image.to_owned(),
            archive,
            sha256,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}
