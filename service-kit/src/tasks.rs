//! A service's background tasks (outbox relay, reconciler, sweepers,
//! delivery workers), started and stopped in one place.
//!
//! ```ignore
//! async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
//!     let mut tasks = BackgroundTasks::new(&shutdown);
//!     tasks.spawn("outbox relay", |stop| relay.run(stop));
//!     tasks.every("key sweep", Duration::from_secs(300), move || sweep(pool.clone()));
//!     tasks.while_serving(self.server.run(shutdown)).await
//! }
//! ```
//!
//! Every task gets a child of the service's shutdown token. When the server
//! has drained its requests, the tasks are cancelled and awaited; a task
//! that panicked is logged (by name), never silently lost.

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The set of a service's background tasks.
pub struct BackgroundTasks {
    stop: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl BackgroundTasks {
    /// An empty set whose tasks stop when `shutdown` is cancelled (or when
    /// [`BackgroundTasks::stop`] is called).
    pub fn new(shutdown: &CancellationToken) -> Self {
        Self {
            stop: shutdown.child_token(),
            tasks: Vec::new(),
        }
    }

    /// Spawns `task`, handing it the token that tells it to stop.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.stop.clone()));
        self.tasks.push((name, handle));
    }

    /// Spawns a periodic task: waits `interval`, runs `tick` to its end,
    /// and again, until stopped. A tick is never interrupted halfway; the
    /// wait is. `tick` logs its own failures.
    pub fn every<F, Fut>(&mut self, name: &'static str, interval: Duration, mut tick: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        self.spawn(name, move |stop| async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(interval) => {}
                }
                tick().await;
            }
        });
    }

    /// How many tasks run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no task was spawned.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Runs `serve` (the server, until its shutdown) with the tasks
    /// alongside, then stops the tasks and returns what `serve` returned.
    pub async fn while_serving<T>(self, serve: impl Future<Output = T>) -> T {
        let out = serve.await;
        self.stop().await;
        out
    }

    /// Cancels every task and waits for each to end.
    pub async fn stop(self) {
        self.stop.cancel();
        for (name, handle) in self.tasks {
            if let Err(err) = handle.await {
                tracing::error!(task = name, error = %err, "a background task panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn periodic_tasks_tick_until_stopped_and_then_end() {
        let shutdown = CancellationToken::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        let mut tasks = BackgroundTasks::new(&shutdown);
        let counted = Arc::clone(&ticks);
        tasks.every("counter", Duration::from_secs(1), move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        let ended = Arc::new(AtomicUsize::new(0));
        let flag = Arc::clone(&ended);
        tasks.spawn("waiter", move |stop| async move {
            stop.cancelled().await;
            flag.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(tasks.len(), 2);
        let served = tasks
            .while_serving(async {
                tokio::time::sleep(Duration::from_millis(3_500)).await;
                "served"
            })
            .await;
        assert_eq!(served, "served");
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        assert_eq!(ended.load(Ordering::SeqCst), 1, "the waiter was stopped");
        assert!(
            !shutdown.is_cancelled(),
            "only the tasks' own token is cancelled"
        );
    }

    #[tokio::test]
    async fn a_panicking_task_does_not_stop_the_others_from_being_awaited() {
        let shutdown = CancellationToken::new();
        let mut tasks = BackgroundTasks::new(&shutdown);
        tasks.spawn("boom", |_| async { panic!("boom") });
        tasks.spawn("quiet", |stop| async move { stop.cancelled().await });
        shutdown.cancel();
        tasks.stop().await;
    }
}
