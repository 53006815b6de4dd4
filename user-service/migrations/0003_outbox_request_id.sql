-- The request that wrote an outbox event; its delivery carries the same
-- X-Request-ID, so one id follows a request into notification-service.
alter table outbox add column request_id text;
