//! Locking the engine's in-memory tables without giving up on a panic.
//!
//! A poisoned mutex means some thread panicked mid-update of in-memory
//! state. The records on disk are the truth and every request re-checks
//! what it reads, so the engine keeps serving rather than failing every
//! later request. Must never be used where a half-done update could be
//! written to disk unchecked.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the guard of a poisoned mutex as it is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_serves() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
