//! The user-service binary: `serve` (default), `migrate`, `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::cli::main::<user_service::Application>()
}
