//! Output of builds and checks, made fit to show: the tails kept in memory go to the
//! console, results files and reports, so terminal escape sequences (colours, window
//! titles) and other control characters are dropped from them. The full logs keep the
//! bytes as they came.

/// `line` without ANSI escape sequences and control characters (tabs are kept).
pub fn printable(line: &str) -> String {
    console::strip_ansi_codes(line)
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_titles_and_control_characters_are_dropped() {
        assert_eq!(printable("\u{1b}[91moops\u{1b}[0m"), "oops");
        assert_eq!(printable("\u{1b}]0;title\u{7}after"), "after");
        assert_eq!(printable("a\tb\u{8}c\r"), "a\tbc");
        assert_eq!(printable("plain ünïcode"), "plain ünïcode");
    }
}
