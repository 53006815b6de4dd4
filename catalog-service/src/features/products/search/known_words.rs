//! Search texts known to hold only words some product has held.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Search texts every word of which some product's name or description has
/// held. The catalog never forgets a word (`search_lexemes` only grows), so
/// a text once known stays known and need not be checked again: a popular
/// one-word search then costs one statement instead of two. A wrong entry
/// could only cost work, never results: a search that finds nothing is
/// corrected all the same. Bounded: emptied when full.
#[derive(Clone, Default)]
pub struct KnownWords(Arc<Mutex<HashSet<String>>>);

impl KnownWords {
    /// Texts kept before the set starts over.
    const CAPACITY: usize = 10_000;

    /// Whether `q` is known to hold only known words.
    pub fn contains(&self, q: &str) -> bool {
        let key = q.to_lowercase();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key)
    }

    /// Records that every word of `q` is known.
    pub fn insert(&self, q: &str) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= Self::CAPACITY {
            known.clear();
        }
        known.insert(q.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_known_whatever_their_case_and_the_set_stays_bounded() {
        let known = KnownWords::default();
        assert!(!known.contains("Lamp"));
        known.insert("Lamp");
        assert!(known.contains("lamp"));
        for i in 0..KnownWords::CAPACITY {
            known.insert(&format!("word{i}"));
        }
        let size = known.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        assert!(size <= KnownWords::CAPACITY);
    }
}
