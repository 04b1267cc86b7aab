//! Running Rust work without the GIL while Ctrl-C still interrupts it: the
//! calling thread waits for the work and, every few tens of milliseconds,
//! takes the GIL back to run Python's signal handlers
//! (`PyErr_CheckSignals`). A `KeyboardInterrupt` sets the cancel flag the
//! work polls between batches, and is raised once the work has stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

/// How often signals are checked.
pub const TICK: Duration = Duration::from_millis(50);

/// Set when the caller was interrupted; work stops at its next batch.
#[derive(Debug, Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    /// Whether the work should stop.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Asks the work to stop.
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed)
    }
}

/// Python's pending signals, checked with the GIL (a no-op outside the main
/// thread); an error (`KeyboardInterrupt`) also sets `cancel`.
pub fn check(cancel: &Cancel) -> Option<PyErr> {
    Python::attach(|py| py.check_signals())
        .err()
        .inspect(|_| cancel.set())
}
