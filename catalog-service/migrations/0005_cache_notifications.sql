-- Every replica keeps product representations and the category tree in
-- memory. Each statement that changes products or categories tells every
-- replica which entries went stale, on channel `catalog_cache`, from inside
-- its transaction: Postgres delivers a NOTIFY at commit only (never for a
-- rolled-back write), and triggers cover every write path, bulk loads
-- included. Payloads: `p:<id>,<id>,...` (at most 100 product ids each),
-- `c` (the category tree), `*` (everything: a statement that touched more
-- than 200 products, or a truncate).

create function notify_products_changed() returns trigger
language plpgsql as $$
declare
    ids text[];
begin
    select array_agg(product_id::text) into ids
    from (select distinct product_id from changed limit 201) c;
    if ids is null then
        return null;
    end if;
    if cardinality(ids) > 200 then
        perform pg_notify('catalog_cache', '*');
    else
        perform pg_notify('catalog_cache', 'p:' || array_to_string(ids[1:100], ','));
        if cardinality(ids) > 100 then
            perform pg_notify('catalog_cache', 'p:' || array_to_string(ids[101:200], ','));
        end if;
    end if;
    return null;
end
$$;

create function notify_cache_flush() returns trigger
language plpgsql as $$
begin
    perform pg_notify('catalog_cache', '*');
    return null;
end
$$;

create function notify_categories_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('catalog_cache', 'c');
    return null;
end
$$;

-- (A trigger with a transition table fires on one kind of event only.)
create trigger products_notify_insert after insert on products
    referencing new table as changed
    for each statement execute function notify_products_changed();
create trigger products_notify_update after update on products
    referencing new table as changed
    for each statement execute function notify_products_changed();
create trigger products_notify_delete after delete on products
    referencing old table as changed
    for each statement execute function notify_products_changed();
create trigger products_notify_truncate after truncate on products
    for each statement execute function notify_cache_flush();

create trigger categories_notify after insert or update or delete or truncate on categories
    for each statement execute function notify_categories_changed();
