//! `tokio-relay`: the baseline, written the way a typical Rust developer would write a
//! WebSocket pub/sub relay: tokio's multi-threaded runtime, a task per connection,
//! tokio-tungstenite for the protocol, and a `tokio::sync::broadcast` channel per topic.
//! Same URL shapes as Sluice: `/pub/<topic>`, `/sub/<topic>`, `/echo`.
//!
//! Usage: `tokio-relay [--listen 127.0.0.1:9003]`

// The callback signature is tokio-tungstenite's; its large error type is not ours to shrink.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type Topics = Arc<Mutex<HashMap<String, broadcast::Sender<Message>>>>;

/// Messages a slow subscriber may fall behind before it skips ahead (and loses some).
const CAPACITY: usize = 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9003".to_string();
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            _ => {
                eprintln!("usage: tokio-relay [--listen ADDR]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&listen).await?;
    eprintln!("tokio-relay listening on {}", listener.local_addr()?);
    let topics: Topics = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(handle(stream, topics.clone()));
    }
}

fn topic(topics: &Topics, name: &str) -> broadcast::Sender<Message> {
    let mut map = topics.lock().unwrap();
    map.entry(name.to_string()).or_insert_with(|| broadcast::channel(CAPACITY).0).clone()
}

async fn handle(stream: TcpStream, topics: Topics) {
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_string();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    if let Some(name) = path.strip_prefix("/pub/") {
        let tx = topic(&topics, name);
        let (_, mut read) = ws.split();
        while let Some(Ok(msg)) = read.next().await {
            if msg.is_text() || msg.is_binary() {
                let _ = tx.send(msg);
            }
        }
    } else if let Some(name) = path.strip_prefix("/sub/") {
        let mut rx = topic(&topics, name).subscribe();
        let (mut write, mut read) = ws.split();
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Ok(msg) => {
                        if write.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                incoming = read.next() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    } else if path == "/echo" {
        let (mut write, mut read) = ws.split();
        while let Some(Ok(msg)) = read.next().await {
            if (msg.is_text() || msg.is_binary()) && write.send(msg).await.is_err() {
                break;
            }
        }
    }
}
