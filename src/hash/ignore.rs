//! Which files are left out of the build context: the step's `ignore` globs and the
//! context folder's `.dockerignore`.
//!
//! * A step glob without `/` matches a name in any folder (`*.tmp` matches `x.tmp` and
//!   `a/b/x.tmp`), like a `.gitignore` line; a glob with `/` is anchored at the context
//!   root (a leading `/` is dropped). Step globs apply to every path of the context,
//!   includes too, and have no exceptions: what they match is always left out.
//! * `.dockerignore` follows Docker: one pattern per line, `#` comments, `!` exceptions,
//!   the last matching line wins, a leading `/` is dropped, patterns are anchored at the
//!   root, `**` matches any number of folders, `{` and `}` are plain characters. It
//!   applies to the files of the context folder only, not to includes.
//! * A pattern that matches a folder leaves out everything below it (unless a later
//!   `!` exception of the `.dockerignore` matches the file or a folder nearer to it).

use std::path::Path;

use globset::{Candidate, Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::error::HashError;
use super::relpath::parents;

/// Where a path of the context comes from; `.dockerignore` applies to the context
/// folder only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Context,
    Include,
}

/// The compiled ignore rules of one step.
#[derive(Debug)]
pub(crate) struct IgnoreRules {
    step: GlobSet,
    docker: Option<DockerIgnore>,
}

#[derive(Debug)]
struct DockerIgnore {
    set: GlobSet,
    /// Per pattern of `set`: is it a `!` exception?
    exception: Vec<bool>,
    /// The literal start (before any glob character) of each exception pattern; a
    /// left-out folder is walked only if an exception could match below it.
    exception_prefixes: Vec<String>,
}

/// One `.dockerignore` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DockerPattern {
    pub line: usize,
    pub pattern: String,
    pub exception: bool,
}

impl IgnoreRules {
    /// Compiles the step's globs and the text of the `.dockerignore` at `dockerignore`
    /// (if there is one).
    pub(crate) fn new(
        step_globs: &[String],
        dockerignore: Option<(&Path, &str)>,
    ) -> Result<Self, HashError> {
        let mut step = GlobSetBuilder::new();
        for glob in step_globs {
            step.add(step_glob(glob)?);
        }
        let step = step.build().map_err(|source| HashError::IgnoreGlob {
            glob: step_globs.join(" "),
            source,
        })?;
        let docker = match dockerignore {
            Some((path, text)) => DockerIgnore::new(path, text)?,
            None => None,
        };
        Ok(IgnoreRules { step, docker })
    }

    /// Is `path` (inside the context) left out?
    pub(crate) fn excluded(&self, path: &str, scope: Scope) -> bool {
        let candidates: Vec<Candidate> = parents(path)
            .chain(std::iter::once(path))
            .map(Candidate::new)
            .collect();
        if candidates.iter().any(|c| self.step.is_match_candidate(c)) {
            return true;
        }
        match (&self.docker, scope) {
            (Some(docker), Scope::Context) => docker.excluded(&candidates),
            _ => false,
        }
    }

    /// Given that folder `dir` is left out: is everything below it left out too, so
    /// that the walk need not enter it?
    pub(crate) fn prunable(&self, dir: &str, scope: Scope) -> bool {
        let step_match = parents(dir)
            .chain(std::iter::once(dir))
            .any(|p| self.step.is_match(p));
        if step_match {
            return true;
        }
        match (&self.docker, scope) {
            (Some(docker), Scope::Context) => {
                let dir = format!("{dir}/");
                !docker
                    .exception_prefixes
                    .iter()
                    .any(|prefix| prefix.starts_with(&dir) || dir.starts_with(prefix.as_str()))
            }
            _ => true,
        }
    }
}

/// A step glob: without `/` it matches in any folder.
fn step_glob(glob: &str) -> Result<Glob, HashError> {
    let rejected = |problem| HashError::IgnoreGlobRejected {
        glob: glob.to_owned(),
        problem,
    };
    if glob.starts_with('!') {
        return Err(rejected(
            "step globs cannot re-include files; put `!` exceptions in .dockerignore",
        ));
    }
    let trimmed = glob.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(rejected("it matches nothing"));
    }
    let pattern = if glob.contains('/') {
        trimmed.to_owned()
    } else {
        format!("**/{trimmed}")
    };
    GlobBuilder::new(&pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|source| HashError::IgnoreGlob {
            glob: glob.to_owned(),
            source,
        })
}

impl DockerIgnore {
    fn new(path: &Path, text: &str) -> Result<Option<Self>, HashError> {
        let patterns = parse_dockerignore(text);
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut set = GlobSetBuilder::new();
        let mut exception = Vec::new();
        let mut exception_prefixes = Vec::new();
        for p in &patterns {
            let glob = GlobBuilder::new(&docker_to_globset(&p.pattern))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|source| HashError::Dockerignore {
                    path: path.to_owned(),
                    line: p.line,
                    pattern: p.pattern.clone(),
                    source: Box::new(source),
                })?;
            set.add(glob);
            exception.push(p.exception);
            if p.exception {
                exception_prefixes.push(literal_prefix(&p.pattern).to_owned());
            }
        }
        let set = set.build().map_err(|source| HashError::Dockerignore {
            path: path.to_owned(),
            line: 0,
            pattern: String::new(),
            source: Box::new(source),
        })?;
        Ok(Some(DockerIgnore {
            set,
            exception,
            exception_prefixes,
        }))
    }

    /// Docker's `MatchesOrParentMatches`: the last pattern matching the path or one of
    /// its folders decides.
    fn excluded(&self, candidates: &[Candidate]) -> bool {
        let last = candidates
            .iter()
            .filter_map(|c| self.set.matches_candidate(c).into_iter().max())
            .max();
        match last {
            Some(i) => !self.exception[i],
            None => false,
        }
    }
}

