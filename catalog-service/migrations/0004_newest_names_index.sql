-- A one-word search looks for its first page among the newest products
-- (products_newest_idx, in listing order) and keeps those whose name
-- matches. With the names' tsvector in the index, that probe reads the index
-- alone (an index-only scan) instead of one table page per product it
-- looks at. Names are at most 200 characters, so the vector always fits in
-- an index row.
drop index products_newest_idx;
create index products_newest_idx on products (created_at desc, product_id desc)
    include (name_search) where active;
