//! The catalog-service binary: `serve` (default), `migrate`, `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::cli::run::<catalog_service::Application>()
}
