-- The schema is created by `{{project-name}} migrate` (or the deployment's
-- init script) and owned by the service's role; this records the ownership.
comment on schema {{schema}} is 'Owned by {{project-name}}; no other service reads it.';
