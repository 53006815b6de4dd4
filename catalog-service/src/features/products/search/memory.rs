//! What searches learnt about search texts, kept in the process because it
//! stays true (or, when it stops being true, only costs work).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// What searches learnt about texts; each set is bounded (emptied when
/// full), and a text is looked up whatever its case.
#[derive(Clone, Default)]
pub struct SearchMemory {
    /// Texts every word of which some product's name or description has
    /// held. The catalog never forgets a word (`search_lexemes` only
    /// grows), so such a text stays known: a popular one-word search then
    /// costs one statement instead of two.
    pub known_words: TextSet,
    /// Texts every correctable word of which is a word of some product
    /// name, so that a typo correction leaves them as they are (the words
    /// of names, `search_terms`, only grow too): when they match nothing,
    /// the answer is empty without the correction's statement.
    pub name_words: TextSet,
    /// Several-word texts whose matches overflowed the capped ranked read:
    /// their next searches go tier by tier at once, without that read.
    /// Tier by tier is exact too, so a text that stopped being crowded (its
    /// products were deleted) only costs a little more work.
    pub crowded: TextSet,
}

/// A bounded set of search texts, compared case-insensitively.
#[derive(Clone, Default)]
pub struct TextSet(Arc<Mutex<HashSet<String>>>);

impl TextSet {
    /// Texts kept before the set starts over.
    const CAPACITY: usize = 10_000;

    /// Whether `q` is in the set.
    pub fn contains(&self, q: &str) -> bool {
        let key = q.to_lowercase();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key)
    }

    /// Adds `q`, emptying the set first when it is full.
    pub fn insert(&self, q: &str) {
        let key = q.to_lowercase();
        let mut texts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if texts.len() >= Self::CAPACITY && !texts.contains(&key) {
            texts.clear();
        }
        texts.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_found_whatever_their_case_and_the_set_stays_bounded() {
        let texts = TextSet::default();
        assert!(!texts.contains("Lamp"));
        texts.insert("Lamp");
        assert!(texts.contains("lamp"));
        for i in 0..TextSet::CAPACITY {
            texts.insert(&format!("word{i}"));
        }
        let size = texts.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        assert!(size <= TextSet::CAPACITY);
        // A text already there does not empty a full set.
        texts.insert(&format!("word{}", TextSet::CAPACITY - 1));
        assert!(texts.contains("word9999"));
    }
}
