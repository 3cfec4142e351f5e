//! Exporting an image as `<dir>/<tag>.tar.gz` (a gzipped `docker save`) with a
//! `sha256sum`-style `.sha256` file beside it, written via a temporary name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::cache::TempFile;
use crate::docker::{Daemon, split_reference};
use crate::hash::HashingWriter;
use crate::model::StepId;

use super::error::BuildError;

/// One written archive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    pub step: StepId,
    pub image: String,
    pub archive: PathBuf,
    pub sha256: String,
}

/// Writes `image` to `<dir>/<tag>.tar.gz` (via a temporary name) and its checksum file.
pub async fn export(
    daemon: &Daemon,
    step: &StepId,
    image: &str,
    dir: &Path,
) -> Result<Exported, BuildError> {
    let (_, tag) = split_reference(image);
    let name = format!("{tag}.tar.gz");
    let archive = dir.join(&name);
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // Removes the temporary file on every way out, a dropped (interrupted) export too.
    let guard = TempFile::new(temp.clone());
    let io = |e: std::io::Error| BuildError::Io {
        path: archive.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = File::create(&temp).map_err(io)?;
    let mut gzip = GzEncoder::new(
        HashingWriter::new(BufWriter::new(file)),
        Compression::fast(),
    );
    daemon.export(image, &mut gzip).await?;
    let (file, sha256) = gzip.finish().and_then(HashingWriter::finish).map_err(io)?;
    file.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&temp, &archive).map_err(io)?;
    guard.keep();
    std::fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{sha256}  {name}\n"),
    )
    .map_err(io)?;
    Ok(Exported {
        step: step.clone(),
        image: image.to_owned(),
        archive,
        sha256,
    })
}
