-- Preferences, push subscriptions, notifications (one per producer event)
-- and their deliveries (one per channel and target), which are the queue.

create table preferences (
    user_id    uuid primary key,
    email      boolean not null default true,
    sms        boolean not null default false,
    push       boolean not null default false,
    marketing  boolean not null default false,
    updated_at timestamptz not null default now()
);

create table push_subscriptions (
    subscription_id uuid primary key,
    user_id    uuid not null,
    platform   text not null check (platform in ('android', 'ios', 'web')),
    -- Real registration tokens are a few hundred characters; the bound keeps
    -- every token within a btree index row.
    token      text not null check (length(token) between 1 and 1024),
    created_at timestamptz not null default now(),
    -- A device belongs to the user who registered it last: a token shared
    -- by two accounts would push one user's orders to the other's device.
    constraint push_subscriptions_token_key unique (token)
);

create table notifications (
    notification_id uuid primary key,
    event_id   uuid not null,
    user_id    uuid,
    template   text not null check (template in
                   ('welcome', 'password_reset', 'order_confirmed', 'order_cancelled', 'payment_failed')),
    producer   text not null,
    data       jsonb not null,
    created_at timestamptz not null default now(),
    constraint notifications_event_id_key unique (event_id)
);

create table deliveries (
    delivery_id     uuid primary key,
    notification_id uuid not null references notifications (notification_id) on delete cascade,
    user_id         uuid,
    template        text not null,
    channel         text not null check (channel in ('email', 'sms', 'push')),
    target          text not null check (length(target) > 0),
    subject         text not null,
    body_text       text not null,
    body_html       text,
    status          text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts        integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default now(),
    claimed_until   timestamptz,
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint deliveries_notification_channel_target_key unique (notification_id, channel, target),
    check ((status = 'sent') = (sent_at is not null)),
    check ((status = 'failed') = (failed_at is not null)),
    check (channel <> 'email' or body_html is not null)
);

-- The queue: due pending deliveries, oldest first.
create index deliveries_due_idx on deliveries (next_attempt_at) where status = 'pending';
-- A user's history, newest first (ids are UUIDv7: time-ordered).
create index deliveries_user_idx on deliveries (user_id, delivery_id desc) where user_id is not null;
-- The admin list by status.
create index deliveries_status_idx on deliveries (status, delivery_id desc);
