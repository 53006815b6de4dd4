-- service_kit::outbox and service_kit::idempotency: the tables each service
-- creates in its own schema (their module docs). The kit's query macros are
-- checked against these columns (`cargo xtask sqlx prepare`).
create table outbox (
    event_id        uuid not null,
    destination     text not null,
    path            text not null,
    payload         jsonb not null,
    attempts        integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    delivered_at    timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    request_id      text,
    primary key (event_id, destination),
    check (delivered_at is null or failed_at is null)
);
create index outbox_due_idx on outbox (next_attempt_at)
    where delivered_at is null and failed_at is null;

create table idempotency_keys (
    user_id         uuid not null,
    idempotency_key text not null check (char_length(idempotency_key) between 1 and 255),
    request_hash    text not null,
    status          text not null default 'running' check (status in ('running', 'completed')),
    response_status smallint check (response_status between 100 and 599),
    response_body   jsonb,
    claim_id        uuid not null default gen_random_uuid(),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (user_id, idempotency_key),
    check (status = 'running' or (response_status is not null and response_body is not null))
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);
