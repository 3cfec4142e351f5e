//! "Did you mean" suggestions.

/// The candidate closest to `word`, if one is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, c)| *score >= 0.8 && *c != word)
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
