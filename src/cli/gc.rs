//! `kiln gc`: removes what the workspace no longer needs, within a budget (src/gc/).

use std::io::Write;

use bytesize::ByteSize;
use clap::Args;

use super::error::CliError;
use crate::docker::Daemon;
use crate::gc::{Budget, DEFAULT_KEEP, collect};
use crate::model::Workspace;

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The most the file cache may hold: bytes, or with a unit (500MB, 5GB, 2GiB); the
    /// oldest tarballs go, never a step's newest (default: kiln.kdl's `gc max-size`)
    #[arg(long, value_name = "SIZE", value_parser = super::values::size)]
    pub max_size: Option<u64>,
    /// How many job records and results-history files stay (default: kiln.kdl's `gc
    /// keep`, else 20)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: Option<u64>,
    /// List what would go and how much it frees, removing nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Leave the daemon's images alone (files only; no daemon needed)
    #[arg(long)]
    pub no_images: bool,
}

pub async fn run(
    workspace: Workspace,
    args: &GcArgs,
    quiet: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let budget = Budget {
        max_size: args.max_size.or(workspace.settings.gc_max_size),
        keep: args
            .keep
            .map(|k| k as usize)
            .or(workspace.settings.gc_keep)
            .unwrap_or(DEFAULT_KEEP),
    };
    let daemon = if args.no_images {
        None
    } else {
        Some(
            Daemon::connect()
                .await
                .map_err(crate::build::BuildError::from)?,
        )
    };
    let collected = collect(&workspace, daemon.as_ref(), budget, args.dry_run)
        .await
        .map_err(CliError::from)?;
    if quiet {
        return Ok(());
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for removal in &collected.removed {
        writeln!(
            out,
            "{verb} {} {} ({})",
            removal.kind,
            removal.what,
            ByteSize::b(removal.bytes).display().si()
        )?;
    }
    for kept in &collected.kept {
        writeln!(out, "kept {kept}")?;
    }
    writeln!(
        out,
        "{} {} item{}, {} freed; the file cache holds {}",
        if args.dry_run {
            "would remove"
        } else {
            "removed"
        },
        collected.removed.len(),
        if collected.removed.len() == 1 {
            ""
        } else {
            "s"
        },
        ByteSize::b(collected.freed()).display().si(),
        ByteSize::b(collected.file_cache_bytes).display().si()
    )?;
    Ok(())
}
