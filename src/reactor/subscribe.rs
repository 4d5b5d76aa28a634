//! Subscriptions of a connection: the `sluice.v1` subprotocol, where each topic starts
//! (`?since=` and `?last=` on the URL), and the `subscribe`/`unsubscribe` commands an envelope
//! subscriber may send.
//!
//! ```text
//! /sub/prices?since=<epoch>:<offset>                      resume one topic (envelope mode)
//! /sub/a,b?since=a@<epoch>:<offset>,b@<epoch>:<offset>    resume several
//! /sub/a,b?last=10                                        the last 10 of each, then live
//! {"type":"subscribe","topic":"x","since":{"epoch":"…","offset":42}}   or "last":N, or neither
//! {"type":"unsubscribe","topic":"x"}
//! ```
//!
//! A bad option is a `400` before the upgrade; a bad command gets `{"type":"error",…}` and the
//! connection goes on. Rights, topic rules and limits apply to commands as to the URL.

use std::time::Instant;

use super::Reactor;
use crate::conn::http::Response;
use crate::conn::out::Stamp;
use crate::conn::{Role, State, Subscriptions};
use crate::route::envelope;
use crate::route::{Epoch, Join, Start};
use crate::topic::{validate_topic, TopicPattern};

/// The subprotocol of envelope mode.
pub(crate) const ENVELOPE_PROTOCOL: &str = "sluice.v1";

/// Where each topic of `/sub/<topics>` starts, from the query string.
pub(crate) fn starts(
    query: Option<&str>,
    topics: &[String],
    envelope: bool,
) -> Result<Vec<Start>, String> {
    let mut starts = vec![Start::Live; topics.len()];
    let Some(query) = query else { return Ok(starts) };
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "last" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("`last` must be a number of messages, not `{value}`"))?;
                for s in starts.iter_mut().filter(|s| **s == Start::Live) {
                    *s = Start::Last(n);
                }
            }
            "since" if !envelope => {
                return Err(format!(
                    "`since` needs envelope mode: offer the `{ENVELOPE_PROTOCOL}` subprotocol"
                ));
            }
            "since" => {
                for part in value.split(',') {
                    let (topic, position) = match part.split_once('@') {
                        Some((t, p)) => (t, p),
                        None if topics.len() == 1 => (topics[0].as_str(), part),
                        None => {
                            return Err(format!(
                                "`since` with several topics names each: topic@<epoch>:<offset>, not `{part}`"
                            ))
                        }
                    };
                    let i = topics.iter().position(|t| t == topic).ok_or_else(|| {
                        format!("`since` names `{topic}`, which is not subscribed")
                    })?;
                    starts[i] = parse_position(position)?;
                }
            }
            _ => {} // other parameters (`token`) are not ours
        }
    }
    Ok(starts)
}

/// `<epoch>:<offset>`.
fn parse_position(p: &str) -> Result<Start, String> {
    let bad = || format!("a position is <epoch>:<offset> (16 hex digits, a number), not `{p}`");
    let (epoch, offset) = p.split_once(':').ok_or_else(bad)?;
    let epoch = Epoch::parse(epoch).ok_or_else(bad)?;
    let offset = offset.parse().map_err(|_| bad())?;
    Ok(Start::Since { epoch, offset })
}

