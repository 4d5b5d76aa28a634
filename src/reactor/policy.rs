//! What may connect and how a connection is served: the limits, and what the reactor derives
//! from them once (per-connection settings, frame limits, the rate limit), the routes, the
//! access gate, admission, TLS and the permessage-deflate negotiation.

use std::sync::Arc;
use std::time::Duration;

use super::accept::Admission;
use crate::access::Gate;
use crate::config::{CompressionConfig, Limits};
use crate::conn::frames::FrameLimits;
use crate::conn::Settings;
use crate::endpoint::Routes;

/// What may connect and how a connection is served: limits, routes, access, TLS.
pub(super) struct Policy {
    pub(super) limits: Limits,
    pub(super) settings: Settings,
    pub(super) frame_limits: FrameLimits,
    /// Inbound rate limit: (interval between messages, burst tolerance), when set.
    pub(super) rate: Option<(Duration, Duration)>,
    pub(super) routes: Routes,
    pub(super) gate: Gate,
    pub(super) admission: Admission,
    pub(super) tls: Option<Arc<rustls::ServerConfig>>,
    /// `[compression]`: what an upgrade may agree to.
    pub(super) compression: CompressionConfig,
}

impl Policy {
    pub(super) fn new(
        limits: Limits,
        routes: Routes,
        gate: Gate,
        tls: Option<Arc<rustls::ServerConfig>>,
        compression: &CompressionConfig,
    ) -> Policy {
        Policy {
            settings: conn_settings(&limits),
            frame_limits: frame_limits(&limits),
            rate: rate_limit(&limits),
            admission: Admission::new(&limits),
            limits,
            routes,
            gate,
            tls,
            compression: compression.clone(),
        }
    }
}

/// The inbound rate limit as (interval between messages, burst tolerance), if configured.
fn rate_limit(limits: &Limits) -> Option<(Duration, Duration)> {
    (limits.max_messages_per_sec > 0).then(|| {
        let interval = Duration::from_secs(1) / limits.max_messages_per_sec;
        let burst = if limits.message_burst > 0 {
            limits.message_burst
        } else {
            limits.max_messages_per_sec
        };
        (interval, interval * (burst - 1))
    })
}

/// What a connection's state machine needs from the limits.
fn conn_settings(l: &Limits) -> Settings {
    Settings {
        handshake_timeout: l.handshake_timeout,
        close_timeout: l.close_timeout,
        idle_ping: l.idle_ping,
        pong_timeout: l.pong_timeout,
        max_queued_bytes: l.max_queued_bytes,
    }
}

/// The frame parser's limits.
fn frame_limits(limits: &Limits) -> FrameLimits {
    FrameLimits {
        max_frame: limits.max_frame_size,
        max_message: limits.max_message_size,
        max_fragments: limits.max_fragments,
        max_empty_fragments: limits.max_empty_fragments,
    }
}
