-- The schema is created by `user-service migrate` (or the deployment's
-- init script) and owned by the service's role; this records the ownership.
comment on schema users is 'Owned by user-service; no other service reads it.';
