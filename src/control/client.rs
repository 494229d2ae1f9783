//! The control client used by SIP worker processes (and MI handlers): one persistent
//! unix-stream connection, opened lazily on the first request.
//!
//! Behaviour (`prior-art.md` §1.4, the C module's):
//! * every request has one deadline (`timeout`, default 500 ms) covering send and reply;
//! * on timeout, EOF, an I/O error, or stray bytes after the reply line the socket is closed
//!   and the request fails: a stale stream is never resynchronised;
//! * after a failure, connecting again is suppressed for `retry_interval` (default 10 s) and
//!   requests fail at once with [`ClientError::Suspended`];
//! * `EPIPE`/`ECONNRESET` while sending (the relay restarted and our connection is dead)
//!   reconnects at once and sends again, at most 3 attempts in all;
//! * sends use `MSG_NOSIGNAL`, so a closed peer never raises SIGPIPE in the host process.
//!
//! Replies are validated ([`codec::parse_update_reply`]): an update answer must be an IP
//! literal followed by one port per stream sent.

use super::codec::{self, CodecError, RemoveRequest, ReplyError, UpdateRequest};
use crate::media::RelayAnswer;
use socket2::{Domain, SockAddr, Socket, Type};
use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Settings of one client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Control socket path (`mediaproxy_socket`).
    pub socket: PathBuf,
    /// Deadline of one request, send and reply (`mediaproxy_timeout`).
    pub timeout: Duration,
    /// How long reconnecting is suppressed after a failure.
    pub retry_interval: Duration,
}

/// How long reconnecting is suppressed after a failure, by default.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);

