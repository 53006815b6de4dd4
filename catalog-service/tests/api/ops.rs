//! The operations surface every service keeps (the kit's suite).

service_kit::ops_tests!(catalog_service::Application);
