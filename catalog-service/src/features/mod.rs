//! The service's features, one module each (routes, service, repository, models).

pub mod categories;
pub mod images;
pub mod inventory;
pub mod products;
pub mod reservations;

/// The name of the constraint a database error violated, if any: errors
/// become client errors by constraint name, never by message matching.
pub(crate) fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`), for PATCH bodies.
pub(crate) fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// Whether `slug` is lower-case words of `[a-z0-9]` joined by single dashes.
pub(crate) fn is_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// A slug made from free text: ASCII letters and digits, lower-cased, other
/// runs of characters collapsed to one dash.
pub(crate) fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dash_separated_lower_case_words() {
        assert!(is_slug("desk-lamps"));
        assert!(is_slug("a1"));
        assert!(!is_slug("Desk"));
        assert!(!is_slug("desk--lamps"));
        assert!(!is_slug("-desk"));
        assert!(!is_slug(""));
    }

    #[test]
    fn slugify_keeps_ascii_words() {
        assert_eq!(slugify("Brass Desk Lamp (60 W)"), "brass-desk-lamp-60-w");
        assert_eq!(slugify("  Été  "), "t");
        assert_eq!(slugify("!!!"), "");
    }
}
