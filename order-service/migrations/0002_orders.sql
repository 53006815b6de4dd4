-- Carts, orders and their checkout saga state, idempotency keys, the fake
-- payment provider's ledger, payment webhook events, and the outbox.

create table cart_items (
    user_id    uuid not null,
    product_id uuid not null,
    quantity   integer not null check (quantity between 1 and 99),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (user_id, product_id)
);

create table orders (
    order_id               uuid primary key,
    user_id                uuid not null,
    status                 text not null default 'pending'
                           check (status in ('pending', 'confirmed', 'payment_failed', 'cancelled', 'shipped', 'delivered')),
    -- Where the checkout saga stands; only meaningful while `pending`.
    saga_step              text not null default 'reserving'
                           check (saga_step in ('reserving', 'reserved', 'charging', 'charged', 'compensating', 'completed', 'failed')),
    subtotal_cents         bigint not null default 0 check (subtotal_cents >= 0),
    total_cents            bigint not null default 0 check (total_cents >= 0),
    currency               text not null default 'EUR' check (currency ~ '^[A-Z]{3}$'),
    shipping_address       jsonb not null,
    payment_provider       text not null check (char_length(payment_provider) between 1 and 32),
    payment_status         text not null default 'pending'
                           check (payment_status in ('pending', 'succeeded', 'declined', 'refunded')),
    payment_ref            text,
    refund_cents           bigint check (refund_cents >= 0),
    failure_reason         text,
    -- The checkout's Idempotency-Key (the reconciler settles it with the order).
    idempotency_key        text check (char_length(idempotency_key) between 1 and 255),
    reservation_expires_at timestamptz,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    check (total_cents >= subtotal_cents),
    check (refund_cents is null or refund_cents <= total_cents),
    check (status not in ('confirmed', 'shipped', 'delivered') or payment_status in ('succeeded', 'refunded'))
);
create index orders_user_idx on orders (user_id, order_id desc);
create index orders_status_idx on orders (status, order_id desc);
create index orders_key_idx on orders (user_id, idempotency_key) where idempotency_key is not null;
create index orders_pending_idx on orders (updated_at) where status = 'pending';

create table order_items (
    order_id         uuid not null references orders (order_id) on delete cascade,
    product_id       uuid not null,
    name             text not null,
    unit_price_cents bigint not null check (unit_price_cents >= 0),
    quantity         integer not null check (quantity between 1 and 99),
    line_total_cents bigint not null check (line_total_cents = unit_price_cents * quantity),
    primary key (order_id, product_id)
);

create table idempotency_keys (
    user_id         uuid not null,
    idempotency_key text not null check (char_length(idempotency_key) between 1 and 255),
    request_hash    text not null,
    status          text not null default 'running' check (status in ('running', 'completed')),
    response_status smallint check (response_status between 100 and 599),
    response_body   jsonb,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (user_id, idempotency_key),
    check (status = 'running' or (response_status is not null and response_body is not null))
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);

-- The built-in `fake` payment provider's ledger: one charge per order at most.
create table fake_payments (
    payment_id     uuid primary key,
    order_id       uuid not null unique,
    amount_cents   bigint not null check (amount_cents >= 0),
    currency       text not null check (currency ~ '^[A-Z]{3}$'),
    status         text not null check (status in ('succeeded', 'declined')),
    refunded_cents bigint not null default 0 check (refunded_cents >= 0 and refunded_cents <= amount_cents),
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    check (status = 'succeeded' or refunded_cents = 0)
);

-- Signed provider webhooks, processed once per event id.
create table payment_events (
    event_id    text primary key check (char_length(event_id) between 1 and 255),
    event_type  text not null,
    order_id    uuid,
    payload     jsonb not null,
    received_at timestamptz not null default now()
);

-- service_kit::outbox: notification events written in the same transaction
-- as the change that causes them, delivered by the relay.
create table outbox (
    event_id        uuid primary key,
    payload         jsonb not null,
    attempts        integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    delivered_at    timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    request_id      text,
    check (delivered_at is null or failed_at is null)
);
create index outbox_due_idx on outbox (next_attempt_at)
    where delivered_at is null and failed_at is null;
