//! Content hashing of build contexts, step hashes and the context tar, on real files.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln::hash::{
    Change, Context, ContextSpec, EntryKind, HASH_FORMAT_VERSION, HashError, Manifest, StepInputs,
    collect, diff, step_hash, write_tar,
};

const DOCKERFILE: &[u8] = b"FROM {{ base }}\nCOPY . /opt\n";

/// Writes `files` (path, content) below `root`, creating folders.
fn tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    }
}

fn spec(context: &Path) -> ContextSpec {
    ContextSpec {
        context: Some(context.to_owned()),
        includes: vec![],
        ignore: vec![],
        skip: vec![],
    }
}

fn inputs<'a>(context: &'a Context) -> StepInputs<'a> {
    StepInputs {
        bases: Vec::new(),
        dockerfile: DOCKERFILE,
        args: vec![("SOLVER".into(), "rk45".into())],
        dependencies: vec![("base".into(), "ab".repeat(32))],
        context,
    }
}

fn hash_of(spec: &ContextSpec) -> String {
    step_hash(&inputs(&collect(spec).unwrap())).hash
}

fn paths(context: &Context) -> Vec<&str> {
    context.files.iter().map(|f| f.path.as_str()).collect()
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn tar_bytes(context: &Context) -> Vec<u8> {
    let mut out = Vec::new();
    write_tar(
        context,
        &[(".kiln/Dockerfile", b"FROM scratch\n")],
        &mut out,
    )
    .unwrap();
    out
}

/// (path, type, mode, mtime, uid, gid, user name, group name, content) of every entry.
type TarEntry = (
    String,
    tar::EntryType,
    u32,
    u64,
    u64,
    u64,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
);

fn read_tar(bytes: &[u8]) -> Vec<TarEntry> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (
                entry.path().unwrap().to_string_lossy().into_owned(),
                h.entry_type(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.username_bytes().unwrap_or_default().to_vec(),
                h.groupname_bytes().unwrap_or_default().to_vec(),
                data,
            )
        })
        .collect()
}

/// The raw type flag of every header block, long-name entries included.
fn raw_type_flags(bytes: &[u8]) -> Vec<u8> {
    let mut flags = Vec::new();
    let mut at = 0;
    while at + 512 <= bytes.len() && bytes[at..at + 512].iter().any(|b| *b != 0) {
        let header = tar::Header::from_byte_slice(&bytes[at..at + 512]);
        flags.push(header.as_bytes()[156]);
        let size = header.entry_size().unwrap() as usize;
        at += 512 + size.div_ceil(512) * 512;
    }
    flags
}

// ---- what the hash depends on -------------------------------------------------------

#[test]
fn same_content_at_two_locations_hashes_the_same() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let files = [
        ("Dockerfile", "FROM x"),
        ("src/main.py", "print(1)"),
        ("src/lib/util.py", "x = 2"),
    ];
    tree(&a.path().join("deep/er/ctx"), &files);
    tree(&b.path().join("ctx"), &files);
    let ha = hash_of(&spec(&a.path().join("deep/er/ctx")));
    let hb = hash_of(&spec(&b.path().join("ctx")));
    assert_eq!(ha, hb);
    assert_eq!(ha.len(), 64);
}

#[test]
fn mtime_does_not_count_but_content_does() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("a.txt", "hello"), ("b/c.txt", "world")]);
    let before = hash_of(&spec(dir.path()));

    let file = File::options()
        .write(true)
        .open(dir.path().join("a.txt"))
        .unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(86_400 * 365))
        .unwrap();
    drop(file);
    assert_eq!(hash_of(&spec(dir.path())), before, "mtime changed the hash");

    fs::write(dir.path().join("a.txt"), "hellO").unwrap();
    assert_ne!(
        hash_of(&spec(dir.path())),
        before,
        "content change not seen"
    );
}

