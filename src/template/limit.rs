//! The per-template budget of cache-miss renders: a fixed one-minute window per template
//! name, so one template (or someone hammering it with fresh field values) cannot take every
//! render thread. The clock is a parameter.

use std::collections::HashMap;
use std::sync::Mutex;

/// Renders allowed per template per minute.
pub struct RenderBudget {
    per_minute: u32,
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

impl RenderBudget {
    /// `per_minute` renders per template; 0 means no limit.
    pub fn new(per_minute: u32) -> RenderBudget {
        RenderBudget {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The configured renders per template per minute.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one render for `template` at `now` (Unix seconds), or says how many seconds
    /// until the next window opens.
    pub fn take(&self, template: &str, now: u64) -> Result<(), u64> {
        self.take_within(template, now, self.per_minute)
    }

    /// [`Self::take`] with the template's own limit (its project's setting).
    pub fn take_within(&self, template: &str, now: u64, per_minute: u32) -> Result<(), u64> {
        if per_minute == 0 {
            return Ok(());
        }
        let minute = now / 60;
        let mut windows = self.windows.lock().expect("render budget lock");
        // Forget other templates' past windows, so names cannot pile up.
        windows.retain(|_, (m, _)| *m == minute);
        let (_, used) = windows.entry(template.to_string()).or_insert((minute, 0));
        if *used >= per_minute {
            return Err(60 - now % 60);
        }
        *used += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_gets_its_budget_each_minute() {
        let b = RenderBudget::new(2);
        assert_eq!(b.take("a", 600), Ok(()));
        assert_eq!(b.take("a", 610), Ok(()));
        assert_eq!(b.take("a", 615), Err(45));
        assert_eq!(b.take("b", 615), Ok(()), "budgets are per template");
        assert_eq!(b.take("a", 660), Ok(()), "a new minute");
        let unlimited = RenderBudget::new(0);
        assert!((0..1000).all(|_| unlimited.take("a", 1).is_ok()));
    }
}
