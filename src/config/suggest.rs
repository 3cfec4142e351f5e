//! "Did you mean" suggestions.

/// The candidate closest to `word`, if one is close enough to be a likely typo: a
/// Jaro-Winkler similarity of at least 0.8, or one edit or swap of neighbours away from
/// a word of three letters or more (short words: `dri` for `dir` scores only 0.56).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let one_edit = |c: &str| {
        word.chars().count() >= 3 && c.chars().count() >= 3 && strsim::osa_distance(word, c) == 1
    };
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, c)| (*score >= 0.8 || one_edit(c)) && *c != word)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_owned())
}

/// A help line: "did you mean `x`?" or a list of what is allowed.
pub fn help(word: &str, candidates: &[&str], what: &str) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if candidates.is_empty() => format!("there are no {what} here"),
        None => format!("expected one of the {what}: {}", quoted_list(candidates)),
    }
}

pub fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(
            closest("neds", ["needs", "include"]),
            Some("needs".to_owned())
        );
        assert_eq!(closest("zzz", ["needs", "include"]), None);
        assert_eq!(
            closest("dri", ["key", "dir", "path"]),
            Some("dir".to_owned()),
            "a swap in a short word"
        );
        assert_eq!(
            closest("ab", ["ba"]),
            None,
            "two letters are too few to guess"
        );
    }

    #[test]
    fn help_lists_candidates_when_nothing_is_close() {
        assert_eq!(
            help("qqq", &["a", "b"], "steps"),
            "expected one of the steps: `a`, `b`"
        );
        assert_eq!(help("stpe", &["step"], "nodes"), "did you mean `step`?");
    }
}
