//! Checks a Dockerfile against a context before a build (`kiln validate`): the input is
//! the Dockerfile template, then after the first NUL byte the context's paths, one per
//! line. Any text gives problems or none, never a crash or a hang.
#![no_main]

use kiln::build::preflight::{Dockerfile, check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (template, paths) = text.split_once('\0').unwrap_or((&text, ""));
    let images = [("base".to_owned(), "kiln:f-base_0123".to_owned())];
    let _ = check(
        &Dockerfile {
            step: "app",
            shown: "Dockerfile",
            template,
            images: &images,
            secrets: &["token".to_owned()],
        },
        paths.lines(),
    );
});
