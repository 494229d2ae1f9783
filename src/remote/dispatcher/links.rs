//! Link events: relays coming and going, their `expired` reports, log lines.

use super::{Dispatcher, EndedSession, Entry, Link, RelayStats};
use crate::control::server::Handler;
use crate::relay::LogLevel;
use crate::remote::accept::{LinkEvent, RemoteHandle};
use serde_json::Value;

impl<H: Handler> Dispatcher<H> {
    /// Takes link events: relays coming and going, expiries, log lines.
    pub fn poll_events(&mut self) {
        while let Ok(ev) = self.events.try_recv() {
            match ev {
                LinkEvent::Up(h) => self.relay_up(h),
                LinkEvent::Down { conn, why } => self.relay_down(conn, why),
                LinkEvent::Expired { conn, json } => self.expired(conn, &json),
                LinkEvent::Log(l, t) => self.log(l, t),
            }
        }
    }

    fn relay_up(&mut self, h: RemoteHandle) {
        self.log(
            LogLevel::Info,
            format!("relay {} connected from {}", h.name, h.peer),
        );
        if let Some(e) = self.entries.iter_mut().find(|e| e.name == h.name) {
            if let Link::Remote(old) = &e.link {
                old.shut();
            }
            e.peer = Some(h.peer);
            e.link = Link::Remote(h);
            e.halting = false;
            e.unresponsive_since_ms = None;
            return;
        }
        self.entries.push(Entry {
            name: h.name.clone(),
            peer: Some(h.peer),
            link: Link::Remote(h),
            halting: false,
            unresponsive_since_ms: None,
            load: 0,
            stats: RelayStats::default(),
        });
    }

    fn relay_down(&mut self, conn: u64, why: String) {
        let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| matches!(&e.link, Link::Remote(h) if h.conn == conn))
        else {
            // a handshake that failed, or a link already replaced
            self.log(LogLevel::Info, why);
            return;
        };
        e.link = Link::Gone;
        let name = e.name.clone();
        let mut lost = Vec::new();
        self.pins.retain(|(call_id, from_tag), p| {
            if p.relay != name {
                return true;
            }
            lost.push(EndedSession {
                relay: name.clone(),
                call_id: call_id.clone(),
                from_tag: from_tag.clone(),
                to_tag: p.to_tag.clone(),
                dialog_id: p.dialog_id.clone(),
                stats_json: String::new(),
                all_streams_ice: false,
            });
            false
        });
        e.load = 0;
        e.stats.sessions_lost += lost.len() as u64;
        let n = lost.len();
        self.ended.extend(lost);
        self.log(
            LogLevel::Warn,
            format!("relay {name} disconnected ({why}); {n} session(s) lost with it"),
        );
    }

    fn expired(&mut self, conn: u64, json: &str) {
        let Some(name) = self
            .entries
            .iter()
            .find(|e| matches!(&e.link, Link::Remote(h) if h.conn == conn))
            .map(|e| e.name.clone())
        else {
            return;
        };
        let Ok(v) = serde_json::from_str::<Value>(json) else {
            self.log(
                LogLevel::Warn,
                format!("relay {name}: expired session with unreadable statistics"),
            );
            return;
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (call_id, from_tag, to_tag) = (s("call_id"), s("from_tag"), s("to_tag"));
        let all_streams_ice = v
            .get("streams")
            .and_then(Value::as_array)
            .is_some_and(|st| {
                !st.is_empty()
                    && st.iter().all(|x| {
                        x.get("status").and_then(Value::as_str) == Some("unselected ICE candidate")
                    })
            });
        let Some(key) = self.find_pin(&call_id, &from_tag, &to_tag) else {
            self.log(
                LogLevel::Info,
                format!("relay {name}: expired session {call_id} is not known here"),
            );
            return;
        };
        if self.pins.get(&key).map(|p| p.relay.as_str()) != Some(name.as_str()) {
            self.log(
                LogLevel::Warn,
                format!("relay {name} reported session {call_id} it does not hold; ignored"),
            );
            return;
        }
        let (to_tag, dialog_id) = match self.unpin(&key) {
            Some(p) if !p.to_tag.is_empty() => (p.to_tag, p.dialog_id),
            Some(p) => (to_tag, p.dialog_id),
            None => (to_tag, String::new()),
        };
        self.ended.push(EndedSession {
            relay: name,
            call_id: key.0,
            from_tag: key.1,
            to_tag,
            dialog_id,
            stats_json: json.to_string(),
            all_streams_ice,
        });
    }
}
