-- Catalog: a category tree, products with their stock, the audit trail of
-- stock adjustments, and stock reservations made by order-service.

-- Typo-tolerant search (trigram similarity on product names). pg_trgm is a
-- trusted extension: the schema owner may create it in its own schema.
create extension if not exists pg_trgm;

create table categories (
    category_id uuid primary key,
    parent_id   uuid,
    name        text not null check (char_length(name) between 1 and 200),
    slug        text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) <= 100),
    description text not null default '' check (char_length(description) <= 2000),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint categories_slug_key unique (slug),
    constraint categories_parent_id_fkey foreign key (parent_id)
        references categories (category_id) on delete restrict,
    constraint categories_not_own_parent check (parent_id is distinct from category_id)
);

create index categories_parent_idx on categories (parent_id);

create table products (
    product_id  uuid primary key,
    sku         text not null check (char_length(sku) between 1 and 64),
    name        text not null check (char_length(name) between 1 and 200),
    slug        text not null check (char_length(slug) between 1 and 200),
    description text not null default '' check (char_length(description) <= 10000),
    price_cents bigint not null check (price_cents >= 0),
    currency    text not null check (currency ~ '^[A-Z]{3}$'),
    -- Nullable only for deleted products whose category went away later.
    category_id uuid,
    attributes  jsonb not null default '{}' check (jsonb_typeof(attributes) = 'object'),
    active      boolean not null default true,
    deleted_at  timestamptz,
    on_hand     integer not null default 0,
    reserved    integer not null default 0,
    -- Bumped on every change of the editable fields (the ETag's first half).
    version     bigint not null default 1,
    search      tsvector generated always as (
        setweight(to_tsvector('english'::regconfig, name), 'A')
        || setweight(to_tsvector('english'::regconfig, description), 'B')
    ) stored,
    -- The name alone: the first relevance tier (matches in the name).
    name_search tsvector generated always as (to_tsvector('english'::regconfig, name)) stored,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint products_sku_key unique (sku),
    constraint products_slug_key unique (slug),
    constraint products_category_id_fkey foreign key (category_id)
        references categories (category_id) on delete set null,
    constraint products_live_have_category check (deleted_at is not null or category_id is not null),
    constraint products_deleted_are_inactive check (deleted_at is null or not active),
    -- Stock is never negative and never oversold, whatever the concurrency.
    constraint products_on_hand_check check (on_hand >= 0),
    constraint products_stock_check check (reserved >= 0 and reserved <= on_hand)
);

-- Listing: only sellable products are listed, so every listing index is
-- partial on that predicate; each carries product_id as the keyset tiebreak.
create index products_newest_idx on products (created_at desc, product_id desc) where active;
create index products_price_idx on products (price_cents, product_id) where active;
create index products_name_idx on products (name, product_id) where active;
create index products_category_idx on products (category_id, created_at desc, product_id desc) where active;
-- Full-text search (weighted name A > description B) and its name-only
-- first relevance tier; trigram similarity of names for words no known word
-- resembles. Relevance tiers are listed newest first: a common word fills a
-- page from products_newest_idx at once; rarer ones come from these GIN
-- indexes.
create index products_search_idx on products using gin (search) where active;
create index products_name_search_idx on products using gin (name_search) where active;
create index products_name_trgm_idx on products using gin (name gin_trgm_ops) where active;

-- Every stock movement made by a person or a restock, with its reason.
create table inventory_adjustments (
    adjustment_id uuid primary key,
    product_id    uuid not null references products (product_id) on delete restrict,
    delta         integer not null check (delta <> 0),
    reason        text not null check (char_length(reason) between 1 and 500),
    -- The admin's user id, or null for a service (restock).
    actor_id      uuid,
    actor         text not null,
    on_hand_after integer not null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

create index inventory_adjustments_product_idx on inventory_adjustments (product_id, created_at desc);

create table reservations (
    reservation_id uuid primary key,
    status         text not null default 'active'
        check (status in ('active', 'committed', 'released', 'expired')),
    expires_at     timestamptz not null,
    created_by     text not null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);

-- The sweeper's scan: active reservations by expiry.
create index reservations_expiry_idx on reservations (expires_at) where status = 'active';

create table reservation_items (
    reservation_id   uuid not null references reservations (reservation_id) on delete cascade,
    product_id       uuid not null references products (product_id) on delete restrict,
    quantity         integer not null check (quantity > 0),
    -- The authoritative price and name at reservation time.
    unit_price_cents bigint not null check (unit_price_cents >= 0),
    currency         text not null check (currency ~ '^[A-Z]{3}$'),
    name             text not null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (reservation_id, product_id)
);

create index reservation_items_product_idx on reservation_items (product_id);

-- Restocks of cancelled orders, recorded once per reference.
create table restocks (
    reference_id uuid primary key,
    created_by   text not null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);

create table restock_items (
    reference_id uuid not null references restocks (reference_id) on delete cascade,
    product_id   uuid not null references products (product_id) on delete restrict,
    quantity     integer not null check (quantity > 0),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (reference_id, product_id)
);

-- The words of product names, for typo correction: a misspelt word of a
-- search that found nothing is replaced by the closest known word (`lamb`
-- -> `lamp`), looked up by trigram distance in this small table rather than
-- across every product name. Filled by a trigger, so no write path (or bulk
-- load) can forget it; words are never removed (a stale word only costs a
-- search with no results).
create table search_terms (
    term       text primary key check (term ~ '^[a-z]{3,40}$'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index search_terms_trgm_idx on search_terms using gist (term gist_trgm_ops);

create function products_collect_search_terms() returns trigger
language plpgsql as $$
begin
    insert into search_terms (term)
    select distinct lower(word)
    from regexp_split_to_table(new.name, '[^[:alpha:]]+') as word
    where lower(word) ~ '^[a-z]{3,40}$'
    -- One insertion order for every transaction: concurrent inserts of the
    -- same new words cannot deadlock.
    order by 1
    on conflict (term) do nothing;
    return new;
end
$$;

create trigger products_collect_search_terms
    after insert or update of name on products
    for each row execute function products_collect_search_terms();
