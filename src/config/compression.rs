//! The `[compression]` table: permessage-deflate (RFC 7692) on accepted WebSocket connections.
//!
//! ```toml
//! [compression]
//! enabled = true                  # accept permessage-deflate when a client offers it
//! min_size = 256                  # smaller messages are sent uncompressed
//! level = 2                       # DEFLATE level, 1 (fastest) … 9 (smallest)
//! client_context_takeover = false # true: clients may keep their context (per-connection memory)
//! client_max_window_bits = 15     # with client_context_takeover: the largest client window
//! ```
//!
//! The user's page is `docs/compression.md`.

use serde::Deserialize;

use super::de_size;

/// The `[compression]` table. Every field has a documented default; `validate` checks ranges.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionConfig {
    /// Accept a client's `permessage-deflate` offer. Default `true`. A message is compressed
    /// once for all its subscribers, and (by default) nothing is kept per connection.
    pub enabled: bool,
    /// Messages shorter than this many bytes are sent uncompressed (a frame of its own kind,
    /// also shared by every subscriber). Default 256.
    #[serde(deserialize_with = "de_size")]
    pub min_size: usize,
    /// DEFLATE compression level, 1 (fastest) to 9 (smallest output). Default 2.
    pub level: u32,
    /// Let a client keep its LZ77 context from one message to the next (better compression of
    /// what it sends, at the cost of an inflater per such connection, about 46 KiB). Default
    /// `false`: the answer asks every client for `client_no_context_takeover`, and compressed
    /// messages from clients are inflated by one shared inflater.
    pub client_context_takeover: bool,
    /// With `client_context_takeover`: the largest window (2^bits bytes, 9 to 15) a client may
    /// compress with. A client that cannot be limited (its offer lacks `client_max_window_bits`)
    /// is asked for no context takeover instead when this is below 15. Default 15.
    pub client_max_window_bits: u8,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            enabled: true,
            min_size: 256,
            level: 2,
            client_context_takeover: false,
            client_max_window_bits: 15,
        }
    }
}

impl CompressionConfig {
    /// Check every value; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=9).contains(&self.level) {
            return Err(("compression.level", "must be between 1 and 9".into()));
        }
        if !(9..=15).contains(&self.client_max_window_bits) {
            return Err(("compression.client_max_window_bits", "must be between 9 and 15".into()));
        }
        Ok(())
    }

    /// Whether a message of `len` bytes is worth compressing for a peer that negotiated it.
    pub fn compresses(&self, len: usize) -> bool {
        self.enabled && len >= self.min_size
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn defaults_and_values_are_read() {
        let c = Config::from_toml_str("", None).unwrap().compression;
        assert!(c.enabled && !c.client_context_takeover);
        assert_eq!((c.min_size, c.level, c.client_max_window_bits), (256, 2, 15));
        assert!(c.compresses(256) && !c.compresses(255));
        let c = Config::from_toml_str(
            "[compression]\nenabled = false\nmin_size = \"1KiB\"\nlevel = 6\n\
             client_context_takeover = true\nclient_max_window_bits = 10\n",
            None,
        )
        .unwrap()
        .compression;
        assert_eq!((c.min_size, c.level, c.client_max_window_bits), (1024, 6, 10));
        assert!(!c.enabled && c.client_context_takeover && !c.compresses(5000));
    }

    #[test]
    fn bad_values_name_their_key_and_line() {
        for (text, key) in [
            ("[compression]\nlevel = 0\n", "compression.level"),
            ("[compression]\nlevel = 10\n", "compression.level"),
            ("[compression]\nclient_max_window_bits = 8\n", "compression.client_max_window_bits"),
            ("[compression]\nclient_max_window_bits = 16\n", "compression.client_max_window_bits"),
        ] {
            let e = Config::from_toml_str(text, None).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert_eq!(e.line, Some(2), "{e}");
        }
        let e = Config::from_toml_str("[compression]\nlevl = 1\n", None).unwrap_err();
        assert!(e.to_string().contains("levl"), "{e}");
    }
}
