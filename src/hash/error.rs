//! Everything that can go wrong collecting, hashing or sending a build context. Every
//! error names the host path it is about.

use std::io;
use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum HashError {
    #[error("hashing was cancelled")]
    #[diagnostic(code(kiln::hash::cancelled))]
    Cancelled,

    #[error("build context `{}` is not a folder", path.display())]
    #[diagnostic(
        code(kiln::hash::context_missing),
        help(
            "the step's context must be an existing folder (default: the step's name next to flavor.kdl)"
        )
    )]
    ContextMissing { path: PathBuf },

    #[error("cannot read `{}`: {source}", path.display())]
    #[diagnostic(
        code(kiln::hash::read),
        help(
            "check that the path exists and that you may read it; if it is not needed in the image, add it to the step's `ignore`"
        )
    )]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("included path `{}` does not exist", path.display())]
    #[diagnostic(
        code(kiln::hash::include_missing),
        help("an `include` must name an existing file or folder on the host")
    )]
    IncludeMissing { path: PathBuf },

    #[error("include target `{target}` is not a plain relative path")]
    #[diagnostic(
        code(kiln::hash::include_target),
        help(
            "`as` is a relative path inside the build context without `.` or `..`, e.g. as=\"tools/busybox\""
        )
    )]
    IncludeTarget { target: String },

    #[error("`{path}` comes from two includes: `{}` and `{}`", first.display(), second.display())]
    #[diagnostic(
        code(kiln::hash::include_collision),
        help(
            "an include replaces a file of the context folder, but two includes may not provide the same path; change one `as`"
        )
    )]
    IncludeCollision {
        path: String,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("`{file}` is a file, but `{inside}` needs it to be a folder")]
    #[diagnostic(
        code(kiln::hash::path_conflict),
        help(
            "the context folder and the includes disagree on whether `{file}` is a file or a folder; change an include's `as`"
        )
    )]
    PathConflict { file: String, inside: String },

    #[error("symlink `{}` points to `{}`, which is outside `{}` (it resolves to `{}`)", link.display(), target.display(), root.display(), resolved.display())]
    #[diagnostic(
        code(kiln::hash::symlink_outside),
        help(
            "kiln follows symlinks only while they stay inside the context (or the included folder); copy the target in, or add it with `include`"
        )
    )]
    SymlinkOutside {
        link: PathBuf,
        /// The target as the symlink states it.
        target: PathBuf,
        /// The target with every symlink resolved.
        resolved: PathBuf,
        root: PathBuf,
    },

    #[error("symlink `{}` points to `{}`, which does not exist", link.display(), target.display())]
    #[diagnostic(
        code(kiln::hash::symlink_dangling),
        help("remove the symlink, fix its target, or add it to the step's `ignore`")
    )]
    SymlinkDangling { link: PathBuf, target: PathBuf },

    #[error("symlink `{}` leads into a loop", link.display())]
    #[diagnostic(
        code(kiln::hash::symlink_loop),
        help(
            "the symlink points (perhaps through others) to itself or to a folder containing it; remove it or add it to the step's `ignore`"
        )
    )]
    SymlinkLoop { link: PathBuf },

    #[error("`{}` is a {kind}, not a file or folder", path.display())]
    #[diagnostic(
        code(kiln::hash::file_type),
        help(
            "a build context holds files and folders only; add it to the step's `ignore` or to .dockerignore"
        )
    )]
    FileType { path: PathBuf, kind: &'static str },

    #[error("the name of `{}` is not valid UTF-8", path.display())]
    #[diagnostic(
        code(kiln::hash::file_name),
        help("kiln hashes paths as UTF-8 text; rename the file or add it to the step's `ignore`")
    )]
    FileName { path: PathBuf },

    #[error("invalid ignore glob `{glob}`: {}", source.kind())]
    #[diagnostic(
        code(kiln::hash::ignore_glob),
        help(
            "globs use `*`, `**`, `?`, `[abc]` and `{{a,b}}`; a glob without `/` matches a name in any folder"
        )
    )]
    IgnoreGlob {
        glob: String,
        #[source]
        source: globset::Error,
    },

    /// A step glob that is valid syntax, but not something a step's `ignore` may say.
    #[error("invalid ignore glob `{glob}`: {problem}")]
    #[diagnostic(
        code(kiln::hash::ignore_glob),
        help(
            "globs use `*`, `**`, `?`, `[abc]` and `{{a,b}}`; a glob without `/` matches a name in any folder"
        )
    )]
    IgnoreGlobRejected { glob: String, problem: &'static str },

    #[error("invalid pattern `{pattern}` in `{}` line {line}: {}", path.display(), source.kind())]
    #[diagnostic(
        code(kiln::hash::dockerignore),
        help(
            "a .dockerignore holds one pattern per line (`*`, `**`, `?`, `[abc]`), `#` comments and `!` exceptions"
        )
    )]
    Dockerignore {
        path: PathBuf,
        line: usize,
        pattern: String,
        /// Boxed: the variant would make every `HashError` (and what wraps one) larger.
        #[source]
        source: Box<globset::Error>,
    },

    #[error("`{}` changed after it was hashed (context path `{path}`)", source_path.display())]
    #[diagnostic(
        code(kiln::hash::changed),
        help(
            "a file of the build context was modified while kiln was building; run the build again"
        )
    )]
    Changed { path: String, source_path: PathBuf },

    #[error("invalid path `{path}` for the build context tar: {reason}")]
    #[diagnostic(
        code(kiln::hash::tar_path),
        help(
            "paths in the build context are relative, `/`-separated, without `.`, `..` or empty parts, and unique"
        )
    )]
    TarPath { path: String, reason: &'static str },
}

impl HashError {
    pub(crate) fn read(path: impl Into<PathBuf>, source: io::Error) -> Self {
        HashError::Read {
            path: path.into(),
            source,
        }
    }

    /// This error as an [`io::Error`] (for [`write_tar`](super::write_tar)); the
    /// `HashError` can be recovered with `get_ref()` / `into_inner()` and `downcast`.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match &self {
            HashError::Read { source, .. } => source.kind(),
            HashError::TarPath { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}
