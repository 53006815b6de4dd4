-- The template's example feature: notes owned by a user.
create table notes (
    note_id    uuid primary key,
    owner_id   uuid not null,
    title      text not null check (char_length(title) between 1 and 200),
    body       text not null check (char_length(body) <= 10000),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Serves the owner's newest-first keyset pagination.
create index notes_owner_created_idx on notes (owner_id, created_at desc, note_id desc);