/// The lines of a `.dockerignore`, as Docker reads them (moby/patternmatcher
/// `ignorefile.ReadAll`): BOM stripped, `#` lines skipped, whitespace trimmed, `!`
/// marks an exception, each pattern cleaned like Go's `filepath.Clean` and a leading
/// `/` dropped. Patterns that can match nothing (`.`, `/`, empty) are left out.
pub(crate) fn parse_dockerignore(text: &str) -> Vec<DockerPattern> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let exception = pattern.starts_with('!');
        if exception {
            pattern = pattern[1..].trim();
        }
        let cleaned = clean(pattern);
        let cleaned = match cleaned.strip_prefix('/') {
            Some(rest) if !rest.is_empty() => rest.to_owned(),
            _ => cleaned,
        };
        if cleaned.is_empty() || cleaned == "." || cleaned == "/" {
            continue;
        }
        out.push(DockerPattern {
            line: i + 1,
            pattern: cleaned,
            exception,
        });
    }
    out
}

/// Go's `filepath.Clean` on a `/`-separated path.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// A Docker pattern in globset syntax: `{` and `}` are literal in Docker.
fn docker_to_globset(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The part of a pattern before its first glob character.
fn literal_prefix(pattern: &str) -> &str {
    let end = pattern
        .find(['*', '?', '[', '\\', '{'])
        .unwrap_or(pattern.len());
    &pattern[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(step: &[&str], docker: &str) -> IgnoreRules {
        let step: Vec<String> = step.iter().map(|s| s.to_string()).collect();
        let docker = (!docker.is_empty()).then_some((Path::new(".dockerignore"), docker));
        IgnoreRules::new(&step, docker).unwrap()
    }

    #[test]
    fn parses_like_docker() {
        let text = "\u{feff}# comment\n  \n*.log\n ! keep.log \n/abs/x/\n./a/../b\n!\n.\n #not a comment\n";
        let got: Vec<(String, bool)> = parse_dockerignore(text)
            .into_iter()
            .map(|p| (p.pattern, p.exception))
            .collect();
        let want = [
            ("*.log", false),
            ("keep.log", true),
            ("abs/x", false),
            ("b", false),
            ("#not a comment", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(p, e)| (p.to_string(), *e)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn step_glob_without_slash_matches_in_any_folder() {
        let r = rules(&["*.tmp", "build/out"], "");
        assert!(r.excluded("x.tmp", Scope::Context));
        assert!(r.excluded("a/b/x.tmp", Scope::Include));
        assert!(r.excluded("build/out", Scope::Context));
        assert!(r.excluded("build/out/deep/file", Scope::Context));
        assert!(!r.excluded("a/build/out", Scope::Context));
        assert!(!r.excluded("x.tmpl", Scope::Context));
        assert!(r.prunable("build/out", Scope::Context));
    }

    #[test]
    fn step_glob_with_double_star() {
        let r = rules(&["**/__pycache__"], "");
        assert!(r.excluded("__pycache__/a.pyc", Scope::Context));
        assert!(r.excluded("pkg/sub/__pycache__/a.pyc", Scope::Context));
        assert!(!r.excluded("pkg/a.py", Scope::Context));
    }

    #[test]
    fn step_glob_rejects_exceptions() {
        let err = IgnoreRules::new(&["!keep".to_owned()], None).unwrap_err();
        assert!(matches!(err, HashError::IgnoreGlobRejected { .. }));
    }

    #[test]
    fn dockerignore_last_match_wins_with_parent_folders() {
        let r = rules(&[], "*\n!src\nsrc/**/*.o\n!src/keep.o\n");
        assert!(r.excluded("README", Scope::Context));
        assert!(r.excluded("docs/x.md", Scope::Context));
        assert!(!r.excluded("src/main.c", Scope::Context));
        assert!(r.excluded("src/a/b.o", Scope::Context));
        assert!(r.excluded("src/b.o", Scope::Context));
        assert!(!r.excluded("src/keep.o", Scope::Context));
        // .dockerignore does not apply to includes.
        assert!(!r.excluded("README", Scope::Include));
    }

    #[test]
    fn dockerignore_is_anchored_at_the_root() {
        let r = rules(&[], "*.tmp\n/docs\n");
        assert!(r.excluded("x.tmp", Scope::Context));
        assert!(!r.excluded("a/x.tmp", Scope::Context));
        assert!(r.excluded("docs/a/b", Scope::Context));
        assert!(!r.excluded("a/docs", Scope::Context));
    }

    #[test]
    fn dockerignore_double_star_and_braces() {
        let r = rules(&[], "**/*.pyc\nweird{a,b}\n");
        assert!(r.excluded("x.pyc", Scope::Context));
        assert!(r.excluded("a/b/x.pyc", Scope::Context));
        assert!(r.excluded("weird{a,b}", Scope::Context));
        assert!(!r.excluded("weirda", Scope::Context));
    }

    #[test]
    fn pruning_only_where_no_exception_can_reach() {
        let r = rules(&[], "node_modules\ncache\n!cache/keep\n");
        assert!(r.prunable("node_modules", Scope::Context));
        assert!(!r.prunable("cache", Scope::Context));
        let r = rules(&[], "*\n!**/keep\n");
        assert!(!r.prunable("anything", Scope::Context));
    }
}
