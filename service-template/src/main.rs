//! The {{project-name}} binary: `serve` (default), `migrate`, `healthcheck`.

fn main() -> std::process::ExitCode {
    service_kit::cli::run::<{{crate_name}}::Application>()
}
