//! How the settings table's rows read and show their values: the small parsers and
//! formatters the rows of [`super::table`] share.

use super::Parsed;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub(super) type Refused = Result<(), Option<String>>;

pub(super) fn int<T: TryFrom<i64> + Default>(v: Parsed<'_>) -> T {
    T::try_from(v.int()).unwrap_or_default()
}

/// A pseudo-variable spec naming an AVP: `$avp(name)`. The host parses it again with the core's
/// own parser at start-up; this check catches typos with a message naming the parameter.
pub(super) fn avp(v: Parsed<'_>, to: &mut String) -> Refused {
    let v = v.text();
    let name = v
        .strip_prefix("$avp(")
        .and_then(|rest| rest.strip_suffix(')'));
    match name {
        Some(n)
            if !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b':') =>
        {
            *to = v.to_string();
            Ok(())
        }
        _ => Err(None),
    }
}

pub(super) fn ip(v: Parsed<'_>) -> Result<IpAddr, Option<String>> {
    v.text().parse::<IpAddr>().map_err(|_| None)
}

pub(super) fn readable_file(v: Parsed<'_>, to: &mut Option<PathBuf>) -> Refused {
    let v = v.text();
    if v.is_empty() {
        *to = None;
        return Ok(());
    }
    match std::fs::File::open(v) {
        Ok(_) => {
            *to = Some(PathBuf::from(v));
            Ok(())
        }
        Err(e) => Err(Some(format!(
            "a readable file of regular expressions ({e})"
        ))),
    }
}

/// Parses `port_range`: `"MIN-MAX"` (or `MIN:MAX`), MIN even, 1024 <= MIN < MAX <= 65535, at
/// least four ports (one relayed stream needs an RTP/RTCP pair on each side).
pub fn parse_port_range(v: &str) -> Option<(u16, u16)> {
    let (a, b) = v.trim().split_once(['-', ':'])?;
    let min: u16 = a.trim().parse().ok()?;
    let max: u16 = b.trim().parse().ok()?;
    if min < 1024 || min % 2 != 0 || max <= min || u32::from(max) - u32::from(min) + 1 < 4 {
        return None;
    }
    Some((min, max))
}

pub(super) fn secs(d: Duration) -> String {
    d.as_secs().to_string()
}

pub(super) fn opt_text<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(String::new, T::to_string)
}
