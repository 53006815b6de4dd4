-- Accounts user-service deleted (the `user_deleted` event). A row records
-- that the account's personal data here was erased: its event id
-- deduplicates redeliveries, and the erasure sweep re-applies recent
-- erasures to what a request still in flight (or an access token outliving
-- the account, at most 15 minutes) wrote afterwards. Only ids are kept.
create table erased_users (
    user_id    uuid primary key,
    event_id   uuid not null,
    deleted_at timestamptz not null,
    erased_at  timestamptz not null default now(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint erased_users_event_id_key unique (event_id)
);
create index erased_users_erased_idx on erased_users (erased_at);
