-- Which request holds a running key. A request that claims or takes over a
-- key writes its own claim id; it stores its answer or releases the key
-- only while the claim is still its own, so a request that outlived its
-- lease cannot overwrite (or delete) the key of the request that took it
-- over. Rows from before this migration get an id no request holds.
alter table idempotency_keys add column claim_id uuid not null default gen_random_uuid();
