-- Accounts user-service deleted (the `user_deleted` event). A row records
-- that the account's data here was erased: its event id deduplicates
-- redeliveries, intake refuses events about the account, and the erasure
-- sweep re-applies recent erasures to what was written afterwards (an
-- intake or a device registration still in flight). Only ids are kept.
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

-- A user's devices, newest first: listing, and the 20-per-user cap (the
-- oldest beyond it are removed).
create index push_subscriptions_user_idx on push_subscriptions (user_id, created_at desc, subscription_id desc);

-- The retention sweep: finished deliveries by when they finished.
create index deliveries_finished_idx on deliveries (coalesce(sent_at, failed_at))
    where status <> 'pending';