#[test]
fn executable_bit_counts_other_permission_bits_do_not() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("run.sh", "#!/bin/sh\n")]);
    let file = dir.path().join("run.sh");
    chmod(&file, 0o644);
    let plain = hash_of(&spec(dir.path()));

    chmod(&file, 0o600);
    assert_eq!(
        hash_of(&spec(dir.path())),
        plain,
        "0644 → 0600 changed the hash"
    );

    chmod(&file, 0o755);
    let exec = hash_of(&spec(dir.path()));
    assert_ne!(exec, plain, "exec bit not seen");
    assert!(collect(&spec(dir.path())).unwrap().files[0].executable);

    chmod(&file, 0o700);
    assert_eq!(
        hash_of(&spec(dir.path())),
        exec,
        "0755 → 0700 changed the hash"
    );
}

#[test]
fn arg_order_does_not_matter_values_and_names_do() {
    let ctx = Context::default();
    let with_args = |args: &[(&str, &str)]| {
        step_hash(&StepInputs {
            bases: Vec::new(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..inputs(&ctx)
        })
    };
    let ab = with_args(&[("A", "1"), ("B", "2")]);
    assert_eq!(ab.hash, with_args(&[("B", "2"), ("A", "1")]).hash);
    assert_ne!(ab.hash, with_args(&[("A", "1"), ("B", "3")]).hash);
    assert_ne!(ab.hash, with_args(&[("A", "1"), ("C", "2")]).hash);
    assert_ne!(ab.hash, with_args(&[("A", "1")]).hash);
    // The manifest never holds an arg's value.
    let json = serde_json::to_string(&with_args(&[("TOKEN", "s3cret-value")])).unwrap();
    assert!(!json.contains("s3cret-value"), "{json}");
}

#[test]
fn dependency_hashes_chain() {
    let ctx = Context::default();
    let with_deps = |deps: &[(&str, &str)]| {
        step_hash(&StepInputs {
            bases: Vec::new(),
            dependencies: deps
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..inputs(&ctx)
        })
        .hash
    };
    let base = with_deps(&[("base", "11"), ("deps", "22")]);
    assert_eq!(base, with_deps(&[("deps", "22"), ("base", "11")]));
    assert_ne!(base, with_deps(&[("base", "12"), ("deps", "22")]));
    assert_ne!(base, with_deps(&[("base", "11")]));
}

#[test]
fn dockerfile_and_format_version_count() {
    let ctx = Context::default();
    let m = step_hash(&inputs(&ctx));
    let other = step_hash(&StepInputs {
        bases: Vec::new(),
        dockerfile: b"FROM {{ base }}\nCOPY . /srv\n",
        ..inputs(&ctx)
    });
    assert_ne!(m.hash, other.hash);
    assert_eq!(m.version, HASH_FORMAT_VERSION);
    assert_eq!(m.entries[0].kind, EntryKind::Version);
    assert_eq!(m.entries.last().unwrap().kind, EntryKind::Dockerfile);
    let mut bumped = m.entries.clone();
    bumped[0].digest = (HASH_FORMAT_VERSION + 1).to_string();
    assert_ne!(Manifest::compute_hash(&bumped), m.hash);
}

#[test]
fn manifest_lists_inputs_in_order_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("z", "1"), ("a/b", "2")]);
    let ctx = collect(&spec(dir.path())).unwrap();
    let m = step_hash(&inputs(&ctx));
    let kinds: Vec<(EntryKind, &str)> = m
        .entries
        .iter()
        .map(|e| (e.kind, e.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (EntryKind::Version, "hash-format"),
            (EntryKind::Arg, "SOLVER"),
            (EntryKind::Dependency, "base"),
            (EntryKind::File, "a/b"),
            (EntryKind::File, "z"),
            (EntryKind::Dockerfile, "Dockerfile"),
        ]
    );
    assert!(m.verify());
    let mut tampered = m.clone();
    tampered.entries[3].executable = Some(true);
    assert!(!tampered.verify());
}

#[test]
fn empty_folders_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("a/f", "x")]);
    let before = hash_of(&spec(dir.path()));
    fs::create_dir_all(dir.path().join("empty/deeper")).unwrap();
    assert_eq!(hash_of(&spec(dir.path())), before);
}

// ---- ignore rules --------------------------------------------------------------------

