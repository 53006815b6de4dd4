//! Binding, serving and graceful shutdown.

use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::ServerSettings;
use crate::middleware::{self, BodyLimits};
use crate::ops::{self, Ops};

/// A bound, ready-to-run HTTP server with the fleet's middleware and
/// operations endpoints around a service's API.
pub struct Server {
    listener: TcpListener,
    router: Router,
    shutdown_timeout: Duration,
}

impl Server {
    /// Binds `settings.host:port` (port 0 picks one) and assembles the app:
    /// the service's `api`, the ops endpoints, `/openapi.json` (finished by
    /// [`crate::openapi::finish`]), `/docs`, and
    /// the middleware stack around all of it.
    pub async fn bind(
        settings: &ServerSettings,
        api: OpenApiRouter,
        ops: Ops,
    ) -> anyhow::Result<Self> {
        Self::bind_with_body_limits(settings, api, ops, BodyLimits::default()).await
    }

    /// [`Server::bind`], allowing the routes `limits` names larger bodies
    /// (uploads).
    pub async fn bind_with_body_limits(
        settings: &ServerSettings,
        api: OpenApiRouter,
        ops: Ops,
        limits: BodyLimits,
    ) -> anyhow::Result<Self> {
        crate::metrics::handle();
        let (api, mut openapi) = api.split_for_parts();
        let (ops_routes, ops_openapi) = ops::router(ops).split_for_parts();
        openapi.merge(ops_openapi);
        crate::openapi::finish(&mut openapi);
        let router = api
            .merge(ops_routes)
            .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi));
        let router = middleware::apply_with(router, settings, limits);
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address}"))?;
        Ok(Self {
            listener,
            router,
            shutdown_timeout: Duration::from_secs(settings.shutdown_timeout_secs),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets
    /// in-flight requests finish (at most the configured drain time), and
    /// returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let address = self.listener.local_addr().ok();
        tracing::info!(address = ?address, "listening");
        let graceful = shutdown.clone();
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { graceful.cancelled().await });
        let drain_limit = self.shutdown_timeout;
        tokio::select! {
            result = serve => result.context("serving HTTP")?,
            () = async { shutdown.cancelled().await; tokio::time::sleep(drain_limit).await } => {
                tracing::warn!(drain_secs = drain_limit.as_secs(), "drain time exceeded; exiting with requests in flight");
            }
        }
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

/// A token cancelled when the process receives SIGTERM or SIGINT; hand
/// clones to background workers so they stop with the server.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        trigger.cancel();
    });
    token
}
