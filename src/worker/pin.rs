//! Pinning worker threads to CPU cores.
//!
//! Worker `i` of a pool goes to core `(i + 1) % cores`, so with more than one core the first
//! core is left to the reactor and the OS. Pinning can fail (a container's CPU set, an OS without
//! affinity); a failure is logged once per process and the worker runs unpinned.

use std::sync::atomic::{AtomicBool, Ordering};

static WARNED: AtomicBool = AtomicBool::new(false);

/// The core worker `index` should run on, out of `cores` (at least 1).
pub(crate) fn core_for(index: usize, cores: usize) -> usize {
    if cores <= 1 {
        0
    } else {
        (index + 1) % cores
    }
}

/// Pin the calling thread for worker `index`; returns the core id, or `None` (logged once).
pub(crate) fn pin_current(index: usize) -> Option<usize> {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    let result = if ids.is_empty() {
        Err("the OS reported no cores".to_string())
    } else {
        let core = ids[core_for(index, ids.len())];
        if core_affinity::set_for_current(core) {
            Ok(core.id)
        } else {
            Err(format!("setting the affinity to core {} failed", core.id))
        }
    };
    match result {
        Ok(id) => {
            log::debug!("worker {index} pinned to core {id}");
            Some(id)
        }
        Err(why) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                log::warn!("cannot pin worker threads ({why}); running unpinned");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_skip_the_first_core_when_there_is_more_than_one() {
        assert_eq!(core_for(0, 1), 0);
        assert_eq!(core_for(3, 1), 0);
        assert_eq!(core_for(0, 2), 1);
        assert_eq!(core_for(1, 2), 0);
        assert_eq!((0..3).map(|i| core_for(i, 4)).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn pinning_never_fails_hard() {
        // Runs on a scratch thread so the test thread's affinity is untouched.
        std::thread::spawn(|| {
            let _ = pin_current(0);
        })
        .join()
        .unwrap();
    }
}
