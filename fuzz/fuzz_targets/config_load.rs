//! Loads a workspace whose kiln.kdl and one flavor.kdl are the input (split at the
//! first NUL byte): any text gives a workspace or diagnostics, never a crash or a hang.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn workspace() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flavors/f/a")).unwrap();
        std::fs::write(dir.path().join("flavors/f/a/Dockerfile"), "FROM scratch\n").unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let (settings, flavor) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&[][..], data),
    };
    let root = workspace().path();
    std::fs::write(root.join("kiln.kdl"), settings).unwrap();
    std::fs::write(root.join("flavors/f/flavor.kdl"), flavor).unwrap();
    let _ = kiln::config::load(root);
});
