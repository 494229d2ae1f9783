//! `natping_interval`: keep-alives that hold NAT bindings of registered contacts open.
//!
//! Every interval the host layer asks its usrloc module for the registered contacts (those
//! carrying usrloc's NAT branch flag when one is configured, every contact otherwise). usrloc
//! packs them into one buffer, each a run of fields whose order depends on the host;
//! [`Packed`] walks such a buffer given the host's [`Field`] layout. For each contact
//! [`destination`] picks where the keep-alive goes (the first Path hop, else the `received`
//! address, else the Contact) and the host sends [`KEEPALIVE`] there from the socket the
//! contact registered on. Only UDP contacts at an IP address get pings: a stream connection
//! keeps its own binding alive, and resolving names in a timer would stall it.

use std::net::{IpAddr, SocketAddr};

use crate::nat::host_ip;
use crate::sip::uri_target;

/// What a keep-alive carries: four NUL bytes, as the SER mediaproxy module and nathelper
/// send. Endpoints drop it; the NAT sees outbound-looking traffic on the binding.
pub const KEEPALIVE: [u8; 4] = [0; 4];

/// The default SIP port when a URI names none.
const SIP_PORT: u16 = 5060;

/// One field of a packed contact, in the order the host's usrloc writes them. Strings are a
/// native-endian `int` length followed by that many bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The Contact URI (a string).
    Contact,
    /// The `received` URI the registrar stored (a string, often empty).
    Received,
    /// The Path header value (a string, often empty).
    Path,
    /// A pointer to the host's socket the contact registered on.
    Socket,
    /// The contact's branch flags (`unsigned int`).
    Flags,
    /// A string this module does not use.
    OtherString,
    /// That many bytes this module does not use.
    Skip(usize),
}

/// How OpenSIPS 3.6/4.0's usrloc packs a contact (`get_all_ucontacts` without coordinates):
/// contact, received, path, `struct socket_info *`, cflags, `struct proxy_l` next hop (64
/// bytes; the OpenSIPS host layer checks that size against its headers).
pub const OPENSIPS_LAYOUT: &[Field] = &[
    Field::Contact,
    Field::Received,
    Field::Path,
    Field::Socket,
    Field::Flags,
    Field::Skip(64),
];

/// How Kamailio 5.6's usrloc packs a contact: contact, received, `struct socket_info *`,
/// cflags, path, ruid, aorhash.
pub const KAMAILIO_LAYOUT: &[Field] = &[
    Field::Contact,
    Field::Received,
    Field::Socket,
    Field::Flags,
    Field::Path,
    Field::OtherString,
    Field::Skip(4),
];

/// One contact as usrloc packed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PackedContact<'a> {
    pub contact: &'a [u8],
    pub received: &'a [u8],
    pub path: &'a [u8],
    /// The socket pointer's value (the host layer reads the socket from it).
    pub socket: usize,
    pub flags: u32,
}

/// Walks a usrloc contact buffer: ends at a zero length (usrloc's terminator), at the end of
/// the buffer, or at the first record that does not fit (a truncated buffer is never read
/// past its end).
#[derive(Clone, Debug)]
pub struct Packed<'a> {
    rest: &'a [u8],
    layout: &'a [Field],
}

impl<'a> Packed<'a> {
    pub fn new(buf: &'a [u8], layout: &'a [Field]) -> Packed<'a> {
        Packed { rest: buf, layout }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.rest.get(..n)?, self.rest.get(n..)?);
        self.rest = tail;
        Some(head)
    }

    fn len(&mut self) -> Option<usize> {
        let b = self.take(4)?;
        let n = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(n).ok()
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    fn record(&mut self) -> Option<PackedContact<'a>> {
        let mut c = PackedContact::default();
        for (i, f) in self.layout.iter().enumerate() {
            match f {
                Field::Contact => {
                    let n = self.len()?;
                    // a zero length in the first field is usrloc's end marker
                    if n == 0 && i == 0 {
                        return None;
                    }
                    c.contact = self.take(n)?;
                }
                Field::Received => c.received = self.string()?,
                Field::Path => c.path = self.string()?,
                Field::OtherString => {
                    self.string()?;
                }
                Field::Socket => {
                    let b = self.take(std::mem::size_of::<usize>())?;
                    let mut a = [0u8; std::mem::size_of::<usize>()];
                    a.copy_from_slice(b);
                    c.socket = usize::from_ne_bytes(a);
                }
                Field::Flags => {
                    let b = self.take(4)?;
                    c.flags = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
                }
                Field::Skip(n) => {
                    self.take(*n)?;
                }
            }
        }
        Some(c)
    }
}

