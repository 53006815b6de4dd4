//! The catalog-service binary: `serve` (default), `migrate`, `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::cli::main::<catalog_service::Application>()
}
