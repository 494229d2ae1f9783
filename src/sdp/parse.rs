//! SDP parsing into borrowed spans (RFC 8866, which obsoletes RFC 4566, §5), with the
//! attributes that matter to a media relay: `a=rtcp` (RFC 3605), `a=rtcp-mux` (RFC 5761),
//! direction (RFC 3264 §5.1, RFC 8866 §6.7), ICE (`a=candidate`, `a=ice-ufrag`, `a=ice-pwd`,
//! `a=remote-candidates`, RFC 8839 §5).

use super::error::{Error, ErrorKind, Warning, WarningKind};
use super::fields::{connection, decimal, is_ws, lines, media, rtcp, tokens};
use super::model::*;
use crate::media::{Direction, StreamDesc};

impl<'a> Sdp<'a> {
    /// Parses an SDP body (RFC 8866 §5; line ends CRLF or LF, a missing final line end is
    /// fine). Blank lines and unknown line types are warnings; see [`ErrorKind`] for what fails.
    pub fn parse(body: &'a [u8]) -> Result<Parsed<'a>, Error> {
        let mut warnings = Vec::new();
        let mut sdp = Sdp {
            body,
            eol: b"\r\n",
            session: Session {
                end: body.len(),
                ..Session::default()
            },
            media: Vec::new(),
            remote_candidates: false,
        };
        let mut seen_version = false;
        for line in lines(body) {
            let content = body.get(line.start..line.end).unwrap_or(&[]);
            if content.iter().all(|&b| is_ws(b)) {
                warnings.push(Warning {
                    kind: WarningKind::BlankLine,
                    offset: line.start,
                });
                continue;
            }
            let (kind, value) = match content {
                [k, b'=', rest @ ..] if k.is_ascii_alphabetic() => (*k, rest),
                _ => return Err(Error::at(ErrorKind::BadLine, body, line.start)),
            };
            if !seen_version {
                if kind != b'v' {
                    return Err(Error::at(ErrorKind::NoVersion, body, line.start));
                }
                seen_version = true;
                sdp.eol = if line.next == line.end + 1 {
                    b"\n"
                } else {
                    b"\r\n"
                };
                if value != b"0" {
                    warnings.push(Warning {
                        kind: WarningKind::VersionNotZero,
                        offset: line.start,
                    });
                }
                continue;
            }
            match kind {
                b'v' => return Err(Error::at(ErrorKind::DuplicateVersion, body, line.start)),
                b'm' => {
                    let m = media(body, line, &mut warnings)?;
                    if let Some(prev) = sdp.media.last_mut() {
                        prev.end = line.start;
                    } else {
                        sdp.session.end = line.start;
                    }
                    sdp.media.push(m);
                }
                b'c' => sdp.connection_line(line, &mut warnings)?,
                b'a' => sdp.attribute(line, value, &mut warnings)?,
                b'o' | b's' | b'i' | b'u' | b'e' | b'p' | b'b' | b't' | b'r' | b'z' | b'k' => {}
                _ => warnings.push(Warning {
                    kind: WarningKind::UnknownLineType,
                    offset: line.start,
                }),
            }
        }
        if !seen_version {
            return Err(Error::at(ErrorKind::NoVersion, body, 0));
        }
        for m in &sdp.media {
            if m.is_supported() && m.connections.is_empty() && sdp.session.connection.is_none() {
                if m.port != 0 {
                    return Err(Error::at(ErrorKind::MissingConnection, body, m.line.start));
                }
                warnings.push(Warning {
                    kind: WarningKind::NoConnectionPort0,
                    offset: m.line.start,
                });
            }
        }
        Ok(Parsed { sdp, warnings })
    }

    fn connection_line(&mut self, line: LineSpan, w: &mut Vec<Warning>) -> Result<(), Error> {
        let body = self.body;
        let parsed = connection(body, line, w);
        let warn = |w: &mut Vec<Warning>, kind| {
            w.push(Warning {
                kind,
                offset: line.start,
            })
        };
        match self.media.last_mut() {
            None => {
                let c = parsed.map_err(|off| Error::at(ErrorKind::BadConnection, body, off))?;
                if self.session.connection.is_some() {
                    warn(w, WarningKind::ExtraConnection);
                } else {
                    self.session.connection = Some(c);
                }
            }
            Some(m) => match parsed {
                Ok(c) => {
                    if !m.connections.is_empty() {
                        warn(w, WarningKind::ExtraConnection);
                    }
                    m.connections.push(c);
                }
                Err(off) if m.is_supported() => {
                    return Err(Error::at(ErrorKind::BadConnection, body, off));
                }
                Err(_) => warn(w, WarningKind::IgnoredMalformed),
            },
        }
        Ok(())
    }

    /// `a=<attribute>[:<value>]` (RFC 8866 §5.13): only the attributes a relay needs.
    fn attribute(
        &mut self,
        line: LineSpan,
        value: &[u8],
        w: &mut Vec<Warning>,
    ) -> Result<(), Error> {
        let body = self.body;
        let colon = value.iter().position(|&b| b == b':');
        let name = value.get(..colon.unwrap_or(value.len())).unwrap_or(&[]);
        // Tolerate trailing blanks after a value-less attribute (`a=sendonly `).
        let name = match name.iter().rposition(|&b| !is_ws(b)) {
            Some(last) => name.get(..=last).unwrap_or(name),
            None => name,
        };
        let attr_value = colon.map(|c| line.start + 2 + c + 1);
        let has_value = colon.is_some_and(|c| value.get(c + 1..).is_some_and(|v| !v.is_empty()));
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let warn = |w: &mut Vec<Warning>, kind| {
            w.push(Warning {
                kind,
                offset: line.start,
            })
        };
        if colon.is_none() {
            if let Some(d) = Direction::parse(name) {
                match self.media.last_mut() {
                    Some(m) => m.direction = m.direction.or(Some(d)),
                    None => self.session.direction = self.session.direction.or(Some(d)),
                }
                return Ok(());
            }
        }
        if is("remote-candidates") {
            self.remote_candidates = true;
        } else if is("ice-ufrag") && has_value {
            match self.media.last_mut() {
                Some(m) => m.ice_ufrag = true,
                None => self.session.ice_ufrag = true,
            }
        } else if is("ice-pwd") && has_value {
            match self.media.last_mut() {
                Some(m) => m.ice_pwd = true,
                None => self.session.ice_pwd = true,
            }
        } else if is("rtcp-mux") {
            if let Some(m) = self.media.last_mut() {
                m.rtcp_mux = true;
            }
        } else if is("rtcp") {
            let Some(m) = self.media.last_mut() else {
                warn(w, WarningKind::SessionRtcp);
                return Ok(());
            };
            match rtcp(body, line, attr_value.unwrap_or(line.end), w) {
                Ok(r) => {
                    if !m.rtcp.is_empty() {
                        warn(w, WarningKind::ExtraRtcp);
                    }
                    m.rtcp.push(r);
                }
                Err(off) if m.is_supported() => {
                    return Err(Error::at(ErrorKind::BadRtcp, body, off));
                }
                Err(_) => warn(w, WarningKind::IgnoredMalformed),
            }
        } else if is("candidate") {
            if let Some(m) = self.media.last_mut() {
                m.candidates += 1;
                m.first_candidate = m.first_candidate.or(Some(line.start));
                // candidate-attribute = foundation SP component-id SP transport ...
                let component = attr_value
                    .and_then(|s| tokens(body, s, line.end).nth(1))
                    .and_then(|c| decimal(c.of(body)));
                match component {
                    Some(2) => m.rtcp_candidate = true,
                    Some(_) => {}
                    None => warn(w, WarningKind::BadCandidate),
                }
            }
        }
        Ok(())
    }

    /// The body this SDP was parsed from.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The line end learnt from the `v=` line (CRLF or LF); inserted lines use it.
    pub fn line_ending(&self) -> &'static [u8] {
        self.eol
    }

