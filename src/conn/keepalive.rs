//! Keepalive of accepted connections and the inbound rate limit: pure functions of the
//! connection's times and the instant they are asked about (time is passed in).

use std::time::{Duration, Instant};

use super::frames::{self, CloseReason};
use super::{Settings, TimerVerdict};

/// The inbound rate limit, as a generic cell rate algorithm: admit `n` (at least 1) messages
/// arriving at `now` unless the last of them is more than `tolerance` ahead of its theoretical
/// arrival time; admitted messages move the theoretical arrival time `tat` on by one `interval`
/// each. With `tolerance = (burst - 1) × interval` a client may send `burst` messages at once,
/// then one per `interval`.
pub(crate) fn rate_admit(
    tat: &mut Instant,
    now: Instant,
    n: u32,
    interval: Duration,
    tolerance: Duration,
) -> bool {
    let last = (*tat).max(now) + interval * n.saturating_sub(1);
    if last.duration_since(now) > tolerance {
        return false;
    }
    *tat = last + interval;
    true
}

/// Keepalive: ping after `idle_ping` without input; close if nothing arrives within
/// `pong_timeout` of the ping. Anything received counts as proof of life.
pub(crate) fn keepalive(
    now: Instant,
    last_rx: Instant,
    ping_sent: &mut Option<Instant>,
    limits: &Settings,
) -> TimerVerdict {
    if let Some(sent) = *ping_sent {
        if last_rx >= sent {
            *ping_sent = None;
        } else if now >= sent + limits.pong_timeout {
            return TimerVerdict::Close(CloseReason::new(
                frames::CLOSE_AWAY,
                "keepalive timeout: no pong",
            ));
        } else {
            return TimerVerdict::Rearm(sent + limits.pong_timeout);
        }
    }
    if limits.idle_ping.is_zero() {
        return TimerVerdict::Idle;
    }
    let due = last_rx + limits.idle_ping;
    if now >= due {
        *ping_sent = Some(now);
        TimerVerdict::Ping(now + limits.pong_timeout)
    } else {
        TimerVerdict::Rearm(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Settings {
        Settings {
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            idle_ping: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            max_queued_bytes: 1 << 20,
        }
    }

    #[test]
    fn keepalive_pings_after_idle_and_closes_without_pong() {
        let l = limits();
        let t0 = Instant::now();
        let mut sent = None;
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(keepalive(at(10), t0, &mut sent, &l), TimerVerdict::Rearm(at(30)));
        assert_eq!(keepalive(at(30), t0, &mut sent, &l), TimerVerdict::Ping(at(40)));
        assert_eq!(sent, Some(at(30)));
        assert_eq!(keepalive(at(35), t0, &mut sent, &l), TimerVerdict::Rearm(at(40)));
        match keepalive(at(40), t0, &mut sent, &l) {
            TimerVerdict::Close(r) => assert_eq!(r.code, 1001),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keepalive_is_satisfied_by_any_input() {
        let l = limits();
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut sent = Some(at(30));
        // A pong (or any frame) arrived at 33: the next ping is due 30 s after it.
        assert_eq!(keepalive(at(40), at(33), &mut sent, &l), TimerVerdict::Rearm(at(63)));
        assert_eq!(sent, None);
    }

    #[test]
    fn rate_admits_a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let (interval, tolerance) = (ms(100), ms(200)); // 10/s, burst 3
        let mut tat = t0;
        let admitted: Vec<bool> =
            (0..4).map(|_| rate_admit(&mut tat, t0, 1, interval, tolerance)).collect();
        assert_eq!(admitted, [true, true, true, false]);
        assert!(!rate_admit(&mut tat, t0 + ms(50), 1, interval, tolerance));
        assert!(rate_admit(&mut tat, t0 + ms(100), 1, interval, tolerance));
        // A long pause refills the burst, no more.
        let later = t0 + Duration::from_secs(10);
        let admitted: Vec<bool> =
            (0..4).map(|_| rate_admit(&mut tat, later, 1, interval, tolerance)).collect();
        assert_eq!(admitted, [true, true, true, false]);
        // Batches count message by message: a burst of 3 at once passes, 4 do not.
        let mut tat = t0;
        assert!(rate_admit(&mut tat, t0, 3, interval, tolerance));
        assert!(!rate_admit(&mut tat, t0, 1, interval, tolerance));
        let mut tat = t0;
        assert!(!rate_admit(&mut tat, t0, 4, interval, tolerance));
        assert_eq!(tat, t0, "a refused batch takes nothing");
    }

    #[test]
    fn keepalive_can_be_disabled() {
        let l = Settings { idle_ping: Duration::ZERO, ..limits() };
        let t0 = Instant::now();
        assert_eq!(
            keepalive(t0 + Duration::from_secs(3600), t0, &mut None, &l),
            TimerVerdict::Idle
        );
    }
}
