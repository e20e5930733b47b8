//! The render threads: a fixed pool, sized like the admission slots, that runs every render.
//!
//! Renders could run on the async runtime's blocking pool, but that pool grows to hundreds of
//! threads, and each thread that once held a 70 MB decode keeps its allocator arena: resident
//! memory then follows the number of threads, not the renders running. A few long-lived
//! threads bound it.

use crate::error::{Code, Coded};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads taking jobs from one queue.
pub struct RenderPool {
    jobs: Mutex<Sender<Job>>,
}

/// A job did not finish: it panicked, or the pool is gone.
#[derive(Debug, thiserror::Error)]
#[error("render thread failed: {0}")]
pub struct PoolError(String);

impl RenderPool {
    /// Starts `threads` (at least one) render threads.
    pub fn new(threads: usize) -> std::io::Result<RenderPool> {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("render-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = rx.lock().expect("render queue lock").recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                })?;
        }
        Ok(RenderPool {
            jobs: Mutex::new(tx),
        })
    }

    /// Runs `work` on a render thread and waits for its result without blocking the caller's
    /// executor. A panic in `work` becomes an error; the thread lives on.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(work)).map_err(|p| {
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into())
            });
            let _ = tx.send(result);
        });
        self.jobs
            .lock()
            .expect("render queue lock")
            .send(job)
            .map_err(|_| PoolError("the render pool has stopped".into()))?;
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => Err(PoolError(panic)),
            Err(_) => Err(PoolError("the render thread went away".into())),
        }
    }
}

impl Coded for PoolError {
    fn code(&self) -> Code {
        Code::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = RenderPool::new(2).unwrap();
        assert_eq!(pool.run(|| 6 * 7).await.unwrap(), 42);
        let err = pool.run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        let names: Vec<String> = futures_names(&pool).await;
        assert!(names.iter().all(|n| n.starts_with("render-")), "{names:?}");
    }

    async fn futures_names(pool: &RenderPool) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..4 {
            out.push(
                pool.run(|| std::thread::current().name().unwrap_or("").to_string())
                    .await
                    .unwrap(),
            );
        }
        out
    }
}
