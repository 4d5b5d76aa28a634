//! The bench's clock: `CLOCK_MONOTONIC` in nanoseconds, absolute sleeps, and thread CPU time.
//!
//! Every timestamp the tool writes into a payload or subtracts is a `u64` of nanoseconds on
//! `CLOCK_MONOTONIC` (the clock `std::time::Instant` uses), so times taken on different threads
//! of the process compare directly. Sleeping uses `clock_nanosleep(TIMER_ABSTIME)`, so a late
//! wake-up never accumulates into the schedule, and [`precise_timers`] turns the thread's timer
//! slack down from Linux's default 50 µs to 1 ns.

/// Nanoseconds on `CLOCK_MONOTONIC`.
#[inline]
pub fn now_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// CPU time (user + system) consumed so far by the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only into the timespec we pass; the clock ids used here are
    // always supported on Linux, so it cannot fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleep until `CLOCK_MONOTONIC` reaches `deadline_ns` (returns at once if it already has).
pub fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: clock_nanosleep reads the timespec we pass; with TIMER_ABSTIME the remainder
        // pointer is unused and may be null.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if rc != libc::EINTR {
            return;
        }
    }
}

/// Ask the kernel to wake this thread's timed sleeps within 1 ns of their deadline instead of
/// the default 50 µs slack. Affects only the calling thread.
pub fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_sleeps_do_not_return_early() {
        let a = now_ns();
        precise_timers();
        sleep_until(a + 200_000);
        let b = now_ns();
        assert!(b >= a + 200_000, "slept {} ns", b - a);
        sleep_until(0); // in the past: returns at once
        assert!(thread_cpu_ns() > 0);
    }
}
