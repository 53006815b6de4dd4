-- service_kit::rate_limit: checkout attempts and declined payments per
-- user, shared by every replica. Keys are SHA-256 digests of the user id;
-- ended windows are deleted by the service's housekeeping.
create table rate_limit_counters (
    scope          text not null check (char_length(scope) between 1 and 64),
    key_digest     bytea not null check (octet_length(key_digest) = 32),
    hits           integer not null check (hits >= 0),
    window_ends_at timestamptz not null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    primary key (scope, key_digest)
);
create index rate_limit_counters_window_idx on rate_limit_counters (window_ends_at);
