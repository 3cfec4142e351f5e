//! Throughput of `kiln::hash::collect` (walk + parallel sha256) against `sha256sum`,
//! and of `write_tar`, on a tree of 2,000 files of mixed sizes (~200 MB).
//!
//! Run with `cargo bench --bench hash`. The files are read from the page cache: the
//! tree is written just before and every tool is run once untimed first.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln::hash::{ContextSpec, collect, write_tar};

const RUNS: usize = 3;

/// (number of files, size of each): 20 × 5 MiB + 180 × 400 KiB + 1,800 × ~15 KiB.
const SHAPE: [(usize, usize); 3] = [(20, 5 << 20), (180, 400 << 10), (1_800, 15 << 10)];

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (files, bytes) = make_tree(dir.path());
    let mb = bytes as f64 / 1e6;
    println!(
        "tree: {files} files, {mb:.1} MB, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let spec = ContextSpec {
        context: Some(dir.path().to_owned()),
        includes: vec![],
        ignore: vec![],
        skip: vec![],
    };
    let context = collect(&spec).expect("collect");
    assert_eq!(context.files.len(), files);
    assert_eq!(context.total_size(), bytes);

    let kiln = best_of(|| {
        collect(&spec).expect("collect");
    });
    report("kiln collect()", mb, kiln);

    let tar = best_of(|| {
        write_tar(&context, &[], std::io::sink()).expect("tar");
    });
    report("kiln write_tar() to a sink", mb, tar);

    let root = dir.path().display().to_string();
    for (label, script) in [
        (
            "sha256sum (find | xargs -0)",
            "find \"$1\" -type f -print0 | xargs -0 sha256sum > /dev/null",
        ),
        (
            "sha256sum (find | xargs -0 -P2)",
            "find \"$1\" -type f -print0 | xargs -0 -P2 -n 100 sha256sum > /dev/null",
        ),
    ] {
        let run = || {
            let status = Command::new("sh")
                .args(["-c", script, "sh", &root])
                .status()
                .expect("sh");
            assert!(status.success(), "{label} failed");
        };
        report(label, mb, best_of(run));
    }
}

/// Writes the tree below `root`: 50 files per folder, two levels deep. Returns the
/// number of files and their total size.
fn make_tree(root: &Path) -> (usize, u64) {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut count = 0usize;
    let mut total = 0u64;
    for (n, size) in SHAPE {
        for _ in 0..n {
            // Vary small files a little so they are not all one size.
            let size = if size < (1 << 20) {
                size / 2 + (next(&mut rng) as usize % size)
            } else {
                size
            };
            let mut data = vec![0u8; size];
            for chunk in data.chunks_mut(8) {
                let word = next(&mut rng).to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            let path = root
                .join(format!("d{}", count / 500))
                .join(format!("e{}", count / 50))
                .join(format!("f{count}.bin"));
            fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
            fs::write(&path, &data).expect("write");
            count += 1;
            total += size as u64;
        }
    }
    (count, total)
}

/// xorshift64*.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The fastest of [`RUNS`] timed runs, after one untimed warm-up.
fn best_of(mut f: impl FnMut()) -> Duration {
    f();
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn report(label: &str, mb: f64, time: Duration) {
    println!(
        "{label:<34} {:>8.1} ms  {:>7.0} MB/s",
        time.as_secs_f64() * 1e3,
        mb / time.as_secs_f64()
    );
}