#[test]
fn ignore_globs_leave_files_out_of_hash_and_tar() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("keep.py", "1"),
            ("x.tmp", "2"),
            ("a/b/y.tmp", "3"),
            ("pkg/__pycache__/m.pyc", "4"),
            ("build/out/bin", "5"),
            ("a/build/out/bin", "6"),
        ],
    );
    let mut s = spec(dir.path());
    s.ignore = vec!["*.tmp".into(), "**/__pycache__".into(), "build/out".into()];
    let ctx = collect(&s).unwrap();
    assert_eq!(paths(&ctx), ["a/build/out/bin", "keep.py"]);

    let before = step_hash(&inputs(&ctx)).hash;
    fs::write(dir.path().join("a/b/y.tmp"), "changed").unwrap();
    fs::write(dir.path().join("pkg/__pycache__/m.pyc"), "changed").unwrap();
    assert_eq!(hash_of(&s), before, "an ignored file changed the hash");

    let names: Vec<String> = read_tar(&tar_bytes(&ctx))
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("tmp") || n.contains("pycache"))
    );
}

/// A context holding the workspace root holds kiln's own folders (job records, the file
/// cache), which change with every run: they are never part of it, whether they exist
/// yet or not, and through a symlink neither.
#[test]
fn kilns_own_folders_are_never_in_a_context() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            ("Dockerfile", "FROM scratch\n"),
            ("src/main.c", "int main;"),
        ],
    );
    let mut settings = kiln::model::Settings::defaults(dir.path());
    settings.cache_dir = dir.path().join("cache-elsewhere");
    let mut s = spec(dir.path());
    s.skip = settings.own_dirs();
    let before = hash_of(&s);
    tree(
        dir.path(),
        &[
            (".kiln/jobs/1-build/events.jsonl", "{}"),
            (".kiln/results/history/1.json", "[]"),
            ("cache-elsewhere/kiln_x.tar", "tarball"),
        ],
    );
    std::os::unix::fs::symlink(dir.path().join(".kiln/jobs"), dir.path().join("jobs-link"))
        .unwrap();
    let ctx = collect(&s).unwrap();
    assert_eq!(paths(&ctx), ["Dockerfile", "src/main.c"]);
    assert_eq!(hash_of(&s), before);
    // Without the skip list they would count (the test can fail).
    assert_ne!(hash_of(&spec(dir.path())), before);

    // A context chosen inside one of those folders is the user's choice: walked.
    let mut inside = spec(&dir.path().join(".kiln/jobs"));
    inside.skip = settings.own_dirs();
    assert_eq!(paths(&collect(&inside).unwrap()), ["1-build/events.jsonl"]);
}

#[test]
fn dockerignore_with_exception() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            (
                ".dockerignore",
                "# build outputs\n*.log\n!important.log\n/docs\nnode_modules\n",
            ),
            ("app.py", "1"),
            ("debug.log", "2"),
            ("important.log", "3"),
            ("sub/debug.log", "4"),
            ("docs/index.md", "5"),
            ("node_modules/x/y.js", "6"),
        ],
    );
    let ctx = collect(&spec(dir.path())).unwrap();
    // Docker anchors patterns at the root: `*.log` does not reach into `sub/`.
    assert_eq!(
        paths(&ctx),
        [".dockerignore", "app.py", "important.log", "sub/debug.log"]
    );
    let names: Vec<String> = read_tar(&tar_bytes(&ctx))
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        names,
        [
            ".dockerignore",
            ".kiln/",
            ".kiln/Dockerfile",
            "app.py",
            "important.log",
            "sub/",
            "sub/debug.log"
        ]
    );

    let before = step_hash(&inputs(&ctx)).hash;
    fs::write(dir.path().join("debug.log"), "more").unwrap();
    fs::write(dir.path().join("docs/index.md"), "more").unwrap();
    assert_eq!(hash_of(&spec(dir.path())), before);
    fs::write(dir.path().join("important.log"), "more").unwrap();
    assert_ne!(hash_of(&spec(dir.path())), before);
}

