-- The schema is created by `catalog-service migrate` (or the deployment's
-- init script) and owned by the service's role; this records the ownership.
comment on schema catalog is 'Owned by catalog-service; no other service reads it.';
