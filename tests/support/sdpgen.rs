//! Seeded structural variations of SDP bodies: the shapes that reach a proxy in the field and
//! the ones that once crashed one (a stream rejected, `c=` moved below the first `m=`, a
//! stream without attributes appended at the end, LF-only line ends, no final line end, a
//! truncated line, ...). Everything follows from the seed, so a failing case replays from the
//! seed printed with it.
#![allow(dead_code)]

/// splitmix64: small, seedable, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (0 for n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Bodies written for this project, so the variations run without any corpus: the classes of
/// shape the field sends (session-level and media-level `c=`, several streams, hold, rejected
/// streams, ICE, rtcp-mux, IPv6, MSRP, no attributes).
pub const BASES: &[&str] = &[
    "v=0\r\no=alice 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
    "v=0\r\no=- 2 2 IN IP4 10.0.0.5\r\ns=call\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP4 10.0.0.5\r\na=rtcp:30001\r\nm=video 30002 RTP/AVP 96\r\nc=IN IP4 10.0.0.5\r\na=rtpmap:96 H264/90000\r\n",
    "v=0\r\no=bob 3 3 IN IP4 172.16.0.9\r\ns=-\r\nc=IN IP4 172.16.0.9\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\nm=message 28000 TCP/MSRP *\r\n",
    "v=0\r\no=- 4 4 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\na=sendonly\r\n",
    "v=0\r\no=- 5 5 IN IP6 2001:db8::10\r\ns=-\r\nc=IN IP6 2001:db8::10\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtcp-mux\r\n",
    "v=0\r\no=- 6 6 IN IP4 192.168.5.5\r\ns=-\r\nc=IN IP4 192.168.5.5\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\nm=audio 8000 RTP/AVP 0\r\na=candidate:1 1 UDP 2130706431 192.168.5.5 8000 typ host\r\na=candidate:1 2 UDP 2130706430 192.168.5.5 8001 typ host\r\n",
    "v=0\r\no=- 7 7 IN IP4 192.168.7.7\r\ns=-\r\nc=IN IP4 192.168.7.7\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n",
    "v=0\r\no=- 8 8 IN IP4 192.168.8.8\r\ns=-\r\nt=0 0\r\nm=audio 9000 RTP/SAVP 0\r\nc=IN IP4 192.168.8.8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\na=inactive\r\n",
];

fn lines(body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' {
            out.push(body[start..=i].to_vec());
            start = i + 1;
        }
    }
    if start < body.len() {
        out.push(body[start..].to_vec());
    }
    out
}

fn starts(line: &[u8], p: &[u8]) -> bool {
    line.starts_with(p)
}

fn first_m(ls: &[Vec<u8>]) -> Option<usize> {
    ls.iter().position(|l| starts(l, b"m="))
}

/// One mutation of the body's lines; its name.
fn mutate(ls: &mut Vec<Vec<u8>>, rng: &mut Rng) -> &'static str {
    let ms: Vec<usize> = (0..ls.len()).filter(|&i| starts(&ls[i], b"m=")).collect();
    match rng.below(12) {
        0 if !ms.is_empty() => {
            // reject a stream: its port becomes 0
            let i = ms[rng.below(ms.len())];
            let l = String::from_utf8_lossy(&ls[i]).into_owned();
            let mut parts: Vec<&str> = l.splitn(3, ' ').collect();
            if parts.len() == 3 {
                parts[1] = "0";
                ls[i] = parts.join(" ").into_bytes();
            }
            "reject a stream"
        }
        1 => {
            // the session-level c= moves below the first m=
            if let (Some(c), Some(m)) = (ls.iter().position(|l| starts(l, b"c=")), first_m(ls)) {
                if c < m {
                    let line = ls.remove(c);
                    ls.insert(m, line);
                }
            }
            "c= below the first m="
        }
        2 => {
            let tail: &[u8] = match rng.below(4) {
                0 => b"m=message 28000 TCP/MSRP *\r\n",
                1 => b"m=video 0 RTP/AVP 31\r\n",
                2 => b"m=audio 5008 RTP/AVP 0\r\n",
                _ => b"m=application 9 UDP/BFCP *\r\n",
            };
            if let Some(l) = ls.last_mut().filter(|l| !l.ends_with(b"\n")) {
                l.extend_from_slice(b"\r\n");
            }
            ls.push(tail.to_vec());
            "a stream without attributes at the end"
        }
        3 => {
            for l in ls.iter_mut() {
                if l.ends_with(b"\r\n") {
                    l.remove(l.len() - 2);
                }
            }
            "LF-only line ends"
        }
        4 => {
            if let Some(l) = ls.last_mut() {
                while l.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                    l.pop();
                }
            }
            "no final line end"
        }
        5 if !ls.is_empty() => {
            // a line cut short (and the body ends there)
            let i = ls.len() - 1 - rng.below(ls.len().min(3));
            let keep = rng.below(ls[i].len().max(1));
            ls[i].truncate(keep);
            ls.truncate(i + 1);
            "a truncated line"
        }
        6 => {
            // attributes after the last m= removed
            if let Some(&m) = ms.last() {
                ls.truncate(m + 1);
            }
            "no attributes after the last m="
        }
        7 if !ms.is_empty() => {
            // media-level c= added to a stream
            let i = ms[rng.below(ms.len())];
            ls.insert(i + 1, b"c=IN IP4 192.168.99.1\r\n".to_vec());
            "media-level c="
        }
        8 => {
            ls.push(if rng.chance(50) {
                b"\r\n".to_vec()
            } else {
                b"a=x-trailer\r\n".to_vec()
            });
            "an extra line at the end"
        }
        9 if !ms.is_empty() => {
            let i = ms[rng.below(ms.len())];
            let a: &[u8] = match rng.below(4) {
                0 => b"a=rtcp:9 IN IP4 192.168.1.1\r\n",
                1 => b"a=rtcp-mux\r\n",
                2 => b"a=sendonly\r\n",
                _ => b"a=candidate:2 1 UDP 1694498815 203.0.113.9 4000 typ srflx raddr 192.168.1.10 rport 4000\r\n",
            };
            ls.insert(i + 1, a.to_vec());
            "a media attribute"
        }
        10 => {
            for l in ls.iter_mut().filter(|l| starts(l, b"c=IN IP4")) {
                *l = b"c=IN IP6 2001:db8::99\r\n".to_vec();
            }
            "IPv6 connection"
        }
        _ => {
            // a line doubled
            if !ls.is_empty() {
                let i = rng.below(ls.len());
                let l = ls[i].clone();
                ls.insert(i, l);
            }
            "a line doubled"
        }
    }
}

/// Variation `n` of `base` under `seed`: 1–3 mutations; their names.
pub fn vary(base: &[u8], seed: u64) -> (Vec<u8>, Vec<&'static str>) {
    let mut rng = Rng::new(seed);
    let mut ls = lines(base);
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(3) {
        what.push(mutate(&mut ls, &mut rng));
    }
    (ls.concat(), what)
}