#[test]
fn dockerignore_exception_inside_an_ignored_folder() {
    let dir = tempfile::tempdir().unwrap();
    tree(
        dir.path(),
        &[
            (".dockerignore", "*\n!src\nsrc/**/*.o\n!.dockerignore\n"),
            ("README", "r"),
            ("src/a.c", "c"),
            ("src/deep/a.o", "o"),
        ],
    );
    let ctx = collect(&spec(dir.path())).unwrap();
    assert_eq!(paths(&ctx), [".dockerignore", "src/a.c"]);
}

#[test]
fn dockerignore_applies_to_the_context_folder_not_to_includes() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    tree(&ctx, &[(".dockerignore", "*.bin\n"), ("x.bin", "1")]);
    tree(dir.path(), &[("host/tool.bin", "2")]);
    let mut s = spec(&ctx);
    s.includes = vec![(dir.path().join("host/tool.bin"), "tool.bin".into())];
    assert_eq!(paths(&collect(&s).unwrap()), [".dockerignore", "tool.bin"]);
    // Step globs apply to includes as well.
    s.ignore = vec!["tool.*".into()];
    assert_eq!(paths(&collect(&s).unwrap()), [".dockerignore"]);
}

// ---- symlinks ----------------------------------------------------------------------

#[test]
fn symlinks_inside_are_followed_as_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let linked = dir.path().join("linked");
    tree(
        &linked,
        &[("data/real.txt", "payload"), ("data/sub/x", "x")],
    );
    symlink("data/real.txt", linked.join("alias.txt")).unwrap();
    symlink("data", linked.join("datalink")).unwrap();

    let copied = dir.path().join("copied");
    tree(
        &copied,
        &[
            ("data/real.txt", "payload"),
            ("data/sub/x", "x"),
            ("alias.txt", "payload"),
            ("datalink/real.txt", "payload"),
            ("datalink/sub/x", "x"),
        ],
    );
    let ctx = collect(&spec(&linked)).unwrap();
    assert_eq!(
        paths(&ctx),
        [
            "alias.txt",
            "data/real.txt",
            "data/sub/x",
            "datalink/real.txt",
            "datalink/sub/x"
        ]
    );
    assert_eq!(hash_of(&spec(&linked)), hash_of(&spec(&copied)));

    let entries = read_tar(&tar_bytes(&ctx));
    let alias = entries.iter().find(|e| e.0 == "alias.txt").unwrap();
    assert_eq!(alias.1, tar::EntryType::Regular);
    assert_eq!(alias.8, b"payload");
}

#[test]
fn symlink_outside_the_context_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    tree(&ctx, &[("ok", "1")]);
    tree(dir.path(), &[("secret", "s")]);
    symlink("../secret", ctx.join("escape")).unwrap();
    let err = collect(&spec(&ctx)).unwrap_err();
    assert!(matches!(err, HashError::SymlinkOutside { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&ctx.join("escape").display().to_string()),
        "{text}"
    );
    assert!(text.contains("../secret"), "{text}");
    let code = miette::Diagnostic::code(&err).unwrap().to_string();
    assert_eq!(code, "kiln::hash::symlink_outside");
}

#[test]
fn symlink_loop_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("a/f", "1")]);
    symlink("..", dir.path().join("a/up")).unwrap();
    let err = collect(&spec(dir.path())).unwrap_err();
    assert!(matches!(err, HashError::SymlinkLoop { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&dir.path().join("a/up").display().to_string()),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    symlink("self", dir.path().join("self")).unwrap();
    let err = collect(&spec(dir.path())).unwrap_err();
    assert!(matches!(err, HashError::SymlinkLoop { .. }), "{err:?}");
}

#[test]
fn dangling_symlink_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    symlink("gone", dir.path().join("link")).unwrap();
    let err = collect(&spec(dir.path())).unwrap_err();
    assert!(matches!(err, HashError::SymlinkDangling { .. }), "{err:?}");
    assert!(err.to_string().contains("link"), "{err}");
}

// ---- includes ----------------------------------------------------------------------

