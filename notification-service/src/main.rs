//! The notification-service binary: `serve` (default), `migrate`, `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::cli::main::<notification_service::Application>()
}
