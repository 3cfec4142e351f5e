//! Rendering a Dockerfile template: `{{ name }}` of a needed step becomes that step's
//! full image name, as in EXASLCT's Jinja templates.

use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use minijinja::{Environment, UndefinedBehavior, Value};
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
#[error("cannot render the Dockerfile of step `{step}`: {message}")]
#[diagnostic(code(kiln::build::dockerfile_template))]
pub struct RenderError {
    pub step: String,
    pub message: String,
    #[source_code]
    pub src: NamedSource<Arc<String>>,
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    pub label: String,
    #[help]
    pub help: String,
}

/// The work a template may do when rendered (minijinja's fuel): far more than any
/// Dockerfile or check command needs, far less than a loop that never ends.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// Renders `template` (the Dockerfile at `path`, shown as `shown`) with the image names
/// of the steps it needs. Besides each name as a variable, `images` maps every needed
/// step name to its image, for names that are not identifiers (`{{ images["a-b"] }}`).
pub fn render(
    step: &str,
    shown: &str,
    template: &str,
    images: &[(String, String)],
) -> Result<String, Box<RenderError>> {
    // A Dockerfile is the user's, but kiln renders it: within the limits its templates
    // are checked against, and with a budget of work (a loop over `range(10**9)` ends).
    if let Err(limit) = crate::config::template::check(template) {
        return Err(Box::new(RenderError {
            step: step.to_owned(),
            message: limit.to_string(),
            src: NamedSource::new(shown, Arc::new(template.to_owned())),
            span: Some((limit.offset(), 0).into()),
            label: "here".to_owned(),
            help: "kiln renders Dockerfiles as templates with limits on size and nesting; write the Dockerfile plainer".to_owned(),
        }));
    }
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    let mut context: std::collections::BTreeMap<String, Value> = images
        .iter()
        .map(|(name, image)| (name.clone(), Value::from(image.clone())))
        .collect();
    let map: std::collections::BTreeMap<String, Value> = images
        .iter()
        .map(|(name, image)| (name.clone(), Value::from(image.clone())))
        .collect();
    context.insert("images".to_owned(), Value::from(map));
    let result = env
        .template_from_named_str(shown, template)
        .and_then(|t| t.render(&context));
    result.map_err(|e| {
        // How each name is written: a step name that is no identifier (`build-deps`)
        // would read as a subtraction.
        let names: Vec<String> = images
            .iter()
            .map(|(n, _)| {
                if is_identifier(n) {
                    format!("`{{{{ {n} }}}}`")
                } else {
                    format!("`{{{{ images[\"{n}\"] }}}}`")
                }
            })
            .collect();
        let help = if e.kind() == minijinja::ErrorKind::SyntaxError {
            "a template syntax error: `{{ name }}` inserts an image name, `{% if %}`…`{% endif %}` and `{% for %}`…`{% endfor %}` must be closed (Jinja syntax)".to_owned()
        } else if names.is_empty() {
            "this step needs no other step, so its Dockerfile has no image names to use; add the step to `needs`".to_owned()
        } else {
            format!(
                "the Dockerfile may use the image names of the steps in `needs`: {}; add a missing step to `needs`",
                names.join(", ")
            )
        };
        let span = e
            .range()
            .map(|r| SourceSpan::from((r.start, r.end - r.start)))
            .or_else(|| e.line().map(|line| line_span(template, line)));
        Box::new(RenderError {
            step: step.to_owned(),
            message: e.detail().unwrap_or(&e.kind().to_string()).to_owned(),
            src: NamedSource::new(shown, Arc::new(template.to_owned())),
            span,
            label: "here".to_owned(),
            help,
        })
    })
}

/// Whether `name` can be written as a bare template variable.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The span of 1-based `line` in `text`.
fn line_span(text: &str, line: usize) -> SourceSpan {
    let mut offset = 0;
    for (n, content) in text.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return SourceSpan::from((offset, content.trim_end().len()));
        }
        offset += content.len();
    }
    SourceSpan::from((text.len(), 0))
}

/// Where a step's rendered Dockerfile goes inside the context tar, clear of user files.
pub const RENDERED_PATH: &str = ".kiln/Dockerfile";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_or_deeply_nested_template_is_an_error_not_a_hang() {
        let endless = "FROM scratch\n{% for i in range(10000) %}{% for j in range(10000) %}RUN true\n{% endfor %}{% endfor %}";
        let started = std::time::Instant::now();
        let error = render("s", "Dockerfile", endless, &[]).unwrap_err();
        assert!(error.message.contains("fuel"), "{}", error.message);
        assert!(started.elapsed().as_secs() < 10, "stopped by its budget");
        let deep = format!("FROM {{{{ {}1{} }}}}", "(".repeat(200), ")".repeat(200));
        let error = render("s", "Dockerfile", &deep, &[]).unwrap_err();
        assert!(error.message.contains("nest"), "{}", error.message);
    }

    fn images() -> Vec<(String, String)> {
        vec![
            ("base".to_owned(), "kiln:sci-base_0123".to_owned()),
            (
                "build-deps".to_owned(),
                "kiln:sci-build-deps_4567".to_owned(),
            ),
        ]
    }

    #[test]
    fn replaces_step_names_with_image_names() {
        let out = render(
            "app",
            "Dockerfile",
            "FROM {{ base }}\nCOPY --from={{ images[\"build-deps\"] }} /a /b\n",
            &images(),
        )
        .unwrap();
        assert_eq!(
            out,
            "FROM kiln:sci-base_0123\nCOPY --from=kiln:sci-build-deps_4567 /a /b\n"
        );
    }

    #[test]
    fn an_undefined_name_points_at_its_line() {
        let error = render(
            "app",
            "flavors/sci/app/Dockerfile",
            "FROM {{ base }}\nRUN true\nCOPY --from={{ deps }} /a /b\n",
            &images(),
        )
        .unwrap_err();
        let span = error.span.expect("a location");
        let text = "FROM {{ base }}\nRUN true\nCOPY --from={{ deps }} /a /b\n";
        let line = text[..span.offset()].matches('\n').count() + 1;
        assert_eq!(line, 3);
        assert!(error.help.contains("`{{ base }}`"), "{}", error.help);
        assert!(
            error.help.contains("`{{ images[\"build-deps\"] }}`"),
            "a name with a dash is shown as it must be written: {}",
            error.help
        );
        assert!(
            error.message.contains("undefined") || error.message.contains("deps"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_syntax_error_is_not_blamed_on_needs() {
        let error = render(
            "app",
            "Dockerfile",
            "FROM {{ base }}\n{% if base %}\nRUN true\n",
            &images(),
        )
        .unwrap_err();
        assert!(error.help.contains("syntax"), "{}", error.help);
        assert!(!error.help.contains("needs"), "{}", error.help);
    }
}
