//! Product listing and search: the flow (`service.rs`), the statement built
//! at run time (`query.rs`), the fixed statements of typo correction
//! (`repository.rs`), the keyset cursor (`cursor.rs`), and the pure text
//! functions (`text.rs`, `memory.rs`).

mod cursor;
mod memory;
mod query;
mod repository;
mod service;
mod text;

pub use cursor::{CursorKey, MatchMode, ProductCursor};
pub use memory::SearchMemory;
pub use service::{Catalog, SearchError, list};
