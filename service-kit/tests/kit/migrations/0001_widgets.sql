create table widgets (
    widget_id uuid primary key,
    created_at timestamptz not null default now()
);