impl Reactor {
    /// Check a subscription's options against the topics' settings; the `400` answer if not.
    pub(super) fn check_starts(&self, topics: &[String], starts: &[Start]) -> Result<(), Response> {
        for (t, s) in topics.iter().zip(starts) {
            if let Start::Last(n) = s {
                let size = self.router.policy_of(t).history_size as u64;
                if *n > size {
                    return Err(Response::error(
                        400,
                        &format!("last={n} is more than the history of `{t}` ({size} messages)"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Subscribe connection `key` to `topics`, each from its start (the subscription's first
    /// frames are queued before any live message).
    pub(super) fn join_all(
        &mut self,
        key: usize,
        topics: &[String],
        starts: &[Start],
        envelope: bool,
        now: Instant,
    ) -> Vec<(crate::topic::TopicId, usize)> {
        let deflate = match self.conns[key].state() {
            State::Open(open) => open.deflate,
            _ => None,
        };
        topics
            .iter()
            .zip(starts)
            .map(|(topic, &start)| {
                let join = Join { topic, conn: key, envelope, start, deflate };
                self.route(now, |router, _, out| router.subscribe(join, out))
            })
            .collect()
    }

    /// Run the `subscribe`/`unsubscribe` commands an envelope subscriber sent.
    pub(super) fn run_commands(&mut self, key: usize, commands: Vec<Vec<u8>>, now: Instant) {
        for command in commands {
            let answer = match serde_json::from_slice::<Command>(&command) {
                Ok(c) => self.command(key, c, now),
                Err(e) => Some(envelope::error(None, &format!("not a command: {e}"))),
            };
            if let Some(json) = answer {
                let frame = envelope::control_frame(&json);
                let conn = &mut self.conns[key];
                // Answers are small and one per command; a full queue takes them anyway.
                if conn.out.push(frame.clone().into(), Stamp::NONE).is_err() {
                    conn.out.push_essential(frame.into(), false);
                }
                self.conns.mark_dirty(key);
            }
        }
    }

    /// One command; `Some(json)` to answer (a subscription answers with its own first frames).
    fn command(&mut self, key: usize, c: Command, now: Instant) -> Option<String> {
        let State::Open(open) = self.conns[key].state() else { return None };
        let Role::Subscribe(subs) = &open.role else { return None };
        let topic = c.topic;
        if let Err(e) = validate_topic(&topic) {
            return Some(envelope::error(Some(&topic), &e.to_string()));
        }
        let id = self.router.topics.lookup(&topic);
        let current = subs.list.iter().position(|(t, _)| Some(*t) == id);
        match c.kind.as_str() {
            "subscribe" if current.is_some() => {
                Some(envelope::error(Some(&topic), "already subscribed"))
            }
            "subscribe" if !subs.may_subscribe(&topic) => {
                self.observe.stats.auth_denials += 1;
                Some(envelope::error(Some(&topic), "this token may not subscribe to it"))
            }
            "subscribe" if subs.list.len() >= self.policy.limits.max_topics_per_subscription => {
                let max = self.policy.limits.max_topics_per_subscription;
                Some(envelope::error(Some(&topic), &format!("at most {max} topics per connection")))
            }
            "subscribe" => {
                let start = match (c.since, c.last) {
                    (Some(p), None) => match Epoch::parse(&p.epoch) {
                        Some(epoch) => Start::Since { epoch, offset: p.offset },
                        None => return Some(envelope::error(Some(&topic), "bad epoch")),
                    },
                    (None, Some(n)) => Start::Last(n),
                    (None, None) => Start::Live,
                    (Some(_), Some(_)) => {
                        return Some(envelope::error(Some(&topic), "`since` or `last`, not both"))
                    }
                };
                let topics = [topic];
                if let Err(r) = self.check_starts(&topics, &[start]) {
                    let why = String::from_utf8_lossy(&r.body).trim().to_string();
                    return Some(envelope::error(Some(&topics[0]), &why));
                }
                let joined = self.join_all(key, &topics, &[start], true, now);
                if let Some(Role::Subscribe(subs)) = self.role_mut(key) {
                    subs.list.extend(joined);
                }
                None
            }
            "unsubscribe" => {
                let Some(i) = current else {
                    return Some(envelope::error(Some(&topic), "not subscribed"));
                };
                let Some(Role::Subscribe(subs)) = self.role_mut(key) else { return None };
                let (t, slot) = subs.list.swap_remove(i);
                self.router.unsubscribe(t, slot);
                Some(envelope::unsubscribed(&topic))
            }
            other => Some(envelope::error(Some(&topic), &format!("unknown command `{other}`"))),
        }
    }

    /// A subscriber behind its topics' slow-consumer policy drained its queue: send what it is
    /// owed (a `gap`, held values).
    pub(super) fn catch_up(&mut self, key: usize, now: Instant) {
        let Some(Role::Subscribe(subs)) = self.role_mut(key) else { return };
        let list = subs.list.clone();
        self.route(now, |router, _, out| router.catch_up(key, &list, out));
    }

    fn role_mut(&mut self, key: usize) -> Option<&mut Role> {
        match self.conns.get_mut(key)?.state_mut() {
            State::Open(open) => Some(&mut open.role),
            _ => None,
        }
    }
}

/// The subscriptions of a new subscriber connection.
pub(super) fn subscriptions(
    envelope: bool,
    list: Vec<(crate::topic::TopicId, usize)>,
    may_subscribe: Option<Box<[TopicPattern]>>,
) -> Role {
    Role::Subscribe(Box::new(Subscriptions { envelope, list, may_subscribe }))
}

/// A command from an envelope subscriber.
#[derive(Debug, serde::Deserialize)]
struct Command {
    #[serde(rename = "type")]
    kind: String,
    topic: String,
    #[serde(default)]
    since: Option<Position>,
    #[serde(default)]
    last: Option<u64>,
}

#[derive(Debug, serde::Deserialize)]
struct Position {
    epoch: String,
    offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn since_and_last_per_topic() {
        let e = "7f3a9c1e00000001";
        let one = topics(&["prices"]);
        assert_eq!(
            starts(Some(&format!("since={e}:42")), &one, true),
            Ok(vec![Start::Since { epoch: Epoch(0x7f3a_9c1e_0000_0001), offset: 42 }])
        );
        let two = topics(&["a", "b"]);
        let got = starts(Some(&format!("token=x&since=b@{e}:7&last=3")), &two, true).unwrap();
        assert_eq!(got[0], Start::Last(3));
        assert!(matches!(got[1], Start::Since { offset: 7, .. }));
        assert_eq!(starts(None, &two, false), Ok(vec![Start::Live, Start::Live]));
    }

    #[test]
    fn bad_options_say_why() {
        let e = "7f3a9c1e00000001";
        let two = topics(&["a", "b"]);
        let err = |q: &str, env| starts(Some(q), &two, env).unwrap_err();
        assert!(err(&format!("since=a@{e}:1"), false).contains("sluice.v1"));
        assert!(err(&format!("since={e}:1"), true).contains("names each"));
        assert!(err(&format!("since=c@{e}:1"), true).contains("not subscribed"));
        assert!(err("since=a@nothex:1", true).contains("<epoch>:<offset>"));
        assert!(err(&format!("since=a@{e}:-1"), true).contains("<epoch>:<offset>"));
        assert!(err("last=ten", false).contains("number"));
    }
}
