//! The session-end event's fields, the same on every host (OpenSIPS's
//! `E_MEDIAPROXY_SESSION_END`, Kamailio's `event_route[mediaproxy:session-end]`), from why the
//! session ended and the relay's statistics for it (JSON).
//!
//! Text: `call_id`, `from_tag`, `to_tag`, `reason`, `caller_codec`, `callee_codec` (first
//! stream), `stats` (the relay's JSON), `recording` (the session's pcap file, empty when it
//! was not recorded). Numbers: `duration` (s), `streams`, `caller_packets`,
//! `callee_packets`, `caller_bytes`, `callee_bytes` (sums over the streams), `timed_out` (0/1).

use serde_json::Value;

/// The event's fields: text ones, then numeric ones, in the documented order.
pub struct Fields {
    pub text: Vec<(&'static str, String)>,
    pub numbers: Vec<(&'static str, u64)>,
}

impl Fields {
    pub fn new(reason: &str, stats_json: &str) -> Fields {
        let v: Value = serde_json::from_str(stats_json).unwrap_or(Value::Null);
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let streams: &[Value] = v
            .get("streams")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let first = |k: &str| {
            streams
                .first()
                .and_then(|s| s.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let sum = |k: &str| -> u64 {
            streams
                .iter()
                .filter_map(|s| s.get(k).and_then(Value::as_u64))
                .fold(0, u64::saturating_add)
        };
        Fields {
            text: vec![
                ("call_id", text("call_id")),
                ("from_tag", text("from_tag")),
                ("to_tag", text("to_tag")),
                ("reason", reason.to_string()),
                ("caller_codec", first("caller_codec")),
                ("callee_codec", first("callee_codec")),
                ("stats", stats_json.to_string()),
                ("recording", text("recording")),
            ],
            numbers: vec![
                (
                    "duration",
                    v.get("duration").and_then(Value::as_u64).unwrap_or(0),
                ),
                ("streams", streams.len() as u64),
                ("caller_packets", sum("caller_packets")),
                ("callee_packets", sum("callee_packets")),
                ("caller_bytes", sum("caller_bytes")),
                ("callee_bytes", sum("callee_bytes")),
                (
                    "timed_out",
                    u64::from(v.get("timed_out").and_then(Value::as_bool).unwrap_or(false)),
                ),
            ],
        }
    }

    /// A field by name: its text, or its number.
    pub fn get(&self, name: &str) -> Option<Field<'_>> {
        self.text
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| Field::Text(t))
            .or_else(|| {
                self.numbers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, x)| Field::Number(*x))
            })
    }
}

/// One field's value.
#[derive(Debug, PartialEq)]
pub enum Field<'a> {
    Text(&'a str),
    Number(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_sum_the_streams_and_take_the_first_codecs() {
        let json = r#"{"call_id":"c1","from_tag":"f","to_tag":"t","duration":12,"timed_out":true,
            "streams":[{"caller_codec":"PCMU","callee_codec":"PCMA","caller_packets":5,
            "callee_packets":6,"caller_bytes":100,"callee_bytes":120},
            {"caller_codec":"H264","caller_packets":1,"callee_packets":2}]}"#;
        let f = Fields::new("bye", json);
        assert_eq!(f.get("call_id"), Some(Field::Text("c1")));
        assert_eq!(f.get("reason"), Some(Field::Text("bye")));
        assert_eq!(f.get("caller_codec"), Some(Field::Text("PCMU")));
        assert_eq!(f.get("callee_codec"), Some(Field::Text("PCMA")));
        assert_eq!(f.get("stats"), Some(Field::Text(json)));
        assert_eq!(f.get("duration"), Some(Field::Number(12)));
        assert_eq!(f.get("streams"), Some(Field::Number(2)));
        assert_eq!(f.get("caller_packets"), Some(Field::Number(6)));
        assert_eq!(f.get("callee_packets"), Some(Field::Number(8)));
        assert_eq!(f.get("callee_bytes"), Some(Field::Number(120)));
        assert_eq!(f.get("timed_out"), Some(Field::Number(1)));
        assert_eq!(f.get("nothing"), None);
        assert_eq!(f.get("recording"), Some(Field::Text("")));
        assert_eq!(f.text.len() + f.numbers.len(), 15);
        let rec = Fields::new(
            "bye",
            r#"{"recording":"/var/rec/c1-20261203T135300Z-9.pcap"}"#,
        );
        assert_eq!(
            rec.get("recording"),
            Some(Field::Text("/var/rec/c1-20261203T135300Z-9.pcap"))
        );
    }

    #[test]
    fn bad_json_gives_empty_fields() {
        let f = Fields::new("mi", "not json");
        assert_eq!(f.get("call_id"), Some(Field::Text("")));
        assert_eq!(f.get("streams"), Some(Field::Number(0)));
        assert_eq!(f.get("reason"), Some(Field::Text("mi")));
    }
}
