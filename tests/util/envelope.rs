//! An envelope-mode (`sluice.v1`) client for tests: it connects with the subprotocol, reads
//! JSON messages, and keeps what a resuming client keeps (epoch and last offset per topic).

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

use super::{Ws, IO_TIMEOUT};

/// Connect to `url` offering `sluice.v1`; panics unless the relay chose it.
pub fn connect(url: &str) -> Ws {
    try_connect(url).unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// Connect offering `sluice.v1`: the socket, or the error (an HTTP status before the upgrade).
pub fn try_connect(url: &str) -> Result<Ws, tungstenite::Error> {
    let mut req = url.into_client_request().expect("a request");
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sluice.v1"));
    let (ws, resp) = tungstenite::connect(req)?;
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()),
        Some("sluice.v1"),
        "the relay must choose sluice.v1"
    );
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
    }
    Ok(ws)
}

/// The next JSON message (pings and pongs skipped).
pub fn next(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => {
                return serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON: {e}: {t}"))
            }
            Message::Binary(b) => panic!("envelope mode sends text only, got {} bytes", b.len()),
            Message::Close(c) => panic!("unexpected close: {c:?}"),
            _ => {}
        }
    }
}

/// Send a JSON command.
pub fn send(ws: &mut Ws, command: Value) {
    ws.send(Message::text(command.to_string())).expect("send");
}

/// What a resuming client keeps: per topic, the epoch and the last offset it has.
#[derive(Debug, Default, Clone)]
pub struct Positions(pub HashMap<String, (String, u64)>);

impl Positions {
    /// Note a publication (or a `subscribed`/`recovery` message's epoch).
    pub fn note(&mut self, v: &Value) {
        let topic = v["topic"].as_str().unwrap_or_default().to_string();
        match v["type"].as_str() {
            None | Some("gap") => {
                let offset = v["offset"].as_u64().or(v["to"].as_u64()).unwrap_or(0);
                if let Some(p) = self.0.get_mut(&topic) {
                    p.1 = p.1.max(offset);
                } else if let Some(e) = v["epoch"].as_str() {
                    self.0.insert(topic, (e.to_string(), offset));
                }
            }
            Some("subscribed") => {
                let e = v["epoch"].as_str().unwrap().to_string();
                let o = v["offset"].as_u64().unwrap();
                self.0.entry(topic).or_insert((e, o));
            }
            Some("recovery") => {
                let e = v["epoch"].as_str().unwrap().to_string();
                let p = self.0.entry(topic).or_insert((e.clone(), 0));
                if v["recovered"] == false {
                    *p = (e, v["offset"].as_u64().unwrap());
                }
            }
            _ => {}
        }
    }

    /// `since=` for these topics (`topic@epoch:offset,…`).
    pub fn since(&self) -> String {
        let mut parts: Vec<String> =
            self.0.iter().map(|(t, (e, o))| format!("{t}@{e}:{o}")).collect();
        parts.sort();
        parts.join(",")
    }
}

/// A raw socket upgraded in envelope mode, for a subscriber that reads only when the test says.
pub fn raw(addr: std::net::SocketAddr, path: &str) -> super::Raw {
    let mut raw = super::Raw::connect(addr);
    let request = super::Raw::upgrade_request(path)
        .replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: sluice.v1\r\n\r\n");
    raw.send(request.as_bytes());
    let (status, head, ()) = raw.read_response_head();
    assert_eq!(status, 101, "{head}");
    assert!(head.contains("sluice.v1"), "{head}");
    raw
}

/// The next JSON message read from a raw envelope-mode socket.
pub fn next_raw(raw: &mut super::Raw) -> Value {
    loop {
        let f = raw.read_frame();
        match f.opcode {
            1 => return serde_json::from_slice(&f.payload).expect("JSON"),
            8 => panic!("closed: {:?}", String::from_utf8_lossy(&f.payload)),
            _ => {}
        }
    }
}
