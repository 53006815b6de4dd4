//! user-service as a consumer: what its outbox relay sends to
//! notification-service (notifications, `user_deleted`) and order-service
//! (`user_deleted`) matches their committed OpenAPI documents. A breaking
//! change to a receiver fails here.

use service_kit::outbox::{Notification, USER_DELETIONS_PATH, UserDeleted};
use service_kit::testing::contract::Provider;

#[test]
fn notification_intake_accepts_what_the_outbox_sends() {
    let notifications = Provider::load("../notification-service/openapi.json");
    notifications.assert_request::<Notification>("POST", service_kit::outbox::NOTIFICATIONS_PATH);
    notifications.assert_status("POST", service_kit::outbox::NOTIFICATIONS_PATH, 202);
}

#[test]
fn every_erasure_receiver_accepts_the_user_deleted_event() {
    for provider in [
        "../notification-service/openapi.json",
        "../order-service/openapi.json",
    ] {
        let receiver = Provider::load(provider);
        receiver.assert_request::<UserDeleted>("POST", USER_DELETIONS_PATH);
        receiver.assert_status("POST", USER_DELETIONS_PATH, 204);
        receiver.assert_status("POST", USER_DELETIONS_PATH, 403);
    }
}
