//! Decoding `kiln.kdl`.

use std::path::Path;

use kdl::{KdlDocument, KdlNode};

use super::grammar;
use super::reader::{Reader, Shape};
use crate::model::{BuilderChoice, Settings, Spanned};

const ONE_VALUE: Shape = Shape::args(&["value"]);

pub fn decode(r: &mut Reader, doc: &KdlDocument, root: &Path) -> Settings {
    let mut settings = Settings::defaults(root);
    let nodes = r.known(doc.nodes(), grammar::SETTINGS, "kiln.kdl");
    for name in grammar::SETTINGS {
        r.at_most_once(&nodes, name);
    }
    let signing = nodes.iter().any(|n| n.name().value() == "signing");
    for node in nodes {
        match node.name().value() {
            "gc" => {
                decode_gc(r, node, &mut settings);
                continue;
            }
            "signing" => {
                settings.signing = super::signing::decode(r, node, root);
                continue;
            }
            _ => {}
        }
        if !r.shape(node, &ONE_VALUE) {
            continue;
        }
        match node.name().value() {
            "registry" => {
                settings.registry = repository_arg(
                    r,
                    node,
                    "registry",
                    "registry repository",
                    "write `host[:port]/path` without a scheme, in lowercase, e.g. \"127.0.0.1:5000/kiln\"",
                );
            }
            "repository" => {
                if let Some(repo) = repository_arg(
                    r,
                    node,
                    "repository",
                    "image repository",
                    "use lowercase letters, digits and `.`, `_`, `-`, `/` separators, e.g. \"kiln\" or \"127.0.0.1:5000/team/kiln\"",
                ) {
                    settings.repository = repo.value;
                }
            }
            "cache-dir" => {
                if let Some(dir) = r.arg(node, 0, "cache-dir") {
                    settings.cache_dir = root.join(dir.value);
                }
            }
            "job-dir" => {
                if let Some(dir) = r.arg(node, 0, "job-dir") {
                    settings.job_dir = root.join(dir.value);
                }
            }
            "jobs" => {
                if let Some(jobs) = r.arg_int(node, 0, "jobs", 1..=1024) {
                    settings.jobs = Some(jobs.value as usize);
                }
            }
            "allow-outside-workspace" => {
                if let Some(allow) = r.arg_bool(node, 0, "allow-outside-workspace") {
                    settings.allow_outside_workspace = allow;
                }
            }
            "allow-docker-socket" => {
                if let Some(allow) = r.arg_bool(node, 0, "allow-docker-socket") {
                    settings.allow_docker_socket = allow;
                }
            }
            "builder" => {
                if let Some(name) = r.arg(node, 0, "builder") {
                    match BuilderChoice::parse(&name.value) {
                        Some(choice) => settings.builder = choice,
                        None => r.invalid(
                            name.loc.span,
                            "builder",
                            format!("`{}` is no builder", name.value),
                            "write \"buildkit\", \"classic\" or \"auto\" (BuildKit when the daemon offers it)",
                        ),
                    }
                }
            }
            _ => unreachable!("filtered by grammar::SETTINGS; gc and signing decoded above"),
        }
    }
    if !signing {
        super::signing::check_environment(r.errors);
    }
    settings
}

const GC: Shape = Shape::args(&[]).props(&["max-size", "keep"]);

/// `gc max-size="5GB" keep=20`.
fn decode_gc(r: &mut Reader, node: &KdlNode, settings: &mut Settings) {
    r.shape(node, &GC);
    if let Some(size) = r.prop(node, "max-size") {
        match size.value.trim().parse::<bytesize::ByteSize>() {
            Ok(bytes) => settings.gc_max_size = Some(bytes.as_u64()),
            Err(_) => r.invalid(
                size.loc.span,
                "max-size",
                format!("`{}` is no size", size.value),
                "a number of bytes, or with a unit: \"500MB\", \"5GB\", \"2GiB\"",
            ),
        }
    }
    if let Some(keep) = r.prop_int(node, "keep", 1..=100_000) {
        settings.gc_keep = Some(keep.value as usize);
    }
}

/// The argument of `node` (`registry` or `repository`) if it is a valid image
/// repository; otherwise an error saying it is no valid `noun`, with `help`, and `None`.
fn repository_arg(
    r: &mut Reader,
    node: &KdlNode,
    what: &str,
    noun: &str,
    help: &str,
) -> Option<Spanned<String>> {
    let value = r.arg(node, 0, what)?;
    if valid_repository(&value.value) {
        return Some(value);
    }
    r.invalid(
        value.loc.span,
        what,
        format!("`{}` is not a valid {noun}", value.value),
        help,
    );
    None
}

/// Docker's reference grammar, loosely: an optional `host[:port]/` and lowercase path
/// components.
fn valid_repository(repo: &str) -> bool {
    let (host, path) = match repo.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => {
            (Some(host), path)
        }
        _ => (None, repo),
    };
    let host_ok = host.is_none_or(|h| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-'))
    });
    let path_ok = !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
        });
    host_ok && path_ok
}

#[cfg(test)]
mod tests {
    use super::valid_repository;

    #[test]
    fn repositories() {
        assert!(valid_repository("kiln"));
        assert!(valid_repository("127.0.0.1:5000/kiln"));
        assert!(valid_repository("localhost/team/kiln-images"));
        assert!(!valid_repository("Kiln"));
        assert!(!valid_repository("kiln//x"));
        assert!(!valid_repository(""));
    }
}