#[test]
fn includes_of_a_file_and_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    tree(&ctx, &[("Dockerfile", "FROM scratch")]);
    tree(
        dir.path(),
        &[
            ("host/busybox", "BB"),
            ("shared/scripts/run.sh", "#!/bin/sh"),
            ("shared/scripts/lib/x.sh", "x"),
        ],
    );
    chmod(&dir.path().join("host/busybox"), 0o755);
    let mut s = spec(&ctx);
    s.includes = vec![
        (dir.path().join("host/busybox"), "busybox".into()),
        (dir.path().join("shared/scripts"), "tools/scripts".into()),
    ];
    let c = collect(&s).unwrap();
    assert_eq!(
        paths(&c),
        [
            "Dockerfile",
            "busybox",
            "tools/scripts/lib/x.sh",
            "tools/scripts/run.sh"
        ]
    );
    assert!(c.get("busybox").unwrap().executable);

    // The same files placed in the context folder hash the same.
    let flat = dir.path().join("flat");
    tree(
        &flat,
        &[
            ("Dockerfile", "FROM scratch"),
            ("busybox", "BB"),
            ("tools/scripts/run.sh", "#!/bin/sh"),
            ("tools/scripts/lib/x.sh", "x"),
        ],
    );
    chmod(&flat.join("busybox"), 0o755);
    assert_eq!(hash_of(&s), hash_of(&spec(&flat)));
}

#[test]
fn include_wins_over_a_context_file() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    tree(&ctx, &[("busybox", "placeholder")]);
    tree(dir.path(), &[("host/busybox", "real")]);
    let mut s = spec(&ctx);
    s.includes = vec![(dir.path().join("host/busybox"), "busybox".into())];
    let c = collect(&s).unwrap();
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].size, 4);
}

#[test]
fn symlink_leaving_an_included_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    tree(&ctx, &[("f", "1")]);
    tree(dir.path(), &[("shared/a", "a"), ("other", "o")]);
    symlink("../other", dir.path().join("shared/out")).unwrap();
    let mut s = spec(&ctx);
    s.includes = vec![(dir.path().join("shared"), "shared".into())];
    let err = collect(&s).unwrap_err();
    match &err {
        HashError::SymlinkOutside { link, root, .. } => {
            assert_eq!(link, &dir.path().join("shared/out"));
            assert_eq!(root, &fs::canonicalize(dir.path().join("shared")).unwrap());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn included_file_may_be_a_symlink_to_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    tree(&ctx, &[("f", "1")]);
    tree(dir.path(), &[("real/bin", "binary")]);
    symlink(dir.path().join("real/bin"), dir.path().join("link")).unwrap();
    let mut s = spec(&ctx);
    s.includes = vec![(dir.path().join("link"), "bin".into())];
    let c = collect(&s).unwrap();
    assert_eq!(paths(&c), ["bin", "f"]);
}

// ---- the tar -------------------------------------------------------------------------

fn sample(root: &Path) -> PathBuf {
    let ctx = root.join("ctx");
    tree(
        &ctx,
        &[
            ("Dockerfile", "FROM scratch"),
            ("a-b", "dash"),
            ("a/x", "ax"),
            ("a/y/z", "ayz"),
            ("run.sh", "#!/bin/sh\necho hi\n"),
        ],
    );
    chmod(&ctx.join("run.sh"), 0o755);
    chmod(&ctx.join("a/x"), 0o600);
    ctx
}

#[test]
fn tar_is_deterministic_across_runs_and_locations() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let ctx_one = collect(&spec(&sample(one.path()))).unwrap();
    let ctx_two = collect(&spec(&sample(&two.path().join("else/where")))).unwrap();
    let first = tar_bytes(&ctx_one);
    // Touch every file: the tar must not change.
    for f in &ctx_one.files {
        File::options()
            .write(true)
            .open(&f.source)
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(3600))
            .unwrap();
    }
    assert_eq!(first, tar_bytes(&ctx_one));
    assert_eq!(first, tar_bytes(&ctx_two));
}

