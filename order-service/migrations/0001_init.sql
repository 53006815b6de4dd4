-- The schema is created by `order-service migrate` (or the deployment's
-- init script) and owned by the service's role; this records the ownership.
comment on schema orders is 'Owned by order-service; no other service reads it.';
