//! The control socket server: a unix stream listener speaking the dispatcher protocol.
//!
//! Guarantees:
//! * the socket file is created with mode 0660 before it becomes visible (bound under a
//!   temporary name, chmod-ed, then renamed over the final path, which also replaces a stale
//!   socket file atomically); a path that holds a live server or a non-socket file is refused;
//! * every request yields exactly one reply line, in order; a malformed request is answered
//!   `error` and the connection stays open; a connection that sends garbage never affects another
//!   one;
//! * the socket file is removed when the server is dropped (if it is still ours).
//!
//! The server never blocks and never waits: the owner polls [`Server::poll_fds`] for
//! readiness and then calls [`Server::service`].

use super::codec::{CodecError, Request, RequestReader};
use crate::eintr;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Connections beyond this are accepted and closed at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// A connection whose unread replies exceed this is closed (the peer stopped reading).
pub const MAX_OUTPUT: usize = 64 << 20;

/// What answers requests: the relay engine.
pub trait Handler {
    /// Answers one well-formed request with one line (without its line end). Never sees
    /// [`Request::Quit`].
    fn handle(&mut self, req: Request) -> String;
    /// A malformed request arrived; it is answered `error` by the server.
    fn malformed(&mut self, err: &CodecError);
}

struct Conn {
    stream: UnixStream,
    reader: RequestReader,
    out: Vec<u8>,
    /// Close once `out` is flushed (after `quit`, or the peer closed its side).
    closing: bool,
    dead: bool,
}

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    ino: (u64, u64),
    conns: Vec<Conn>,
}

impl Server {
    /// Binds the control socket at `path` (mode 0660), replacing a stale socket file.
    pub fn bind(path: &Path) -> io::Result<Server> {
        match std::fs::symlink_metadata(path) {
            Ok(md) => {
                if !md.file_type().is_socket() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} exists and is not a socket", path.display()),
                    ));
                }
                if UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{} is served by another process", path.display()),
                    ));
                }
                // stale: replaced by the rename below
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file_name = path.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "socket path has no file name")
        })?;
        let mut tmp_name = file_name.to_os_string();
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp)?;
        let finish = || -> io::Result<()> {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = finish() {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        listener.set_nonblocking(true)?;
        let md = std::fs::symlink_metadata(path)?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            ino: (md.dev(), md.ino()),
            conns: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of open client connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Descriptors to watch: `(fd, wants_write)`; the listener comes first.
    pub fn poll_fds(&self) -> Vec<(RawFd, bool)> {
        let mut v = Vec::with_capacity(self.conns.len() + 1);
        v.push((self.listener.as_raw_fd(), false));
        v.extend(
            self.conns
                .iter()
                .map(|c| (c.stream.as_raw_fd(), !c.out.is_empty())),
        );
        v
    }

    /// Accepts pending connections, reads what is there, answers complete requests and
    /// writes replies. Never blocks.
    pub fn service(&mut self, handler: &mut dyn Handler) {
        self.accept_all();
        let mut buf = [0u8; 16 * 1024];
        for c in &mut self.conns {
            // bounded number of reads per call so one chatty client cannot starve the rest
            for _ in 0..16 {
                if c.closing || c.dead {
                    break;
                }
                match eintr::retry(|| c.stream.read(&mut buf)) {
                    Ok(0) => {
                        c.closing = true;
                    }
                    Ok(n) => {
                        c.reader.push(&buf[..n]);
                        Self::answer(c, handler);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => c.dead = true,
                }
            }
            Self::flush(c);
        }
        self.conns
            .retain(|c| !(c.dead || c.closing && c.out.is_empty()));
    }

    fn accept_all(&mut self) {
        // until WouldBlock, or a transient accept error (EMFILE…)
        while let Ok((stream, _)) = eintr::retry(|| self.listener.accept()) {
            if self.conns.len() >= MAX_CONNECTIONS || stream.set_nonblocking(true).is_err() {
                continue; // dropped: closed
            }
            self.conns.push(Conn {
                stream,
                reader: RequestReader::new(),
                out: Vec::new(),
                closing: false,
                dead: false,
            });
        }
    }

    fn answer(c: &mut Conn, handler: &mut dyn Handler) {
        while let Some(req) = c.reader.next_request() {
            let line = match req {
                Ok(Request::Quit) => {
                    c.closing = true;
                    return;
                }
                Ok(r) => handler.handle(r),
                Err(e) => {
                    handler.malformed(&e);
                    "error".to_string()
                }
            };
            c.out.extend_from_slice(line.as_bytes());
            c.out.extend_from_slice(b"\r\n");
            if c.out.len() > MAX_OUTPUT {
                c.dead = true;
                return;
            }
        }
    }

    fn flush(c: &mut Conn) {
        while !c.out.is_empty() && !c.dead {
            match eintr::retry(|| c.stream.write(&c.out)) {
                Ok(0) => c.dead = true,
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => c.dead = true,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(md) = std::fs::symlink_metadata(&self.path) {
            if (md.dev(), md.ino()) == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    struct Echo(usize);
    impl Handler for Echo {
        fn handle(&mut self, req: Request) -> String {
            match req {
                Request::Sessions => "[]".into(),
                Request::Remove(_) => "removed".into(),
                _ => "127.0.0.1".into(),
            }
        }
        fn malformed(&mut self, _: &CodecError) {
            self.0 += 1;
        }
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mp-srv-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    }

    fn transact(
        server: &mut Server,
        h: &mut Echo,
        c: &mut BufReader<UnixStream>,
        req: &[u8],
    ) -> String {
        c.get_mut().write_all(req).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        c.get_ref().set_nonblocking(true).unwrap();
        let mut line = String::new();
        loop {
            server.service(h);
            match c.read_line(&mut line) {
                Ok(_) if line.ends_with('\n') => return line,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            assert!(Instant::now() < deadline, "no reply");
            std::thread::yield_now();
        }
    }

    #[test]
    fn mode_stale_replacement_and_cleanup() {
        let dir = tmpdir("mode");
        let path = dir.join("ctl.sock");
        // a stale socket file (no listener behind it)
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = Server::bind(&path).unwrap();
        let md = std::fs::metadata(&path).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o660);
        // a second server on a live path is refused
        assert_eq!(
            Server::bind(&path).err().map(|e| e.kind()),
            Some(io::ErrorKind::AddrInUse)
        );
        drop(server);
        assert!(!path.exists());
        // a regular file is never deleted
        std::fs::write(&path, b"x").unwrap();
        assert!(Server::bind(&path).is_err());
        assert!(path.exists());
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn garbage_gets_error_and_the_connection_lives_on() {
        let dir = tmpdir("garbage");
        let path = dir.join("ctl.sock");
        let mut server = Server::bind(&path).unwrap();
        let mut h = Echo(0);
        let mut c = BufReader::new(UnixStream::connect(&path).unwrap());
        assert_eq!(
            transact(&mut server, &mut h, &mut c, b"hello\r\n\r\n"),
            "error\r\n"
        );
        assert_eq!(h.0, 1);
        assert_eq!(
            transact(&mut server, &mut h, &mut c, b"sessions\r\n"),
            "[]\r\n"
        );
        assert_eq!(
            transact(
                &mut server,
                &mut h,
                &mut c,
                b"remove\r\ncall_id: a\r\nfrom_tag: b\r\n\r\n"
            ),
            "removed\r\n"
        );
        assert_eq!(server.connections(), 1);
        drop(server);
        let _ = std::fs::remove_dir(&dir);
    }
}
