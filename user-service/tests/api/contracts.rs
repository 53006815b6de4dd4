//! user-service as a consumer: what its outbox relay sends to
//! notification-service matches notification-service's committed OpenAPI
//! document. A breaking change to the intake fails here.

use service_kit::outbox::Notification;
use service_kit::testing::contract::Provider;

#[test]
fn notification_intake_accepts_what_the_outbox_sends() {
    let notifications = Provider::load("../notification-service/openapi.json");
    notifications.assert_request::<Notification>("POST", service_kit::outbox::NOTIFICATIONS_PATH);
    notifications.assert_status("POST", service_kit::outbox::NOTIFICATIONS_PATH, 202);
}
