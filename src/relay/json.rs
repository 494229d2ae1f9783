//! A minimal JSON writer for the statistics records (one line, no dependencies).

use std::fmt::Write;

/// Appends `s` as a JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds one JSON object: `{"k":v,...}`.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    pub fn new(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        string(self.out, k);
        self.out.push(':');
        self.out
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        let o = self.key(k);
        string(o, v);
        self
    }

    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.raw(k, "null"),
        }
    }

    pub fn u64(&mut self, k: &str, v: u64) -> &mut Self {
        let o = self.key(k);
        let _ = write!(o, "{v}");
        self
    }

    pub fn f64(&mut self, k: &str, v: f64) -> &mut Self {
        let o = self.key(k);
        if v.is_finite() {
            let _ = write!(o, "{v:.3}");
        } else {
            o.push_str("null");
        }
        self
    }

    pub fn opt_f64(&mut self, k: &str, v: Option<f64>) -> &mut Self {
        match v {
            Some(v) => self.f64(k, v),
            None => self.raw(k, "null"),
        }
    }

    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.raw(k, if v { "true" } else { "false" })
    }

    /// `v` must already be valid JSON.
    pub fn raw(&mut self, k: &str, v: &str) -> &mut Self {
        let o = self.key(k);
        o.push_str(v);
        self
    }

    pub fn finish(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_objects() {
        let mut s = String::new();
        let mut o = Obj::new(&mut s);
        o.str("a", "x\"y\\z\r\n\u{1}")
            .u64("n", 5)
            .bool("t", true)
            .opt_str("u", None)
            .f64("f", 1.5);
        o.finish();
        assert_eq!(
            s,
            r#"{"a":"x\"y\\z\r\n\u0001","n":5,"t":true,"u":null,"f":1.500}"#
        );
    }
}
