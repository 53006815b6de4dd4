-- Every lexeme any product's searchable text (name and description) has
-- held, stemmed as full-text search stems it. A search whose words must all
-- match and one of which no product has ever held cannot match anything: it
-- goes straight to typo correction instead of scanning for matches that do
-- not exist (`lamb` before `lamp`). Filled by a trigger, so no write path or
-- bulk load can forget it; lexemes are never removed (a stale one only costs
-- that scan).
create table search_lexemes (
    lexeme     text primary key,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

insert into search_lexemes (lexeme)
select distinct lexeme
from products, unnest(tsvector_to_array(search)) as lexeme
order by 1
on conflict (lexeme) do nothing;

create function products_collect_search_lexemes() returns trigger
language plpgsql as $$
begin
    insert into search_lexemes (lexeme)
    select distinct lexeme
    from unnest(tsvector_to_array(new.search)) as lexeme
    -- One insertion order for every transaction: concurrent inserts of the
    -- same new lexemes cannot deadlock.
    order by 1
    on conflict (lexeme) do nothing;
    return new;
end
$$;

create trigger products_collect_search_lexemes
    after insert or update of name, description on products
    for each row execute function products_collect_search_lexemes();
