//! Terminal output: colour choice, diagnostics rendering and logging.

use std::borrow::Cow;
use std::io::IsTerminal;

use clap::ValueEnum;
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::report::printable;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour output on stderr: `auto` colours a terminal unless NO_COLOR is set.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        }
    }
}

/// `1 entity`, `3 entities`: a count with the word for it.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Width diagnostics wrap at; fixed so that output does not depend on the terminal.
const WIDTH: usize = 100;

/// A diagnostic rendered as miette draws it: file, line, column, labels, help. One that
/// quotes a control character (a file name in a data repository, a key in a partition's
/// results file, an answer of the daemon) is shown without colour, as
/// [`printable`] makes it.
pub fn render(diagnostic: &dyn Diagnostic, color: bool) -> String {
    let plain = draw(diagnostic, GraphicalTheme::unicode_nocolor());
    if let Cow::Owned(shown) = printable(&plain) {
        return shown;
    }
    if color {
        draw(diagnostic, GraphicalTheme::unicode())
    } else {
        plain
    }
}

fn draw(diagnostic: &dyn Diagnostic, theme: GraphicalTheme) -> String {
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(false);
    let mut out = String::new();
    let unquoted = Unquoted::new(diagnostic);
    let drawn = match unquoted.needed() {
        true => handler.render_report(&mut out, &unquoted),
        false => handler.render_report(&mut out, diagnostic),
    };
    if drawn.is_err() {
        out = format!("error: {diagnostic}\n");
    }
    out
}

/// The furthest column miette's renderer draws: past 65,535 it panics (a Dockerfile
/// line, a metadata file a stranger wrote), so a diagnostic pointing there is drawn
/// without its source.
const WIDEST: usize = 60_000;

/// Where (1-based line and column) the first label of `diagnostic` past [`WIDEST`]
/// points, if one does.
fn too_wide(diagnostic: &dyn Diagnostic) -> Option<(usize, usize)> {
    let source = diagnostic.source_code()?;
    diagnostic.labels()?.find_map(|label| {
        let at = source.read_span(label.inner(), 0, 0).ok()?;
        (at.column() > WIDEST || label.inner().len() > WIDEST)
            .then(|| (at.line() + 1, at.column() + 1))
    })
}

/// A diagnostic drawn without the source and labels of those of its parts (itself, its
/// related diagnostics) that point past [`WIDEST`], their help naming where they point.
struct Unquoted<'a> {
    diagnostic: &'a dyn Diagnostic,
    at: Option<(usize, usize)>,
    related: Vec<Unquoted<'a>>,
}

impl<'a> Unquoted<'a> {
    fn new(diagnostic: &'a dyn Diagnostic) -> Self {
        Self {
            diagnostic,
            at: too_wide(diagnostic),
            related: diagnostic
                .related()
                .map(|related| related.map(Unquoted::new).collect())
                .unwrap_or_default(),
        }
    }

    /// Whether some part points too far to draw.
    fn needed(&self) -> bool {
        self.at.is_some() || self.related.iter().any(Unquoted::needed)
    }
}

impl std::fmt::Debug for Unquoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl std::fmt::Display for Unquoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.diagnostic, f)
    }
}

impl std::error::Error for Unquoted<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.diagnostic.source()
    }
}

impl Diagnostic for Unquoted<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.diagnostic.code()
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        let Some((line, column)) = self.at else {
            return self.diagnostic.help();
        };
        let help = self
            .diagnostic
            .help()
            .map(|h| format!("{h}\n"))
            .unwrap_or_default();
        Some(Box::new(format!(
            "{help}at line {line}, column {column}: too wide to show"
        )))
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.diagnostic.severity()
    }

    fn url<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.diagnostic.url()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self.at {
            Some(_) => None,
            None => self.diagnostic.source_code(),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        match self.at {
            Some(_) => None,
            None => self.diagnostic.labels(),
        }
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|u| u as &dyn Diagnostic)))
    }

    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.diagnostic.diagnostic_source()
    }
}

/// Logs go to stderr; RUST_LOG overrides the level chosen with -v/-q.
pub fn init_logging(verbose: u8, quiet: bool, color: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("kiln={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .finish()
        .with(FilterFn::new(no_request_details))
        .try_init();
}

/// Whatever RUST_LOG asks for, the Docker client's debug and trace lines never show:
/// they print each request's URI and query, which hold the build args — transparent
/// ones too, such as a proxy URL with a password, which kiln promises never to log.
fn no_request_details(meta: &tracing::Metadata<'_>) -> bool {
    !(meta.target().starts_with("bollard") && *meta.level() > tracing::Level::INFO)
}
