-- service_kit::outbox delivers an event to several receivers (user-service's
-- `user_deleted` goes to order- and notification-service): one row per
-- destination, delivered, retried and given up on its own. The rows written
-- so far are all notifications.
alter table outbox
    add column destination text not null default 'notification-service'
        check (char_length(destination) between 1 and 64),
    add column path text not null default '/internal/v1/notifications'
        check (path like '/internal/%');
alter table outbox
    alter column destination drop default,
    alter column path drop default;
alter table outbox drop constraint outbox_pkey;
alter table outbox add primary key (event_id, destination);
