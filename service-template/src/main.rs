//! The {{project-name}} binary: `serve` (default), `migrate`, `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::cli::main::<{{crate_name}}::Application>()
}
