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
            ("APP__MEDIA__BACKEND", "s3"),
            ("APP__MEDIA__S3__BUCKET", "shop-media"),
            ("APP__MEDIA__S3__ACCESS_KEY_ID", "AKIA4Q7XKZ2M3N5P6R8T"),
            (
                "APP__MEDIA__S3__SECRET_ACCESS_KEY",
                "u7Gm2Qx9Lr4Tz8Wc1Vb6Hn3Jk5Pd0Fs2Ya7Ee4Ro",
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

#[test]
fn production_refuses_local_media_storage_and_default_s3_keys() {
    assert_startup_rules(
        BIN,
        &[
            ("APP__ENVIRONMENT", "production"),
            (
                "APP__DATABASE__URL",
                "postgres://catalog_service:Hn4c8Vz2Qw6pLx0r@db.internal:5432/shop",
            ),
            ("APP__MEDIA__BACKEND", "s3"),
            ("APP__MEDIA__S3__BUCKET", "shop-media"),
            ("APP__MEDIA__S3__ACCESS_KEY_ID", "AKIA4Q7XKZ2M3N5P6R8T"),
            (
                "APP__MEDIA__S3__SECRET_ACCESS_KEY",
                "u7Gm2Qx9Lr4Tz8Wc1Vb6Hn3Jk5Pd0Fs2Ya7Ee4Ro",
            ),
        ],
        &[
            // The filesystem backend on the container's (read-only) root.
            ("APP__MEDIA__BACKEND", Some("filesystem")),
            ("APP__MEDIA__S3__ACCESS_KEY_ID", None),
            ("APP__MEDIA__S3__SECRET_ACCESS_KEY", Some("change-me")),
        ],
    );
    // A mounted volume, said so explicitly, is accepted.
    let check = check_config(
        BIN,
        &[
            ("APP__ENVIRONMENT", "production"),
            (
                "APP__DATABASE__URL",
                "postgres://catalog_service:Hn4c8Vz2Qw6pLx0r@db.internal:5432/shop",
            ),
            ("APP__MEDIA__BACKEND", "filesystem"),
            ("APP__MEDIA__PATH", "/var/lib/catalog-media"),
            ("APP__MEDIA__MOUNTED_VOLUME", "true"),
        ],
    );
    assert!(check.accepted, "{}", check.output);
}
