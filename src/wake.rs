//! Waking the reactor from other threads: its `mio::Waker`, a coalescing flag, and the stop
//! flags. Shared by [`crate::Handle`]s, the workers and the reactor.
//!
//! Contract: a sender calls [`Wake::wake`] after it has queued work; the waker (a syscall) runs
//! only when no wake-up is already pending. The reactor calls [`Wake::clear`] *before* draining
//! its channels, so work queued after the clear wakes it again and nothing is left behind.

use std::sync::atomic::{AtomicBool, Ordering};

use mio::Waker;

/// The reactor's wake-up line and lifecycle flags.
#[derive(Debug)]
pub(crate) struct Wake {
    waker: Waker,
    pending: AtomicBool,
    /// A graceful stop was asked for.
    stop: AtomicBool,
    /// The reactor has stopped (returned from `run`, or was dropped).
    stopped: AtomicBool,
}

impl Wake {
    pub(crate) fn new(waker: Waker) -> Wake {
        Wake {
            waker,
            pending: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    /// Wake the reactor unless a wake-up is already pending.
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    /// Wake the reactor even if a wake-up is pending (a worker waiting on a full channel makes
    /// sure the reactor is awake before waiting again).
    pub(crate) fn wake_now(&self) {
        let _ = self.waker.wake();
    }

    /// The reactor is about to drain its channels: later work needs a new wake-up.
    pub(crate) fn clear(&self) {
        self.pending.store(false, Ordering::Release);
    }

    /// Ask for a graceful stop and wake the reactor.
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// A graceful stop was asked for.
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Mark the reactor as stopped.
    pub(crate) fn set_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// The reactor has stopped.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}
