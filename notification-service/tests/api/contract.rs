//! The producers' side of the intake contract: what service-kit's outbox
//! sends (`outbox::Notification`) is what the committed OpenAPI document
//! accepts, and the 202 carries the fields they may read.

use service_kit::testing::contract::Provider;

#[test]
fn the_outbox_notification_is_accepted_by_the_intake() {
    let doc = Provider::load(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"));
    doc.assert_request::<service_kit::outbox::Notification>("POST", "/internal/v1/notifications");
    doc.assert_status("POST", "/internal/v1/notifications", 202);
    // user-service's user_deleted, through the same outbox.
    doc.assert_request::<service_kit::outbox::UserDeleted>(
        "POST",
        service_kit::outbox::USER_DELETIONS_PATH,
    );
    doc.assert_status("POST", service_kit::outbox::USER_DELETIONS_PATH, 204);
    for path in [
        ("GET", "/api/v1/notifications"),
        ("GET", "/api/v1/notification-preferences"),
        ("PUT", "/api/v1/notification-preferences"),
        ("GET", "/api/v1/push-subscriptions"),
        ("POST", "/api/v1/push-subscriptions"),
        ("DELETE", "/api/v1/push-subscriptions/{id}"),
        ("GET", "/api/v1/admin/notifications"),
        ("POST", "/api/v1/admin/notifications/{id}/retry"),
    ] {
        doc.assert_operation(path.0, path.1);
    }
}

/// notification-service as a consumer: the contact lookup reads what
/// user-service's committed document promises.
#[test]
fn the_contact_lookup_reads_what_user_service_documents() {
    let users = Provider::load("../user-service/openapi.json");
    users.assert_operation("GET", "/internal/v1/users/{id}");
    users.assert_status("GET", "/internal/v1/users/{id}", 404);
    users.assert_response::<notification_service::features::notifications::contacts::Contact>(
        "GET",
        "/internal/v1/users/{id}",
        200,
    );
}
