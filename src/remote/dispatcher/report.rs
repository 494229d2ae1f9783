//! `sessions` and `summary` across every relay: one array of sessions (each gaining `relay`),
//! one summary object per relay (gaining `relay`, `relay_state` and the dispatcher's counters).

use super::{Answer, Dispatcher, Link};
use crate::control::codec::Request;
use crate::control::server::Handler;
use crate::relay::LogLevel;
use crate::remote::accept::Wire;
use serde_json::{json, Map, Value};

impl<H: Handler> Dispatcher<H> {
    pub(super) fn sessions(&mut self) -> String {
        let mut all: Vec<Value> = Vec::new();
        for idx in 0..self.entries.len() {
            if matches!(self.entries[idx].link, Link::Gone) {
                continue;
            }
            let Answer::Line(p) = self.ask(idx, Wire::Request(Box::new(Request::Sessions))) else {
                continue;
            };
            let name = self.entries[idx].name.clone();
            match serde_json::from_str::<Value>(&p) {
                Ok(Value::Array(list)) => {
                    for mut s in list {
                        if let Value::Object(m) = &mut s {
                            m.insert("relay".into(), Value::String(name.clone()));
                        }
                        all.push(s);
                    }
                }
                _ => self.log(
                    LogLevel::Warn,
                    format!("relay {name}: unreadable sessions reply"),
                ),
            }
        }
        Value::Array(all).to_string()
    }

    pub(super) fn summary(&mut self) -> String {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by(|&a, &b| self.entries[a].name.cmp(&self.entries[b].name));
        let mut out = Vec::new();
        for idx in order {
            let answer = if matches!(self.entries[idx].link, Link::Gone) {
                None
            } else {
                match self.ask(idx, Wire::Request(Box::new(Request::Summary))) {
                    Answer::Line(p) => Some(p),
                    Answer::Timeout => {
                        self.mark_timeout(idx);
                        None
                    }
                    Answer::Gone => None,
                }
            };
            let e = &mut self.entries[idx];
            let mut obj = match answer.as_deref().map(serde_json::from_str::<Value>) {
                Some(Ok(Value::Object(m))) => m,
                Some(Ok(Value::Array(mut a))) if a.len() == 1 => match a.pop() {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                },
                _ => {
                    let mut m = Map::new();
                    m.insert(
                        "status".into(),
                        Value::from(if matches!(e.link, Link::Gone) {
                            "disconnected"
                        } else {
                            "error"
                        }),
                    );
                    if let Some(p) = e.peer {
                        m.insert("ip".into(), Value::from(p.to_string()));
                    }
                    m
                }
            };
            if obj.get("status").and_then(Value::as_str) == Some("halting") {
                e.halting = true;
            }
            obj.insert("relay".into(), Value::from(e.name.clone()));
            out.push((idx, obj));
        }
        let list: Vec<Value> = out
            .into_iter()
            .map(|(idx, mut obj)| {
                let e = &self.entries[idx];
                obj.insert("relay_state".into(), Value::from(e.state().as_str()));
                obj.insert(
                    "dispatcher".into(),
                    json!({
                        "sessions": e.load,
                        "sessions_created": e.stats.sessions_created,
                        "sessions_lost": e.stats.sessions_lost,
                        "requests": e.stats.requests,
                        "errors": e.stats.errors,
                        "timeouts": e.stats.timeouts,
                    }),
                );
                Value::Object(obj)
            })
            .collect();
        Value::Array(list).to_string()
    }
}
