//! Shared state between push threads. A leaf: depends on nothing else in
//! the crate.

use std::sync::{Mutex, MutexGuard};

/// The guard even when another thread panicked while holding it. Every
/// structure we share is changed by single calls (an insert, a replace),
/// so a panic elsewhere cannot leave it half-written, and that thread's
/// panic is reported on its own; failing every other push too would help
/// no one.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_opens() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("injected");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
