//! Admission control for renders: at most one render per core runs at once, a bounded number
//! wait (each no longer than a deadline), and a memory budget caps the pixels in flight, so
//! concurrency × image size can never exhaust memory. Beyond that the caller answers 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Code, Coded};
use crate::iiif::Plan;

/// Why a render was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Overloaded {
    #[error("server busy: {0} renders already waiting")]
    QueueFull(usize),
    #[error("server busy: no render slot within {0} ms")]
    Deadline(u64),
}

/// Settings of the gate.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    /// Renders running at once.
    pub concurrent: usize,
    /// Renders allowed to wait for a slot.
    pub queue_depth: usize,
    /// Longest wait for a slot.
    pub deadline: Duration,
    /// Bytes of pixel buffers all running renders may hold together.
    pub memory_budget: u64,
}

/// Budget permits are counted in KiB, so u32 permits cover terabytes.
const UNIT: u64 = 1024;

/// The gate. Hold the returned [`Admitted`] while rendering.
pub struct Admission {
    limits: AdmissionLimits,
    slots: Arc<Semaphore>,
    budget: Arc<Semaphore>,
    budget_units: usize,
    waiting: AtomicUsize,
}

/// Permission to render; releases its slot and budget when dropped.
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
    _budget: OwnedSemaphorePermit,
}

/// Working memory a plan needs, estimated from its pixel counts: the decoded image (up to
/// 8 bytes a pixel for 16-bit RGBA), the resized one and a rotated copy (RGBA, 8-bit or
/// 16-bit alike counted at 8 bytes).
pub fn estimated_bytes(plan: &Plan) -> u64 {
    let decoded = plan.decoded_pixels();
    let (w, h) = plan.scaled;
    let (rw, rh) = plan.output_size();
    8 * (decoded + w as u64 * h as u64 + rw as u64 * rh as u64)
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Admission {
        // Bounded by u32 too: acquire_many takes a u32.
        let units = (limits.memory_budget / UNIT).clamp(1, u32::MAX as u64) as usize;
        Admission {
            limits,
            slots: Arc::new(Semaphore::new(limits.concurrent.max(1))),
            budget: Arc::new(Semaphore::new(units)),
            budget_units: units,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits (up to the deadline) for a render slot and `bytes` of budget. A render larger
    /// than the whole budget is admitted alone rather than never.
    pub async fn admit(&self, bytes: u64) -> Result<Admitted, Overloaded> {
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = scopeguard(|| {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        });
        if queued >= self.limits.queue_depth && self.slots.available_permits() == 0 {
            return Err(Overloaded::QueueFull(queued));
        }
        let units = (bytes.div_ceil(UNIT) as usize).clamp(1, self.budget_units);
        let wait = async {
            let slot = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let budget = self
                .budget
                .clone()
                .acquire_many_owned(units as u32)
                .await
                .expect("never closed");
            Admitted {
                _slot: slot,
                _budget: budget,
            }
        };
        tokio::time::timeout(self.limits.deadline, wait)
            .await
            .map_err(|_| Overloaded::Deadline(self.limits.deadline.as_millis() as u64))
    }

    /// Renders waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// Runs `f` when dropped (also when the waiting future is cancelled).
fn scopeguard<F: FnMut()>(f: F) -> impl Drop {
    struct Guard<F: FnMut()>(F);
    impl<F: FnMut()> Drop for Guard<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    Guard(f)
}

impl Coded for Overloaded {
    fn code(&self) -> Code {
        Code::Overloaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(
        concurrent: usize,
        queue_depth: usize,
        deadline_ms: u64,
        budget: u64,
    ) -> Arc<Admission> {
        Arc::new(Admission::new(AdmissionLimits {
            concurrent,
            queue_depth,
            deadline: Duration::from_millis(deadline_ms),
            memory_budget: budget,
        }))
    }

    #[tokio::test]
    async fn full_queue_is_refused_at_once() {
        let g = gate(1, 1, 10_000, 1 << 30);
        let running = g.admit(1).await.unwrap();
        let g2 = g.clone();
        let waiter = tokio::spawn(async move { g2.admit(1).await.map(|_| ()) });
        while g.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(g.admit(1).await.err(), Some(Overloaded::QueueFull(1)));
        drop(running);
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(g.waiting(), 0);
    }

    #[tokio::test]
    async fn waiting_past_the_deadline_is_refused() {
        let g = gate(1, 10, 20, 1 << 30);
        let _running = g.admit(1).await.unwrap();
        assert_eq!(g.admit(1).await.err(), Some(Overloaded::Deadline(20)));
    }

    #[tokio::test]
    async fn the_memory_budget_limits_big_renders() {
        let g = gate(4, 10, 20, 100 << 20);
        let big = g.admit(80 << 20).await.unwrap();
        // Slots are free, but 80 + 30 MiB exceed the 100 MiB budget.
        assert_eq!(
            g.admit(30 << 20).await.err(),
            Some(Overloaded::Deadline(20))
        );
        assert!(g.admit(10 << 20).await.is_ok());
        drop(big);
        // Larger than the whole budget: runs alone instead of never.
        assert!(g.admit(500 << 20).await.is_ok());
    }
}
