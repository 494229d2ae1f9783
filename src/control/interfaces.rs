//! The `interfaces` header of an `update` (an extension; MediaProxy's dispatcher ignores
//! unknown headers): the relay interface the script chose for each party,
//! `interfaces: caller=NAME;callee=NAME` (either item may be left out). Sent only when the
//! script names one; an interface name is 1 to 32 letters, digits, `_` or `-`.

use super::codec::CodecError;

const HEADER: &str = "interfaces";

/// A relay interface name: 1 to 32 letters, digits, `_` or `-`.
pub fn name_ok(n: &str) -> bool {
    crate::settings::interface_name_ok(n)
}

/// The header's value for the names by party (caller, callee; empty: not named), or `None`
/// when neither is named.
pub fn encode(names: &[String; 2]) -> Result<Option<String>, CodecError> {
    let mut items = Vec::new();
    for (key, n) in ["caller", "callee"].iter().zip(names) {
        if n.is_empty() {
            continue;
        }
        if !name_ok(n) {
            return Err(CodecError::Unencodable(HEADER));
        }
        items.push(format!("{key}={n}"));
    }
    Ok((!items.is_empty()).then(|| items.join(";")))
}

/// Reads the header's value back (blanks around items ignored).
pub fn decode(v: &str) -> Result<[String; 2], CodecError> {
    let bad = || CodecError::BadValue {
        header: HEADER,
        value: v.to_string(),
    };
    let mut out = [String::new(), String::new()];
    for item in v.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, name) = item.split_once('=').ok_or_else(bad)?;
        let i = match key.trim() {
            "caller" => 0,
            "callee" => 1,
            _ => return Err(bad()),
        };
        let name = name.trim();
        if !name_ok(name) {
            return Err(bad());
        }
        out[i] = name.to_string();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let n = ["priv".to_string(), "pub".to_string()];
        let v = encode(&n).unwrap().unwrap();
        assert_eq!(v, "caller=priv;callee=pub");
        assert_eq!(decode(&v).unwrap(), n);
        let only = [String::new(), "v6".to_string()];
        assert_eq!(encode(&only).unwrap().as_deref(), Some("callee=v6"));
        assert_eq!(decode(" callee = v6 ").unwrap(), only);
        assert_eq!(encode(&[String::new(), String::new()]).unwrap(), None);
    }

    #[test]
    fn refused() {
        assert!(encode(&["a b".to_string(), String::new()]).is_err());
        assert!(decode("caller").is_err());
        assert!(decode("other=x").is_err());
        assert!(decode("caller=a/b").is_err());
    }
}