    /// Whether any `a=remote-candidates` is present (an ICE re-offer after nomination,
    /// RFC 8839 §5.2: callers leave such an SDP alone).
    pub fn has_remote_candidates(&self) -> bool {
        self.remote_candidates
    }

    /// The connection address a stream uses: its own first `c=`, else the session `c=`.
    pub fn stream_connection<'s>(&'s self, m: &'s Media<'a>) -> Option<&'s Connection<'a>> {
        m.connections.first().or(self.session.connection.as_ref())
    }

    /// ICE for a stream, as the C module decides it: ufrag and pwd at media or session level,
    /// and at least one `a=candidate` in the media block.
    pub fn stream_has_ice(&self, m: &Media<'a>) -> bool {
        (m.ice_ufrag || self.session.ice_ufrag)
            && (m.ice_pwd || self.session.ice_pwd)
            && m.candidates > 0
    }

    /// Indices (into [`Sdp::media`]) of the supported streams, in SDP order: the positions a
    /// [`RelayAnswer`](crate::media::RelayAnswer)'s ports refer to.
    pub fn supported(&self) -> impl Iterator<Item = usize> + '_ {
        self.media
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_supported())
            .map(|(i, _)| i)
    }

    /// The streams the control protocol carries: supported streams in SDP order, with media
    /// type, connection address (stream `c=`, else session `c=`, without `/ttl/count`; `0.0.0.0`
    /// for a port-0 stream without any), port (a `/count` suffix dropped), direction (media
    /// level, else session level, else sendrecv) and ICE (see [`Sdp::stream_has_ice`]).
    pub fn relay_streams(&self) -> Vec<StreamDesc> {
        self.media
            .iter()
            .filter(|m| m.is_supported())
            .map(|m| StreamDesc {
                media_type: String::from_utf8_lossy(m.media_type).into_owned(),
                addr: self.stream_connection(m).map_or_else(
                    || "0.0.0.0".to_owned(),
                    |c| String::from_utf8_lossy(c.addr.text).into_owned(),
                ),
                port: m.port,
                direction: m.direction.or(self.session.direction).unwrap_or_default(),
                ice: self.stream_has_ice(m),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_ends() {
        let b = b"v=0\r\no=x\nm=audio 1 RTP/AVP 0";
        let l: Vec<_> = lines(b).map(|l| (l.start, l.end, l.next)).collect();
        assert_eq!(l, vec![(0, 3, 5), (5, 8, 9), (9, 28, 28)]);
    }

    #[test]
    fn tokens_skip_runs_of_blanks() {
        let b = b"IN  IP4\t1.2.3.4 ";
        let t: Vec<_> = tokens(b, 0, b.len()).map(|s| s.of(b)).collect();
        assert_eq!(t, vec![&b"IN"[..], b"IP4", b"1.2.3.4"]);
    }

    #[test]
    fn transports() {
        assert_eq!(Transport::classify(b"rtp/savpf"), Transport::RtpSavpf);
        assert_eq!(Transport::classify(b"UDPTL"), Transport::Udptl);
        assert_eq!(Transport::classify(b"TCP/MSRP"), Transport::Other);
        assert_eq!(Transport::classify(b"UDP/DTLS/SCTP"), Transport::Other);
        assert_eq!(Transport::classify(b"RTP/AVP/TCP"), Transport::Other);
    }

    #[test]
    fn connection_forms() {
        let mut w = Vec::new();
        let b = b"c=IN IP4 224.2.1.1/127/3";
        let l = lines(b).next().unwrap();
        let c = connection(b, l, &mut w).unwrap();
        assert_eq!(c.addr.text, b"224.2.1.1");
        assert_eq!(c.addr.suffix, Some(&b"/127/3"[..]));
        assert_eq!(c.addr.span.of(b), b"224.2.1.1/127/3");
        for bad in [
            &b"c="[..],
            b"c=IN IP4",
            b"c=IN IP7 X",
            b"c=ATM NSAP x",
            b"c=IN IP4 1.2.3.4/x",
            b"c=IN IP4 10.0.0.1 extra",
            b"c=IN IP4 ::1",
            b"c=IN IP4 999.1.1.1",
        ] {
            let l = lines(bad).next().unwrap();
            assert!(
                connection(bad, l, &mut w).is_err(),
                "{}",
                bad.escape_ascii()
            );
        }
        let b = b"c=IN IP6 host.example.com";
        let l = lines(b).next().unwrap();
        let c = connection(b, l, &mut w).unwrap();
        assert_eq!(c.addr.ip, None);
        assert_eq!(c.addr.family, AddrType::Ip6);
    }
}
