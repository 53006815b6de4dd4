-- What a checkout charges besides its lines: shipping methods, tax rates
-- per destination country, discount codes and their redemptions, and the
-- breakdown each order stores (so its history shows what was charged even
-- after a code or a method changes).

-- Money columns are bounded like catalog prices (10^12 minor units), so
-- no sum of them overflows a bigint.
create table shipping_methods (
    shipping_method_id uuid primary key,
    name               text not null check (char_length(name) between 1 and 100),
    price_cents        bigint not null check (price_cents between 0 and 1000000000000),
    currency           text not null check (currency ~ '^[A-Z]{3}$'),
    -- Shipping is free when the discounted subtotal reaches this.
    free_over_cents    bigint check (free_over_cents between 0 and 1000000000000),
    min_days           integer not null check (min_days between 0 and 365),
    max_days           integer not null check (max_days between 0 and 365),
    -- ISO 3166-1 alpha-2 codes, distinct and sorted (the service writes them so).
    countries          text[] not null
                       check (cardinality(countries) between 1 and 250
                              and array_to_string(countries, ',') ~ '^[A-Z]{2}(,[A-Z]{2})*$'),
    active             boolean not null default true,
    -- Deleted methods are kept (orders name them) but never offered again.
    deleted_at         timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint shipping_methods_days_check check (min_days <= max_days)
);
create index shipping_methods_countries_idx on shipping_methods using gin (countries)
    where deleted_at is null;

-- No row for a country means a rate of 0.
create table tax_rates (
    country    text primary key check (country ~ '^[A-Z]{2}$'),
    rate_bps   integer not null check (rate_bps between 0 and 10000),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table discount_codes (
    discount_code_id   uuid primary key,
    -- Stored upper-case: codes are matched case-insensitively.
    code               text not null check (code ~ '^[A-Z0-9_-]{1,64}$'),
    kind               text not null check (kind in ('percent', 'fixed')),
    -- Percent 1-100, or minor units of `currency` for a fixed code.
    value              bigint not null,
    currency           text check (currency ~ '^[A-Z]{3}$'),
    min_subtotal_cents bigint check (min_subtotal_cents between 0 and 1000000000000),
    starts_at          timestamptz,
    ends_at            timestamptz,
    max_redemptions    integer check (max_redemptions >= 1),
    once_per_customer  boolean not null default false,
    active             boolean not null default true,
    -- Kept equal to the rows of discount_redemptions by a trigger below.
    redemptions        integer not null default 0 check (redemptions >= 0),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint discount_codes_code_key unique (code),
    constraint discount_codes_value_check check (
        (kind = 'percent' and value between 1 and 100 and currency is null)
        or (kind = 'fixed' and value between 1 and 1000000000000 and currency is not null)),
    constraint discount_codes_window_check check (starts_at is null or ends_at is null or starts_at < ends_at),
    -- What makes `max_redemptions` hold under any concurrency: the counter
    -- is raised by the redemption's own insert (trigger), and a raise past
    -- the maximum fails that insert.
    constraint discount_codes_redemptions_within_max
        check (max_redemptions is null or redemptions <= max_redemptions)
);

-- A code held by an order from checkout on; the row is deleted (the
-- redemption given back) when the checkout fails or is compensated, and
-- with the order when a never-charged order is deleted.
create table discount_redemptions (
    order_id          uuid primary key references orders (order_id) on delete cascade,
    discount_code_id  uuid not null references discount_codes (discount_code_id),
    user_id           uuid not null,
    -- The code's rule when it was redeemed.
    once_per_customer boolean not null,
    created_at        timestamptz not null default now()
);
-- A once-per-customer code is held by one order of a customer at most.
create unique index discount_redemptions_once_per_customer_key
    on discount_redemptions (discount_code_id, user_id) where once_per_customer;

create function discount_redemptions_count() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        update discount_codes set redemptions = redemptions + 1
        where discount_code_id = new.discount_code_id;
        return new;
    end if;
    update discount_codes set redemptions = redemptions - 1
    where discount_code_id = old.discount_code_id;
    return old;
end;
$$;

create trigger discount_redemptions_count after insert or delete on discount_redemptions
    for each row execute function discount_redemptions_count();

-- The discount code a user applied to their cart (revalidated at checkout).
create table carts (
    user_id          uuid primary key,
    discount_code_id uuid references discount_codes (discount_code_id),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);

-- The breakdown of an order and what was applied, as charged.
alter table orders
    add column discount_cents       bigint not null default 0 check (discount_cents >= 0),
    add column shipping_cents       bigint not null default 0 check (shipping_cents >= 0),
    add column tax_cents            bigint not null default 0 check (tax_cents >= 0),
    add column tax_rate_bps         integer not null default 0 check (tax_rate_bps between 0 and 10000),
    add column country              text check (country ~ '^[A-Z]{2}$'),
    add column discount_code_id     uuid references discount_codes (discount_code_id),
    add column discount_code        text,
    add column shipping_method_id   uuid references shipping_methods (shipping_method_id),
    add column shipping_method_name text;
-- `total_cents >= subtotal_cents` no longer holds with a discount.
alter table orders drop constraint orders_check;
alter table orders
    add constraint orders_total_breakdown_check
        check (total_cents = subtotal_cents - discount_cents + shipping_cents + tax_cents),
    add constraint orders_discount_within_subtotal_check check (discount_cents <= subtotal_cents),
    add constraint orders_discount_code_check
        check ((discount_code_id is null) = (discount_code is null)
               and (discount_cents = 0 or discount_code_id is not null)),
    add constraint orders_shipping_method_check
        check ((shipping_method_id is null) = (shipping_method_name is null)
               and (shipping_cents = 0 or shipping_method_id is not null));