#[test]
fn tar_entries_have_normalised_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = collect(&spec(&sample(dir.path()))).unwrap();
    let bytes = tar_bytes(&ctx);
    let entries = read_tar(&bytes);
    let listing: Vec<(&str, tar::EntryType, u32)> =
        entries.iter().map(|e| (e.0.as_str(), e.1, e.2)).collect();
    use tar::EntryType::{Directory as D, Regular as R};
    assert_eq!(
        listing,
        [
            (".kiln/", D, 0o755),
            (".kiln/Dockerfile", R, 0o644),
            ("Dockerfile", R, 0o644),
            ("a-b", R, 0o644),
            ("a/", D, 0o755),
            ("a/x", R, 0o644),
            ("a/y/", D, 0o755),
            ("a/y/z", R, 0o644),
            ("run.sh", R, 0o755),
        ]
    );
    for e in &entries {
        assert_eq!((e.3, e.4, e.5), (0, 0, 0), "mtime/uid/gid of {}", e.0);
        assert!(e.6.is_empty() && e.7.is_empty(), "user/group of {}", e.0);
    }
    assert_eq!(entries[7].8, b"ayz");
    assert_eq!(entries[8].8, b"#!/bin/sh\necho hi\n");
    // Only regular files and folders: no PAX, no sparse entries.
    assert!(
        raw_type_flags(&bytes)
            .iter()
            .all(|f| *f == b'0' || *f == b'5')
    );
}

#[test]
fn long_paths_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "{}/{}/{}.txt",
        "d".repeat(60),
        "e".repeat(60),
        "f".repeat(60)
    );
    assert!(deep.len() > 100);
    tree(dir.path(), &[(&deep, "deep content")]);
    let ctx = collect(&spec(dir.path())).unwrap();
    let mut bytes = Vec::new();
    write_tar(&ctx, &[], &mut bytes).unwrap();
    let entries = read_tar(&bytes);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let first = format!("{}/", "d".repeat(60));
    let second = format!("{}/{}/", "d".repeat(60), "e".repeat(60));
    assert_eq!(names, [first.as_str(), second.as_str(), deep.as_str()]);
    assert_eq!(entries[2].8, b"deep content");
    // GNU long names, nothing else.
    assert!(
        raw_type_flags(&bytes)
            .iter()
            .all(|f| matches!(f, b'0' | b'5' | b'L'))
    );
    // GNU tar agrees, where it is installed.
    if let Ok(mut child) = std::process::Command::new("tar")
        .args(["-tf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&deep));
    }
}

#[test]
fn tar_refuses_a_file_changed_since_hashing() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("a", "12345"), ("b", "same size")]);
    let ctx = collect(&spec(dir.path())).unwrap();

    fs::write(dir.path().join("a"), "123456").unwrap();
    let err = write_tar(&ctx, &[], std::io::sink()).unwrap_err();
    let inner = err.get_ref().unwrap().downcast_ref::<HashError>().unwrap();
    assert!(
        matches!(inner, HashError::Changed { path, .. } if path == "a"),
        "{inner:?}"
    );

    fs::write(dir.path().join("a"), "12345").unwrap();
    fs::write(dir.path().join("b"), "SAME SIZE").unwrap();
    let mut out = Vec::new();
    let err = write_tar(&ctx, &[], &mut out).unwrap_err();
    let inner = err.get_ref().unwrap().downcast_ref::<HashError>().unwrap();
    assert!(
        matches!(inner, HashError::Changed { path, .. } if path == "b"),
        "{inner:?}"
    );
    // The changed content never reached the stream.
    assert!(!out.windows(9).any(|w| w == b"SAME SIZE"));
}

// ---- diff ----------------------------------------------------------------------------

#[test]
fn diff_reports_exactly_the_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("a", "1"), ("src/b", "2"), ("src/c", "3")]);
    let old = step_hash(&inputs(&collect(&spec(dir.path())).unwrap()));
    fs::write(dir.path().join("src/b"), "two").unwrap();
    let new = step_hash(&inputs(&collect(&spec(dir.path())).unwrap()));
    let changes = diff(&old, &new);
    assert_eq!(changes.len(), 1, "{changes:?}");
    match &changes[0] {
        Change::Changed { old, new } => {
            assert_eq!((new.kind, new.name.as_str()), (EntryKind::File, "src/b"));
            assert_ne!(old.digest, new.digest);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(changes[0].to_string(), "changed file `src/b`: content");

    // Through JSON, as `kiln explain` reads it from a job record.
    let stored: Manifest = serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
    assert_eq!(diff(&stored, &new), changes);
}
