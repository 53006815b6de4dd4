//! Pure functions over search text (web-search syntax: `"exact phrase"`,
//! `-exclude`, `or`): how it splits into words, which words a correction
//! may replace, and how the corrected text reads. Stemming and stop words
//! are Postgres's (`english` configuration), asked in SQL, so that the
//! text is always read the way the index was built.

/// Whether web-search text requires several words (`brass lamp`,
/// `"desk lamp"`), as opposed to one word or alternatives (`lamp or rug`).
pub fn several_words(q: &str) -> bool {
    let words = q
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|w| !w.is_empty() && !w.starts_with('-'))
        .collect::<Vec<_>>();
    words.len() > 1 && !words.iter().any(|w| w.eq_ignore_ascii_case("or"))
}

/// The words of web-search text that is only several plain words (letters
/// and digits, no `or`, no quotes, no exclusion): its query is exactly the
/// conjunction of theirs.
pub fn plain_words(q: &str) -> Option<Vec<&str>> {
    let words: Vec<&str> = q.split_whitespace().collect();
    let plain = words.len() > 1
        && words
            .iter()
            .all(|w| w.chars().all(char::is_alphanumeric) && !w.eq_ignore_ascii_case("or"));
    plain.then_some(words)
}

/// Whether every word of web-search text is required (no `or`, no
/// exclusion), so that one unknown word means no match.
pub fn every_word_required(q: &str) -> bool {
    !has_exclusion(q)
        && !q
            .split(|c: char| c.is_whitespace() || c == '"')
            .any(|w| w.eq_ignore_ascii_case("or"))
}

/// Whether web-search text excludes a word (`lamp -brass`).
pub fn has_exclusion(q: &str) -> bool {
    q.split_whitespace()
        .any(|word| word.len() > 1 && word.starts_with('-'))
}

/// The plain words of `q` a correction may replace, lowercased, in order.
pub fn correctable_words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .map(split_token)
        .filter(|(_, core, _)| is_correctable(core))
        .map(|(_, core, _)| core.to_ascii_lowercase())
        .collect()
}

/// A search text with its misspelt words replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// The corrected text, when a word was replaced.
    pub text: Option<String>,
    /// Some word resembles no word of any name.
    pub unknown: bool,
}

/// `q` with its correctable words replaced by `closest` (one entry per
/// word of [`correctable_words`], in order; `None` where no known word is
/// close enough).
pub fn corrected(q: &str, closest: Vec<Option<String>>) -> Correction {
    // No word to correct: nothing resembles the text.
    let mut unknown = closest.is_empty();
    let mut closest = closest.into_iter();
    let mut replaced = false;
    let mut text = Vec::new();
    for (prefix, core, suffix) in q.split_whitespace().map(split_token) {
        let mut word = core.to_owned();
        if is_correctable(core) {
            match closest.next().flatten() {
                Some(term) if !term.eq_ignore_ascii_case(core) => {
                    replaced = true;
                    word = term;
                }
                Some(_) => {}
                None => unknown = true,
            }
        }
        text.push(format!("{prefix}{word}{suffix}"));
    }
    Correction {
        text: replaced.then(|| text.join(" ")),
        unknown,
    }
}

/// `-"desk` -> (`-"`, `desk`, ``).
fn split_token(token: &str) -> (&str, &str, &str) {
    let start = token
        .find(|c: char| c != '-' && c != '"')
        .unwrap_or(token.len());
    let (prefix, rest) = token.split_at(start);
    let end = rest.trim_end_matches('"').len();
    let (core, suffix) = rest.split_at(end);
    (prefix, core, suffix)
}

/// A word a correction may replace: 3-40 ASCII letters, not an operator.
fn is_correctable(word: &str) -> bool {
    (3..=40).contains(&word.len())
        && word.bytes().all(|b| b.is_ascii_alphabetic())
        && !word.eq_ignore_ascii_case("or")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_words_means_a_conjunction() {
        assert!(several_words("brass lamp"));
        assert!(several_words("\"desk lamp\""));
        assert!(!several_words("lamp"));
        assert!(!several_words("lamp -brass"));
        assert!(!several_words("lamp or rug"));
        assert!(has_exclusion("lamp -brass"));
        assert!(!has_exclusion("lamp - brass"));
    }

    #[test]
    fn every_word_is_required_without_or_and_exclusions() {
        assert!(every_word_required("floor lamb"));
        assert!(every_word_required("\"desk lamb\""));
        assert!(!every_word_required("lamb or rug"));
        assert!(!every_word_required("lamp -brasss"));
    }

    #[test]
    fn plain_words_are_letters_and_digits_only() {
        assert_eq!(plain_words("oak  table"), Some(vec!["oak", "table"]));
        assert_eq!(plain_words("Café 60w"), Some(vec!["Café", "60w"]));
        assert_eq!(plain_words("lamp"), None);
        assert_eq!(plain_words("lamp or rug"), None);
        assert_eq!(plain_words("lamp -brass"), None);
        assert_eq!(plain_words("\"desk lamp\""), None);
        assert_eq!(plain_words("desk-lamp rug"), None);
    }

    #[test]
    fn tokens_keep_their_operators_around_the_word() {
        assert_eq!(split_token("-\"desk"), ("-\"", "desk", ""));
        assert_eq!(split_token("lamp\""), ("", "lamp", "\""));
        assert_eq!(split_token("lamb"), ("", "lamb", ""));
        assert_eq!(split_token("--"), ("--", "", ""));
        assert!(is_correctable("Lamb"));
        assert!(!is_correctable("or"));
        assert!(!is_correctable("60w"));
        assert!(!is_correctable("ab"));
    }

    #[test]
    fn correctable_words_skip_operators_digits_and_short_words() {
        assert_eq!(
            correctable_words("-\"Brass lamb\" or 60w xy"),
            vec!["brass", "lamb"]
        );
    }

    #[test]
    fn corrections_replace_words_and_keep_operators() {
        let fixed = corrected(
            "-\"brass lamb\"",
            vec![Some("brass".into()), Some("lamp".into())],
        );
        assert_eq!(fixed.text.as_deref(), Some("-\"brass lamp\""));
        assert!(!fixed.unknown);
        let same = corrected("lamp", vec![Some("lamp".into())]);
        assert_eq!(same.text, None);
        let unknown = corrected("xqzv lamb", vec![None, Some("lamp".into())]);
        assert_eq!(unknown.text.as_deref(), Some("xqzv lamp"));
        assert!(unknown.unknown);
        // No word to correct: nothing resembles the text.
        assert!(corrected("60w", Vec::new()).unknown);
    }
}
