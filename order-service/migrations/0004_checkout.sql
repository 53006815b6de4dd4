-- A confirmed order being cancelled is marked `cancelling` while catalog
-- and the provider are called, instead of holding its row lock meanwhile:
-- a shipment cannot start on it, and a second cancel finishes the first.
alter table orders drop constraint orders_saga_step_check;
alter table orders add constraint orders_saga_step_check
    check (saga_step in ('reserving', 'reserved', 'charging', 'charged', 'compensating',
                         'completed', 'failed', 'cancelling'));

-- At most 100 lines per cart, enforced atomically: concurrent inserts for
-- one user are serialised on an advisory lock (held until their
-- transaction ends), then counted. Raising a line that exists is always
-- allowed (the trigger fires before `on conflict` resolves).
create function cart_items_max_lines() returns trigger
language plpgsql as $$
begin
    perform pg_advisory_xact_lock(hashtextextended('cart_items:' || new.user_id::text, 0));
    if exists (select 1 from cart_items
               where user_id = new.user_id and product_id = new.product_id) then
        return new;
    end if;
    if (select count(*) from cart_items where user_id = new.user_id) >= 100 then
        raise exception 'a cart holds at most 100 different products'
            using errcode = 'check_violation', constraint = 'cart_items_max_lines';
    end if;
    return new;
end;
$$;

create trigger cart_items_max_lines before insert on cart_items
    for each row execute function cart_items_max_lines();
