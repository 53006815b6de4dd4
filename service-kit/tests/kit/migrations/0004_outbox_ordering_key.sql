-- service_kit::outbox delivers the events with the same ordering key (an
-- order's id) to one receiver in the order they were written: its claim
-- looks for an earlier pending event with the key, through the index.
alter table outbox add column ordering_key text;
create index outbox_in_order_idx
    on outbox (destination, ordering_key, created_at, event_id)
    where ordering_key is not null and delivered_at is null and failed_at is null;
