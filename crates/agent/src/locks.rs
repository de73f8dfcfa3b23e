//! Per-customer turn serialisation: one customer's messages are processed one at a time, in
//! arrival order, whatever channel they come from; different customers run in parallel.
//!
//! Per customer rather than per conversation because the conversation is only known after the
//! lookup that two racing messages would otherwise both perform (and both open a conversation).

use frontline_domain::CustomerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// A map of per-customer async locks that forgets idle entries.
#[derive(Default, Debug)]
pub struct CustomerLocks {
    locks: Mutex<HashMap<CustomerId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a customer's turn runs.
pub struct TurnGuard<'a> {
    owner: &'a CustomerLocks,
    customer: CustomerId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl CustomerLocks {
    /// Wait for the customer's lock.
    pub async fn lock(&self, customer: CustomerId) -> TurnGuard<'_> {
        let mutex = {
            let mut map = self.locks.lock().expect("lock map poisoned");
            map.entry(customer).or_default().clone()
        };
        let guard = mutex.lock_owned().await;
        TurnGuard {
            owner: self,
            customer,
            guard: Some(guard),
        }
    }

    /// How many customers currently have an entry (for tests and metrics).
    pub fn len(&self) -> usize {
        self.locks.lock().expect("lock map poisoned").len()
    }

    /// Whether no customer has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.owner.locks.lock().expect("lock map poisoned");
        // Only the map holds it now: nobody is waiting, so forget it.
        if map
            .get(&self.customer)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.customer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn one_customer_at_a_time_and_idle_entries_are_forgotten() {
        let locks = Arc::new(CustomerLocks::default());
        let running = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let customer = CustomerId::new();
        let mut tasks = vec![];
        for _ in 0..8 {
            let (locks, running, max_seen) = (locks.clone(), running.clone(), max_seen.clone());
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock(customer).await;
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1);
        assert!(locks.is_empty());
    }
}
