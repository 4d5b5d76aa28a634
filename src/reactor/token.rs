//! Token numbering: three fixed tokens, then one per connection slab key.

use mio::Token;

/// The listening socket.
pub(crate) const LISTENER: Token = Token(0);
/// The cross-thread waker (handles, workers).
pub(crate) const WAKER: Token = Token(1);
/// The cluster's NATS connection.
pub(crate) const CLUSTER: Token = Token(2);
/// First token used for connections.
const FIRST_CONN: usize = 3;

/// Token of the connection in slab slot `key`.
pub(crate) fn conn_token(key: usize) -> Token {
    Token(key + FIRST_CONN)
}

/// Slab key of a connection token, `None` for the fixed tokens.
pub(crate) fn conn_key(token: Token) -> Option<usize> {
    token.0.checked_sub(FIRST_CONN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        assert_eq!(conn_key(conn_token(0)), Some(0));
        assert_eq!(conn_key(conn_token(41)), Some(41));
        assert_eq!(conn_key(LISTENER), None);
        assert_eq!(conn_key(WAKER), None);
        assert_eq!(conn_key(CLUSTER), None);
    }
}
