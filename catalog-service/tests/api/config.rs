//! Start-up rules, through the real binary's `check-config` with nothing but
//! the given environment.

use service_kit::testing::{assert_startup_rules, check_config};

const BIN: &str = env!("CARGO_BIN_EXE_catalog-service");

#[test]
fn production_refuses_the_default_database_password() {
    assert_startup_rules(
        BIN,
        &[
            ("APP__ENVIRONMENT", "production"),
            (
                "APP__DATABASE__URL",
                "postgres://catalog_service:Hn4c8Vz2Qw6pLx0r@db.internal:5432/shop",
            ),
        ],
        &[
            ("APP__DATABASE__URL", None),
            (
                "APP__DATABASE__URL",
                Some("postgres://catalog_service:catalog_service_local_only@postgres:5432/shop"),
            ),
            (
                "APP__DATABASE__URL",
                Some("postgres://catalog_service:catalog_service@db.internal:5432/shop"),
            ),
        ],
    );
}

#[test]
fn the_local_defaults_start_locally() {
    let check = check_config(BIN, &[]);
    assert!(check.accepted, "{}", check.output);
}
