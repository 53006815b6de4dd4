-- Accounts, their credentials and sessions, preferences, the local signing
-- key, and the outbox of notification events.

create table users (
    user_id       uuid primary key,
    -- Stored normalized (trimmed, lower-case): unique case-insensitively.
    email         text not null check (email = lower(email) and email = btrim(email) and char_length(email) between 3 and 254),
    password_hash text not null check (password_hash like '$argon2id$%'),
    full_name     text not null check (char_length(full_name) between 1 and 200),
    phone         text check (phone ~ '^\+[1-9][0-9]{6,14}$'),
    roles         text[] not null default '{customer}'
                  check (cardinality(roles) >= 1 and roles <@ array['customer', 'admin']::text[]),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint users_email_key unique (email)
);

-- Keyset pagination of the admin listing.
create index users_created_idx on users (created_at, user_id);

-- Refresh tokens: only a SHA-256 of the opaque token is kept. Every login
-- starts a family; each refresh rotates to a new token of the same family.
create table refresh_tokens (
    refresh_token_id uuid primary key,
    family_id        uuid not null,
    user_id          uuid not null references users (user_id) on delete cascade,
    token_hash       bytea not null check (octet_length(token_hash) = 32),
    expires_at       timestamptz not null,
    rotated_at       timestamptz,
    revoked_at       timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint refresh_tokens_token_hash_key unique (token_hash),
    check (expires_at > created_at)
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);

-- Password-reset tokens: single use (used_at), 30 minutes, hash only.
create table password_reset_tokens (
    password_reset_token_id uuid primary key,
    user_id                 uuid not null references users (user_id) on delete cascade,
    token_hash              bytea not null check (octet_length(token_hash) = 32),
    expires_at              timestamptz not null,
    used_at                 timestamptz,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    constraint password_reset_tokens_token_hash_key unique (token_hash),
    check (expires_at > created_at)
);
create index password_reset_tokens_user_idx on password_reset_tokens (user_id);

create table user_preferences (
    user_id          uuid primary key references users (user_id) on delete cascade,
    language         text not null check (char_length(language) between 2 and 35),
    currency         text not null check (currency ~ '^[A-Z]{3}$'),
    timezone         text not null check (char_length(timezone) between 1 and 64),
    marketing_opt_in boolean not null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);

-- Local development only: the signing key generated on first start when no
-- key is configured. One row at most.
create table dev_signing_keys (
    dev_signing_key_id smallint primary key check (dev_signing_key_id = 1),
    private_key_pkcs8  bytea not null,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
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
    check (delivered_at is null or failed_at is null)
);
create index outbox_due_idx on outbox (next_attempt_at)
    where delivered_at is null and failed_at is null;
