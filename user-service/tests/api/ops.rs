//! The operations surface every service keeps (the kit's suite).

service_kit::ops_tests!(user_service::Application);
