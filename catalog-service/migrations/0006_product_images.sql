-- Product images. The bytes live in object storage under a content-addressed
-- key (`<sha256>.<ext>`): `media_objects` has one row per stored object,
-- `product_images` one per image of a product (two products, or one product
-- twice, may show the same object). An object no image uses any more is
-- deleted by the sweep, never inline: the row is what the sweep locks, and
-- the foreign key stops it from deleting an object an image has just
-- started to use.

create table media_objects (
    storage_key  text primary key check (storage_key ~ '^[0-9a-f]{64}\.(jpg|png|webp)$'),
    content_type text not null check (content_type in ('image/jpeg', 'image/png', 'image/webp')),
    bytes        integer not null check (bytes > 0),
    width        integer not null check (width between 1 and 8000),
    height       integer not null check (height between 1 and 8000),
    created_at   timestamptz not null default now(),
    -- Touched by every upload of the same bytes: the sweep's grace period
    -- runs from the last one.
    updated_at   timestamptz not null default now()
);

create table product_images (
    image_id    uuid primary key,
    product_id  uuid not null references products (product_id) on delete cascade,
    storage_key text not null,
    alt         text not null default '' check (char_length(alt) <= 500),
    position    integer not null check (position >= 0),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint product_images_storage_key_fkey foreign key (storage_key)
        references media_objects (storage_key) on delete restrict,
    -- Checked at commit: a reorder rewrites every position in one go.
    constraint product_images_position_key unique (product_id, position)
        deferrable initially deferred
);

-- The sweep's "does any image still use this object" and the foreign key's
-- own check.
create index product_images_storage_key_idx on product_images (storage_key);
-- The sweep's scan: unused objects, oldest touch first.
create index media_objects_updated_idx on media_objects (updated_at);