impl<'a> Iterator for Packed<'a> {
    type Item = PackedContact<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = self.record();
        if c.is_none() {
            self.rest = &[];
        }
        c
    }
}

/// Why a contact gets no keep-alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// `sips:` or a `transport` other than UDP: a connection keeps its own binding.
    NotUdp,
    /// The host is a name; it is not resolved in the timer.
    NotAnAddress(String),
    /// The URI could not be read.
    BadUri(String),
    /// The host has no socket for it.
    NoSocket,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NotUdp => f.write_str("not a UDP contact"),
            Skip::NotAnAddress(h) => write!(f, "host {h:?} is a name, not an address"),
            Skip::BadUri(u) => write!(f, "unreadable URI {u:?}"),
            Skip::NoSocket => f.write_str("no socket recorded for the contact"),
        }
    }
}

/// The first URI of a Path value (`<sip:p1;lr>, <sip:p2;lr>`), without the angle brackets.
fn first_path_uri(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b == b'<').map_or(0, |p| p + 1);
    let rest = path.get(start..).unwrap_or(&[]);
    let end = rest
        .iter()
        .position(|&b| b == b'>' || b == b',')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or(&[])
}

/// Where the keep-alive for `c` goes: the first Path hop (the edge proxy that holds the NAT
/// binding), else the `received` address the registrar stored, else the Contact itself.
pub fn destination(c: &PackedContact<'_>) -> Result<SocketAddr, Skip> {
    if c.socket == 0 {
        return Err(Skip::NoSocket);
    }
    let uri = if !c.path.is_empty() {
        first_path_uri(c.path)
    } else if !c.received.is_empty() {
        c.received
    } else {
        c.contact
    };
    let text = || String::from_utf8_lossy(uri).into_owned();
    let t = uri_target(uri).ok_or_else(|| Skip::BadUri(text()))?;
    if t.secure
        || t.transport
            .is_some_and(|tr| !tr.eq_ignore_ascii_case(b"udp"))
    {
        return Err(Skip::NotUdp);
    }
    let ip: IpAddr = host_ip(t.host)
        .ok_or_else(|| Skip::NotAnAddress(String::from_utf8_lossy(t.host).into_owned()))?;
    Ok(SocketAddr::new(ip, t.port.unwrap_or(SIP_PORT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSIPS: &[Field] = OPENSIPS_LAYOUT;
    const KAMAILIO: &[Field] = KAMAILIO_LAYOUT;

    fn put_str(b: &mut Vec<u8>, s: &str) {
        b.extend_from_slice(&(s.len() as i32).to_ne_bytes());
        b.extend_from_slice(s.as_bytes());
    }

    fn opensips_record(b: &mut Vec<u8>, c: &str, r: &str, p: &str, sock: usize, flags: u32) {
        put_str(b, c);
        put_str(b, r);
        put_str(b, p);
        b.extend_from_slice(&sock.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&[0xAA; 64]);
    }

    #[test]
    fn walks_an_opensips_buffer_to_its_terminator() {
        let mut b = Vec::new();
        opensips_record(
            &mut b,
            "sip:alice@10.0.0.5:5062",
            "sip:198.51.100.7:40001",
            "",
            0x1000,
            4,
        );
        opensips_record(
            &mut b,
            "sip:bob@192.0.2.9",
            "",
            "<sip:198.51.100.2;lr>",
            0x2000,
            0,
        );
        b.extend_from_slice(&0i32.to_ne_bytes());
        b.extend_from_slice(b"garbage after the terminator");
        let v: Vec<_> = Packed::new(&b, OPENSIPS).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].contact, b"sip:alice@10.0.0.5:5062");
        assert_eq!(v[0].received, b"sip:198.51.100.7:40001");
        assert_eq!(v[0].socket, 0x1000);
        assert_eq!(v[0].flags, 4);
        assert_eq!(v[1].path, b"<sip:198.51.100.2;lr>");
        assert_eq!(
            destination(&v[0]),
            Ok("198.51.100.7:40001".parse().unwrap())
        );
        assert_eq!(destination(&v[1]), Ok("198.51.100.2:5060".parse().unwrap()));
    }

    #[test]
    fn walks_a_kamailio_buffer() {
        let mut b = Vec::new();
        put_str(&mut b, "sip:carol@[2001:db8::5]:5070");
        put_str(&mut b, "");
        b.extend_from_slice(&0x3000usize.to_ne_bytes());
        b.extend_from_slice(&8u32.to_ne_bytes());
        put_str(&mut b, "");
        put_str(&mut b, "uloc-5f1-1");
        b.extend_from_slice(&77u32.to_ne_bytes());
        let v: Vec<_> = Packed::new(&b, KAMAILIO).collect();
        assert_eq!(v.len(), 1, "no terminator: the buffer's end ends the walk");
        assert_eq!(v[0].flags, 8);
        assert_eq!(
            destination(&v[0]),
            Ok("[2001:db8::5]:5070".parse().unwrap())
        );
    }

    #[test]
    fn truncated_or_corrupt_buffers_end_the_walk_without_reading_past_the_end() {
        let mut b = Vec::new();
        opensips_record(&mut b, "sip:a@192.0.2.1", "", "", 1, 0);
        opensips_record(&mut b, "sip:b@192.0.2.2", "", "", 2, 0);
        for cut in 0..b.len() {
            let n = Packed::new(&b[..cut], OPENSIPS).count();
            assert!(n <= 1, "cut {cut}: {n}");
        }
        assert_eq!(Packed::new(&b, OPENSIPS).count(), 2);
        // a negative length is not a record
        let mut bad = (-5i32).to_ne_bytes().to_vec();
        bad.extend_from_slice(&[0; 100]);
        assert_eq!(Packed::new(&bad, OPENSIPS).count(), 0);
        // a length larger than the buffer
        let mut big = (1_000_000i32).to_ne_bytes().to_vec();
        big.extend_from_slice(&[b'x'; 100]);
        assert_eq!(Packed::new(&big, OPENSIPS).count(), 0);
    }

    fn contact(c: &'static str, r: &'static str, p: &'static str) -> PackedContact<'static> {
        PackedContact {
            contact: c.as_bytes(),
            received: r.as_bytes(),
            path: p.as_bytes(),
            socket: 1,
            flags: 0,
        }
    }

    #[test]
    fn destination_rules() {
        let d = |c, r, p| destination(&contact(c, r, p));
        assert_eq!(
            d("sip:a@10.0.0.1:5062;transport=UDP", "", ""),
            Ok("10.0.0.1:5062".parse().unwrap())
        );
        assert_eq!(d("sip:a@10.0.0.1;transport=tcp", "", ""), Err(Skip::NotUdp));
        assert_eq!(d("sips:a@192.0.2.1", "", ""), Err(Skip::NotUdp));
        assert_eq!(
            d("sip:a@pbx.example.com", "", ""),
            Err(Skip::NotAnAddress("pbx.example.com".into()))
        );
        assert!(matches!(d("tel:+123", "", ""), Err(Skip::BadUri(_))));
        // received beats the contact, path beats both
        assert_eq!(
            d("sip:a@pbx.example.com", "sip:192.0.2.8:1234", ""),
            Ok("192.0.2.8:1234".parse().unwrap())
        );
        assert_eq!(
            d(
                "sip:a@10.0.0.1",
                "sip:192.0.2.8:1234",
                "<sip:[2001:db8::1]:5080;lr>,<sip:x;lr>"
            ),
            Ok("[2001:db8::1]:5080".parse().unwrap())
        );
        let mut no_sock = contact("sip:a@192.0.2.1", "", "");
        no_sock.socket = 0;
        assert_eq!(destination(&no_sock), Err(Skip::NoSocket));
    }
}
