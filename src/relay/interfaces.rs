//! The relay's addresses and which one faces each party of a session.
//!
//! The relay serves one or more [`RelayInterface`]s (`relay_interfaces`; without it one unnamed
//! interface of `listen_ip`/`advertised_ip`). Each party of a session faces one of them, chosen
//! once when the session is created ([`Interfaces::choose`]):
//!
//! 1. the interface the request names for that party (the `interfaces` header of an `update`,
//!    from the script); an unknown name refuses the request;
//! 2. else, for the party whose SDP the creating request carries, the first interface of that
//!    SDP's address family (an IPv6 `c=` gets the first IPv6 interface; an IPv6 wildcard `::`
//!    serves both families);
//! 3. else the other party's interface (the party not yet heard from gets the one its peer
//!    got), and with nothing to go by, the first interface.
//!
//! Both sides' port pairs come from the one port pool (a port number is in use on at most one
//! address); each side's sockets bind to its interface's listen address.

use crate::control::codec::{MessageType, UpdateRequest};
use crate::settings::RelayInterface;
use std::io;
use std::net::IpAddr;

/// What a request asks for, by [`super::session::Party::idx`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// The interface named for each party (empty: not named).
    pub names: [String; 2],
    /// Each party's SDP address family when known (`true`: IPv6).
    pub v6: [Option<bool>; 2],
}

impl Want {
    /// What the request that creates a session asks for: the names it carries, and the
    /// family of its sender's SDP (the sender of a request is the caller, of a reply the
    /// callee).
    pub fn of_creating(req: &UpdateRequest) -> Want {
        let sender = usize::from(req.kind == MessageType::Reply);
        let mut v6 = [None, None];
        v6[sender] = req
            .media
            .iter()
            .find_map(|d| d.socket_addr())
            .map(|a| a.is_ipv6());
        Want {
            names: req.interfaces.clone(),
            v6,
        }
    }
}

/// The interface that faces each party and the address the SDP that party receives names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facing {
    pub iface: [usize; 2],
    pub ip: [IpAddr; 2],
}

#[derive(Clone, Debug)]
pub struct Interfaces {
    list: Vec<RelayInterface>,
}

impl Interfaces {
    /// `list` empty is treated as one unnamed wildcard IPv4 interface.
    pub fn new(mut list: Vec<RelayInterface>) -> Interfaces {
        if list.is_empty() {
            list.push(RelayInterface {
                name: String::new(),
                listen: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                advertised: None,
            });
        }
        Interfaces { list }
    }

    pub fn list(&self) -> &[RelayInterface] {
        &self.list
    }

    /// The listen address of interface `i` (the first one for an index out of range).
    pub fn listen(&self, i: usize) -> IpAddr {
        self.get(i).listen
    }

    fn get(&self, i: usize) -> &RelayInterface {
        self.list.get(i).unwrap_or(&self.list[0])
    }

    /// Every listen and advertised address.
    pub fn own_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.list
            .iter()
            .flat_map(|i| std::iter::once(i.listen).chain(i.advertised))
    }

    fn by_family(&self, v6: bool) -> Option<usize> {
        self.list.iter().position(|i| match i.listen {
            IpAddr::V6(a) if a.is_unspecified() => true,
            ip => ip.is_ipv6() == v6,
        })
    }

    /// The interface index facing each party (see the module notes); an unknown name is the
    /// error, naming it.
    pub fn choose(&self, want: &Want) -> Result<[usize; 2], String> {
        let mut out: [Option<usize>; 2] = [None, None];
        for (o, name) in out.iter_mut().zip(&want.names) {
            if name.is_empty() {
                continue;
            }
            match self.list.iter().position(|i| i.name == *name) {
                Some(i) => *o = Some(i),
                None => return Err(format!("no relay interface named \"{name}\"")),
            }
        }
        for (o, v6) in out.iter_mut().zip(want.v6) {
            if o.is_none() {
                *o = v6.and_then(|v6| self.by_family(v6));
            }
        }
        let peer = [out[1], out[0]];
        Ok([0, 1].map(|p| out[p].or(peer[p]).unwrap_or(0)))
    }

    /// The address to advertise on interface `i`: its advertised address, else its listen
    /// address, else (wildcard) the local address the kernel routes towards `signaling_ip`.
    pub fn advertise(&self, i: usize, signaling_ip: Option<IpAddr>) -> io::Result<IpAddr> {
        let f = self.get(i);
        if let Some(ip) = f.advertised {
            return Ok(ip);
        }
        if !f.listen.is_unspecified() {
            return Ok(f.listen);
        }
        match signaling_ip {
            Some(peer) => super::sys::local_ip_towards(peer),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "listening on the wildcard address with no advertised address and no signaling_ip: cannot choose an address to advertise",
            )),
        }
    }

    /// [`Interfaces::choose`] and the advertised address of each chosen interface.
    pub fn facing(&self, want: &Want, signaling_ip: Option<IpAddr>) -> io::Result<Facing> {
        let iface = self
            .choose(want)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Facing {
            iface,
            ip: [
                self.advertise(iface[0], signaling_ip)?,
                self.advertise(iface[1], signaling_ip)?,
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Interfaces {
        Interfaces::new(
            RelayInterface::parse_list("priv=10.0.0.5; pub=192.0.2.10/203.0.113.5; v6=2001:db8::5")
                .unwrap(),
        )
    }

    fn want(names: [&str; 2], v6: [Option<bool>; 2]) -> Want {
        Want {
            names: names.map(String::from),
            v6,
        }
    }

    #[test]
    fn names_win_then_family_then_peer() {
        let f = two();
        assert_eq!(
            f.choose(&want(["pub", "priv"], [Some(true), None])),
            Ok([1, 0])
        );
        assert_eq!(f.choose(&want(["", ""], [Some(true), None])), Ok([2, 2]));
        assert_eq!(f.choose(&want(["", "pub"], [Some(true), None])), Ok([2, 1]));
        assert_eq!(f.choose(&want(["", ""], [Some(false), None])), Ok([0, 0]));
        assert_eq!(f.choose(&want(["", ""], [None, Some(true)])), Ok([2, 2]));
        assert_eq!(f.choose(&want(["", ""], [None, None])), Ok([0, 0]));
        assert_eq!(
            f.choose(&want(["lan", ""], [None, None])),
            Err("no relay interface named \"lan\"".to_string())
        );
    }

    #[test]
    fn advertised_address_per_interface() {
        let f = two();
        let w = want(["priv", "pub"], [None, None]);
        let got = f.facing(&w, None).unwrap();
        assert_eq!(got.iface, [0, 1]);
        assert_eq!(
            got.ip,
            [
                "10.0.0.5".parse::<IpAddr>().unwrap(),
                "203.0.113.5".parse().unwrap()
            ]
        );
    }

    #[test]
    fn v6_wildcard_serves_both_families() {
        let f = Interfaces::new(RelayInterface::parse_list("a=192.0.2.1; any=::").unwrap());
        assert_eq!(f.choose(&want(["", ""], [Some(true), None])), Ok([1, 1]));
        assert_eq!(f.choose(&want(["", ""], [Some(false), None])), Ok([0, 0]));
    }

    #[test]
    fn no_interface_of_the_family_falls_back() {
        let f = Interfaces::new(RelayInterface::parse_list("a=192.0.2.1").unwrap());
        assert_eq!(f.choose(&want(["", ""], [Some(true), None])), Ok([0, 0]));
    }
}
