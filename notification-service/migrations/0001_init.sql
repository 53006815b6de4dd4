-- The schema is created by `notification-service migrate` (or the deployment's
-- init script) and owned by the service's role; this records the ownership.
comment on schema notifications is 'Owned by notification-service; no other service reads it.';
