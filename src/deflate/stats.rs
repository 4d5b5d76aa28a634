//! The counters of compression and inflation, for the relay's statistics and `/metrics`.

/// What the compressor and the inflaters did since they were made. Plain numbers: the owner
/// (the reactor) copies them into its statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Messages compressed (once each, whatever the number of subscribers).
    pub(crate) compressed_messages: u64,
    /// Payload bytes before compression.
    pub(crate) compressed_bytes_in: u64,
    /// Payload bytes after compression (frame headers not included).
    pub(crate) compressed_bytes_out: u64,
    /// Time spent compressing, in nanoseconds (a monotonic clock around each call, on the
    /// thread that compresses).
    pub(crate) compress_nanos: u64,
    /// Messages for peers that negotiated compression sent uncompressed because they are
    /// shorter than `[compression] min_size`.
    pub(crate) uncompressed_small: u64,
    /// Messages compressed but sent as they were, because compression did not make them
    /// smaller.
    pub(crate) uncompressed_incompressible: u64,
    /// Messages the compressor failed on, sent uncompressed.
    pub(crate) compress_failed: u64,
    /// Compressed messages received and inflated whole.
    pub(crate) inflated_messages: u64,
    /// Compressed payload bytes received (frame payloads, without the appended tail).
    pub(crate) inflated_bytes_in: u64,
    /// Bytes those messages inflated to.
    pub(crate) inflated_bytes_out: u64,
    /// Compressed messages refused because they would inflate past `max_message_size`
    /// (closed with `1009`).
    pub(crate) inflate_refused_too_big: u64,
    /// Compressed messages refused because they are not valid DEFLATE (closed with `1007`).
    pub(crate) inflate_refused_invalid: u64,
}

impl Counters {
    /// Every refused compressed message.
    #[cfg(test)]
    pub(crate) fn inflate_refused(&self) -> u64 {
        self.inflate_refused_too_big + self.inflate_refused_invalid
    }
}