impl Default for ClientConfig {
    /// `mediaproxy_socket` and `mediaproxy_timeout` of the default settings.
    fn default() -> Self {
        let s = crate::settings::Settings::default();
        ClientConfig {
            socket: s.mediaproxy_socket,
            timeout: s.mediaproxy_timeout,
            retry_interval: RETRY_INTERVAL,
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum ClientError {
    /// A recent failure suppresses reconnecting (retry interval not yet over).
    Suspended,
    /// Connecting to the control socket failed.
    Connect(io::Error),
    /// Sending or receiving failed.
    Io(io::Error),
    /// No complete reply before the deadline.
    Timeout,
    /// The relay closed the connection.
    Closed,
    /// The relay answered `error`.
    Relay,
    /// The reply was not what the protocol allows (for example `None`).
    BadReply(String),
    /// The request cannot be written (a value holds CR/LF, …).
    Encode(CodecError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Suspended => {
                f.write_str("relay connection suspended after a recent failure")
            }
            ClientError::Connect(e) => write!(f, "cannot connect to the relay control socket: {e}"),
            ClientError::Io(e) => write!(f, "relay control socket I/O error: {e}"),
            ClientError::Timeout => f.write_str("relay did not answer in time"),
            ClientError::Closed => f.write_str("relay closed the control connection"),
            ClientError::Relay => f.write_str("relay answered error"),
            ClientError::BadReply(l) => write!(f, "malformed relay reply {l:?}"),
            ClientError::Encode(e) => write!(f, "cannot encode request: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<ReplyError> for ClientError {
    fn from(e: ReplyError) -> Self {
        match e {
            ReplyError::Relay => ClientError::Relay,
            ReplyError::Malformed(l) => ClientError::BadReply(l),
        }
    }
}

/// Longest reply line accepted (`sessions` can be long).
const MAX_REPLY: usize = 64 << 20;

pub struct Client {
    cfg: ClientConfig,
    sock: Option<Socket>,
    failed_at: Option<Instant>,
    buf: Vec<u8>,
}

impl Client {
    /// No connection is opened until the first request.
    pub fn new(cfg: ClientConfig) -> Client {
        Client {
            cfg,
            sock: None,
            failed_at: None,
            buf: Vec::new(),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Whether a connection is open now.
    pub fn is_connected(&self) -> bool {
        self.sock.is_some()
    }

    /// Sends an `update`; the answer has one port per stream of `req.media`.
    pub fn update(&mut self, req: &UpdateRequest) -> Result<RelayAnswer, ClientError> {
        let wire = codec::encode_update(req).map_err(ClientError::Encode)?;
        let line = self.transact(wire.as_bytes())?;
        Ok(codec::parse_update_reply(&line, req.media.len())?)
    }

    /// Sends a `remove` asking for the session statistics. `Ok(Some(json))` when the relay
    /// returned them (our relay does), `Ok(None)` for a plain `removed` (MediaProxy's dispatcher).
    pub fn remove(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
    ) -> Result<Option<String>, ClientError> {
        let wire = codec::encode_remove(&RemoveRequest {
            call_id: call_id.to_string(),
            from_tag: from_tag.to_string(),
            to_tag: to_tag.to_string(),
            want_stats: true,
        })
        .map_err(ClientError::Encode)?;
        let line = self.transact(wire.as_bytes())?;
        Ok(codec::parse_remove_reply(&line)?)
    }

    /// Sends a `copy` (our relay only): an offer's answer is `Some(ip and one port per
    /// entry)`, an answer's (`ok`) and a delete's (`removed`) are `None`.
    pub fn copy(
        &mut self,
        req: &super::copy::CopyRequest,
    ) -> Result<Option<RelayAnswer>, ClientError> {
        use super::copy::CopyAction;
        let wire = super::copy::encode(req).map_err(ClientError::Encode)?;
        let line = self.transact(wire.as_bytes())?;
        match &req.action {
            CopyAction::Offer { entries, .. } => {
                Ok(Some(codec::parse_update_reply(&line, entries.len())?))
            }
            CopyAction::Answer { .. } | CopyAction::Delete => match line.as_str() {
                "ok" | "removed" => Ok(None),
                "error" => Err(ClientError::Relay),
                _ => Err(ClientError::BadReply(line)),
            },
        }
    }

    /// Sends a `record` (our relay only): `Some(file)` for a start, `None` for a stop.
    pub fn record(
        &mut self,
        req: &super::record::RecordRequest,
    ) -> Result<Option<String>, ClientError> {
        let wire = super::record::encode(req).map_err(ClientError::Encode)?;
        let line = self.transact(wire.as_bytes())?;
        match super::record::parse_reply(&line) {
            Ok(r) => Ok(r),
            Err("error") => Err(ClientError::Relay),
            Err(_) => Err(ClientError::BadReply(line.clone())),
        }
    }

    /// A management command (`sessions`, `summary`, `version`); returns the reply line.
    /// The `(from_tag, to_tag)` of every session of a Call-ID.
    pub fn tags(&mut self, call_id: &str) -> Result<Vec<(String, String)>, ClientError> {
        let wire = codec::encode_tags(call_id).map_err(ClientError::Encode)?;
        let line = self.transact(wire.as_bytes())?;
        Ok(codec::parse_tags_reply(&line)?)
    }

    pub fn command(&mut self, cmd: &str) -> Result<String, ClientError> {
        if cmd.is_empty() || cmd.contains(['\r', '\n']) {
            return Err(ClientError::Encode(CodecError::Unencodable("command")));
        }
        let line = self.transact(format!("{cmd}\r\n").as_bytes())?;
        if line == "error" {
            return Err(ClientError::Relay);
        }
        Ok(line)
    }

    fn close(&mut self) {
        self.sock = None;
        self.buf.clear();
    }

    fn fail(&mut self, e: ClientError) -> ClientError {
        self.close();
        self.failed_at = Some(Instant::now());
        e
    }

    fn connect(&mut self, ignore_backoff: bool) -> Result<(), ClientError> {
        if self.sock.is_some() {
            return Ok(());
        }
        if !ignore_backoff {
            if let Some(t) = self.failed_at {
                if t.elapsed() < self.cfg.retry_interval {
                    return Err(ClientError::Suspended);
                }
            }
        }
        let addr =
            SockAddr::unix(&self.cfg.socket).map_err(|e| self.fail(ClientError::Connect(e)))?;
        let sock = Socket::new(Domain::UNIX, Type::STREAM, None)
            .map_err(|e| self.fail(ClientError::Connect(e)))?;
        sock.connect(&addr)
            .map_err(|e| self.fail(ClientError::Connect(e)))?;
        self.sock = Some(sock);
        self.failed_at = None;
        Ok(())
    }

    /// One request, one reply line (without its line end).
    fn transact(&mut self, wire: &[u8]) -> Result<String, ClientError> {
        let deadline = Instant::now() + self.cfg.timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.connect(attempt > 1)?;
            match self.send_all(wire, deadline) {
                Ok(()) => break,
                Err(ClientError::Io(e))
                    if attempt < 3
                        && matches!(
                            e.kind(),
                            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        ) =>
                {
                    self.close();
                    continue;
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        match self.read_line(deadline) {
            Ok(l) => Ok(l),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn remaining(deadline: Instant) -> Result<Duration, ClientError> {
        let now = Instant::now();
        if now >= deadline {
            return Err(ClientError::Timeout);
        }
        Ok((deadline - now).max(Duration::from_millis(1)))
    }

    fn send_all(&mut self, mut data: &[u8], deadline: Instant) -> Result<(), ClientError> {
        let Some(sock) = self.sock.as_ref() else {
            return Err(ClientError::Closed);
        };
        while !data.is_empty() {
            sock.set_write_timeout(Some(Self::remaining(deadline)?))
                .map_err(ClientError::Io)?;
            match sock.send_with_flags(data, libc::MSG_NOSIGNAL) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Self::io_error(e)),
            }
        }
        Ok(())
    }

    /// A socket error as the caller sees it: an expired deadline is a timeout.
    fn io_error(e: io::Error) -> ClientError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout,
            _ => ClientError::Io(e),
        }
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String, ClientError> {
        let Some(sock) = self.sock.as_ref() else {
            return Err(ClientError::Closed);
        };
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                if i + 1 != self.buf.len() {
                    // bytes beyond the one reply: the stream is out of step
                    return Err(ClientError::BadReply(
                        "unexpected data after the reply".into(),
                    ));
                }
                let mut end = i;
                if end > 0 && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.clear();
                return Ok(line);
            }
            if self.buf.len() > MAX_REPLY {
                return Err(ClientError::BadReply("reply too long".into()));
            }
            sock.set_read_timeout(Some(Self::remaining(deadline)?))
                .map_err(ClientError::Io)?;
            match (&*sock).read(&mut chunk) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Self::io_error(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::codec::MessageType;
    use crate::media::{Direction, StreamDesc};
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    use std::path::Path;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mp-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        let p = d.join("s.sock");
        let _ = std::fs::remove_file(&p);
        p
    }

    fn req() -> UpdateRequest {
        UpdateRequest {
            kind: MessageType::Request,
            call_id: "c".into(),
            cseq: 1,
            from_uri: "a".into(),
            to_uri: "b".into(),
            from_tag: "f".into(),
            user_agent: "ua".into(),
            signaling_ip: "127.0.0.1".into(),
            media: vec![StreamDesc {
                media_type: "audio".into(),
                addr: "127.0.0.1".into(),
                port: 4000,
                direction: Direction::SendRecv,
                ice: false,
            }],
            ..Default::default()
        }
    }

    /// A fake relay that answers each request with the next scripted line (or stays silent
    /// for `None`), one connection after another.
    fn fake(path: &Path, script: Vec<Vec<Option<&'static str>>>) -> std::thread::JoinHandle<usize> {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let mut served = 0;
            for conn_script in script {
                let (s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut r = BufReader::new(s);
                for answer in conn_script.iter().copied() {
                    // read one request block
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return served;
                        }
                        if line == "\r\n" || line == "sessions\r\n" {
                            break;
                        }
                    }
                    served += 1;
                    if let Some(a) = answer {
                        r.get_mut().write_all(a.as_bytes()).unwrap();
                    }
                }
                // hold the connection until the client closes it
                let mut rest = String::new();
                while r.read_line(&mut rest).unwrap_or(0) > 0 {
                    rest.clear();
                }
            }
            served
        })
    }

    fn cfg(path: &Path, retry: Duration) -> ClientConfig {
        ClientConfig {
            socket: path.to_path_buf(),
            timeout: Duration::from_millis(300),
            retry_interval: retry,
        }
    }

    #[test]
    fn lazy_connect_and_validated_replies() {
        let path = tmp("ok");
        let srv = fake(
            &path,
            vec![vec![
                Some("127.0.0.1 40000\r\n"),
                Some("None\r\n"),
                Some("removed {}\r\n"),
            ]],
        );
        let mut c = Client::new(cfg(&path, Duration::ZERO));
        assert!(!c.is_connected());
        let a = c.update(&req()).unwrap();
        assert_eq!(a.ports, vec![40000]);
        assert!(c.is_connected());
        // `None` is refused (the stream is still in step: one line per request)
        assert!(matches!(c.update(&req()), Err(ClientError::BadReply(_))));
        assert_eq!(c.remove("c", "f", "t").unwrap(), Some("{}".into()));
        drop(c);
        assert_eq!(srv.join().unwrap(), 3);
    }

    #[test]
    fn timeout_closes_and_backoff_suppresses_reconnect() {
        let path = tmp("timeout");
        let srv = fake(&path, vec![vec![None]]);
        let mut c = Client::new(cfg(&path, Duration::from_secs(3600)));
        let t0 = Instant::now();
        assert!(matches!(c.update(&req()), Err(ClientError::Timeout)));
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert!(!c.is_connected());
        assert!(matches!(c.update(&req()), Err(ClientError::Suspended)));
        assert!(matches!(c.command("sessions"), Err(ClientError::Suspended)));
        drop(c);
        assert_eq!(srv.join().unwrap(), 1);
    }

    #[test]
    fn no_relay_is_a_connect_error() {
        let path = tmp("none");
        let mut c = Client::new(cfg(&path, Duration::ZERO));
        assert!(matches!(c.update(&req()), Err(ClientError::Connect(_))));
    }

    #[test]
    fn dead_connection_is_replaced_at_once() {
        let path = tmp("reset");
        let l = UnixListener::bind(&path).unwrap();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        let srv = std::thread::spawn(move || {
            // first connection: closed by the relay without a word
            drop(l.accept().unwrap());
            closed_tx.send(()).unwrap();
            let (s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            r.get_mut().write_all(b"127.0.0.1 40002\r\n").unwrap();
        });
        let mut c = Client::new(cfg(&path, Duration::from_secs(3600)));
        c.connect(false).unwrap();
        closed_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // the send hits EPIPE on the dead connection: reconnect at once, no back-off
        assert_eq!(c.update(&req()).unwrap().ports, vec![40002]);
        srv.join().unwrap();
    }
}
