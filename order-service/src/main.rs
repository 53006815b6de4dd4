//! The order-service binary: `serve` (default), `migrate`, `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::cli::main::<order_service::Application>()
}
