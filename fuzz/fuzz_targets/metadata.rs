//! Reads an entity's metadata file (YAML, JSON or KDL, by the first byte of the input):
//! contributed data gives fields or an error naming the file, never a crash or a hang.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn folder() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((kind, text)) = data.split_first() else {
        return;
    };
    let name = match kind % 3 {
        0 => "metadata.yml",
        1 => "metadata.json",
        _ => "metadata.kdl",
    };
    let path = folder().path().join(name);
    std::fs::write(&path, text).unwrap();
    let _ = kiln::check::entity::read_metadata(&path);
});
