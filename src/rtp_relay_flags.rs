//! The flags the rtp_relay framework passes to the engine ([`Flags`], re-exported by
//! [`crate::rtp_relay`]) and what its `ip` and `iface` flags place: the address to advertise and
//! the relay interfaces they name.

use std::net::IpAddr;

/// The flags the framework passes along with an offer or answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The `ip` flag of the party that receives this SDP.
    pub ip: Option<String>,
    /// The `iface` flag of the party that receives this SDP (`out_iface`).
    pub iface: Option<String>,
    /// The `iface` flag of the party whose SDP this is (`in_iface`).
    pub in_iface: Option<String>,
    /// The words of the context's, the sender's and the receiver's flags.
    pub words: Vec<String>,
}

/// What the flags place: the advertised address (the receiver's `ip`, else its `iface` when
/// that is an IP literal) and the relay interface named for the sender and for the receiver
/// (an `iface` that is no IP literal).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    pub advertise: Option<IpAddr>,
    /// By sender, receiver.
    pub names: [Option<String>; 2],
}

pub(crate) fn placement(flags: &Flags) -> Result<Placement, String> {
    let given = |v: &Option<String>| -> Option<String> {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let mut p = Placement::default();
    if let Some(v) = given(&flags.ip) {
        p.advertise = Some(
            v.parse::<IpAddr>()
                .map_err(|_| format!("the ip flag {v:?} is not an IP address"))?,
        );
    }
    for (i, v) in [(0, &flags.in_iface), (1, &flags.iface)] {
        let Some(v) = given(v) else { continue };
        match v.parse::<IpAddr>() {
            Ok(a) if i == 1 => p.advertise = p.advertise.or(Some(a)),
            Ok(_) => {}
            Err(_) if crate::control::interfaces::name_ok(&v) => p.names[i] = Some(v),
            Err(_) => {
                return Err(format!(
                    "the iface flag {v:?} is neither an IP address nor an interface name"
                ))
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address_from_ip_then_iface() {
        let f = |ip: Option<&str>, iface: Option<&str>| Flags {
            ip: ip.map(String::from),
            iface: iface.map(String::from),
            in_iface: None,
            words: Vec::new(),
        };
        let adv = |fl: Flags| placement(&fl).map(|p| p.advertise);
        assert_eq!(adv(f(None, None)), Ok(None));
        assert_eq!(
            adv(f(Some("203.0.113.9"), Some("10.0.0.1"))),
            Ok(Some("203.0.113.9".parse().unwrap()))
        );
        assert_eq!(
            adv(f(None, Some(" 2001:db8::7 "))),
            Ok(Some("2001:db8::7".parse().unwrap()))
        );
        assert!(placement(&f(Some("eth0"), None)).is_err());
        assert!(placement(&f(None, Some("a b"))).is_err());
    }

    #[test]
    fn iface_names_are_relay_interfaces() {
        let fl = Flags {
            ip: Some("203.0.113.9".into()),
            iface: Some("public".into()),
            in_iface: Some(" priv ".into()),
            words: Vec::new(),
        };
        assert_eq!(
            placement(&fl),
            Ok(Placement {
                advertise: Some("203.0.113.9".parse().unwrap()),
                names: [Some("priv".into()), Some("public".into())],
            })
        );
        // an IP literal as the sender's iface names nothing
        let fl = Flags {
            in_iface: Some("10.0.0.1".into()),
            ..fl
        };
        assert_eq!(placement(&fl).map(|p| p.names[0].clone()), Ok(None));
    }
}
