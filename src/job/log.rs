//! A log that cannot grow without bound: a command printing a gigabyte leaves a log of
//! at most [`LOG_LIMIT`] bytes, its first and last halves, with a line saying how much
//! was cut between them.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The most bytes of a command's output one log keeps (plus the line saying what was cut).
pub const LOG_LIMIT: u64 = 10 * 1024 * 1024;

/// Writes the first half of the limit straight to the file and keeps the last half in
/// memory until [`CappedLog::finish`] (or drop) writes it after the cut.
pub struct CappedLog {
    file: File,
    head: u64,
    written: u64,
    tail: VecDeque<u8>,
    tail_limit: usize,
    cut: u64,
    finished: bool,
}

impl CappedLog {
    /// Creates (truncates) the log at `path`, keeping at most `limit` bytes of output.
    pub fn create(path: &Path, limit: u64) -> io::Result<Self> {
        Ok(CappedLog {
            file: File::create(path)?,
            head: limit / 2,
            written: 0,
            tail: VecDeque::new(),
            tail_limit: usize::try_from(limit - limit / 2).unwrap_or(usize::MAX),
            cut: 0,
            finished: false,
        })
    }

    /// How many bytes were cut so far.
    pub fn cut(&self) -> u64 {
        self.cut
    }

    /// Writes the kept tail after a line saying how much was cut.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.cut > 0 {
            writeln!(
                self.file,
                "\n[kiln: {} bytes of output cut here; the log keeps the first and last {} bytes]",
                self.cut, self.head
            )?;
        }
        let (a, b) = self.tail.as_slices();
        self.file.write_all(a)?;
        self.file.write_all(b)?;
        self.tail.clear();
        self.file.flush()
    }
}

impl Write for CappedLog {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        if self.written < self.head {
            let room = usize::try_from(self.head - self.written).unwrap_or(usize::MAX);
            let now = &rest[..rest.len().min(room)];
            self.file.write_all(now)?;
            self.written += now.len() as u64;
            rest = &rest[now.len()..];
        }
        if !rest.is_empty() {
            // Only the last `tail_limit` bytes of `rest` can stay.
            let skip = rest.len().saturating_sub(self.tail_limit);
            self.cut += skip as u64;
            rest = &rest[skip..];
            let overflow = (self.tail.len() + rest.len()).saturating_sub(self.tail_limit);
            self.tail.drain(..overflow);
            self.cut += overflow as u64;
            self.tail.extend(rest);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for CappedLog {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_says_what_was_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut log = CappedLog::create(&path, 20).unwrap();
        for i in 0..10 {
            writeln!(log, "line{i}").unwrap();
        }
        assert_eq!(log.cut(), 60 - 20);
        log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("line0\nline\n[kiln: 40 bytes"), "{text}");
        assert!(
            text.contains("[kiln: 40 bytes of output cut here"),
            "{text}"
        );
        assert!(text.ends_with("ne8\nline9\n"), "{text}");
    }

    #[test]
    fn a_short_log_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        {
            let mut log = CappedLog::create(&path, 1000).unwrap();
            log.write_all(b"hello\n").unwrap();
            log.write_all(b"world\n").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\nworld\n");
    }
}
