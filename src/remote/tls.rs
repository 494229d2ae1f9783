//! TLS for the dispatcher⇄relay link: configurations with mutual X.509 checks and a
//! non-blocking stream driven by the owner's `poll` (the caller frames what it reads).
//!
//! Trust is the CA file on both ends, as in MediaProxy: the dispatcher requires a client
//! certificate issued by its CA; the relay requires a server certificate issued by its CA but
//! does not match the certificate against the dispatcher's host name (MediaProxy does not
//! either; a dedicated CA is the access control). A relay is named by its certificate's subject
//! common name (its peer address when there is none).
//!
//! rustls with the ring provider: a maintained, memory-safe TLS stack that builds with the C
//! compiler only.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Certificate, key and CA, PEM files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// Plaintext buffered towards the peer at most (a peer that stops reading is dropped).
pub const MAX_BUFFERED: usize = 64 << 20;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter =
        CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if v.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(v)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("{}: no usable private key: {e}", path.display()))
}

fn roots(path: &Path) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    for c in certs(path)? {
        store
            .add(c)
            .map_err(|e| format!("{}: bad CA certificate: {e}", path.display()))?;
    }
    Ok(Arc::new(store))
}

/// The dispatcher's configuration: its certificate, and client certificates required and
/// checked against the CA.
pub fn server_config(f: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let p = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(&f.ca)?, p.clone())
        .build()
        .map_err(|e| format!("{}: {e}", f.ca.display()))?;
    let cfg = rustls::ServerConfig::builder_with_provider(p)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&f.cert)?, key(&f.key)?)
        .map_err(|e| format!("{} / {}: {e}", f.cert.display(), f.key.display()))?;
    Ok(Arc::new(cfg))
}

/// The relay's configuration: its certificate for client authentication, and the dispatcher's
/// certificate checked against the CA (chain, validity, key usage; not the host name).
pub fn client_config(f: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, String> {
    let p = provider();
    let inner = WebPkiServerVerifier::builder_with_provider(roots(&f.ca)?, p.clone())
        .build()
        .map_err(|e| format!("{}: {e}", f.ca.display()))?;
    let cfg = rustls::ClientConfig::builder_with_provider(p)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaOnly(inner)))
        .with_client_auth_cert(certs(&f.cert)?, key(&f.key)?)
        .map_err(|e| format!("{} / {}: {e}", f.cert.display(), f.key.display()))?;
    Ok(Arc::new(cfg))
}

/// The web PKI server verifier with the name check left out: everything else (chain to the CA,
/// validity, signatures) is the verifier's own work, which checks the name last.
#[derive(Debug)]
struct CaOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A TLS connection over a non-blocking TCP socket, read line by line.
pub struct TlsStream {
    sock: TcpStream,
    conn: rustls::Connection,
    inbox: Vec<u8>,
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// The dispatcher's end of an accepted connection.
    pub fn accept(sock: TcpStream, cfg: Arc<rustls::ServerConfig>) -> io::Result<TlsStream> {
        let conn = rustls::ServerConnection::new(cfg).map_err(tls_err)?;
        Self::new(sock, conn.into())
    }

    /// The relay's end of a connection to `host` (the name is sent as SNI when it is one).
    pub fn connect(
        sock: TcpStream,
        cfg: Arc<rustls::ClientConfig>,
        host: &str,
    ) -> io::Result<TlsStream> {
        // the name is not checked (see the module documentation); one that is not a valid
        // server name (an odd host string) is replaced by a fixed one
        let name = ServerName::try_from(host.to_string())
            .or_else(|_| ServerName::try_from("mediaproxy-dispatcher".to_string()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = rustls::ClientConnection::new(cfg, name).map_err(tls_err)?;
        Self::new(sock, conn.into())
    }

    fn new(sock: TcpStream, mut conn: rustls::Connection) -> io::Result<TlsStream> {
        sock.set_nonblocking(true)?;
        let _ = sock.set_nodelay(true);
        conn.set_buffer_limit(Some(MAX_BUFFERED));
        Ok(TlsStream {
            sock,
            conn,
            inbox: Vec::new(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.sock.peer_addr().ok()
    }

    /// Whether TLS records wait to be written (poll for writability then).
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Runs the handshake to its end or `deadline`, waiting with `poll`.
    pub fn handshake(&mut self, deadline: Instant) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.flush()?;
            if !self.conn.is_handshaking() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            crate::relay::sys::poll_any(
                &[(self.fd(), self.wants_write())],
                left.min(Duration::from_millis(200)),
            )?;
            if !self.read_some()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the TLS handshake",
                ));
            }
        }
        self.flush()
    }

    /// Reads what the socket holds. `Ok(false)`: the peer closed the connection.
    pub fn read_some(&mut self) -> io::Result<bool> {
        for _ in 0..64 {
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => {
                    self.take_plaintext()?;
                    return Ok(false);
                }
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        // tell the peer why (an alert), then give up
                        let _ = self.flush();
                        return Err(tls_err(e));
                    }
                    self.take_plaintext()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn take_plaintext(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => self.inbox.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// The plaintext received so far (taken: the caller frames it).
    pub fn take_input(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.inbox)
    }

    /// Queues `data` and writes what the socket takes.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let n = self.conn.writer().write(data)?;
        if n < data.len() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "peer not reading: output buffer full",
            ));
        }
        self.flush()
    }

    /// Writes pending TLS records until the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "connection closed",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The peer certificate's subject common name.
    pub fn peer_common_name(&self) -> Option<String> {
        let der = self.conn.peer_certificates()?.first()?;
        subject_common_name(der.as_ref())
    }
}

// ---------------------------------------------------------------------------------------------
// the subject CN of a (verified) certificate: a small DER walk

/// One DER element: (tag, content, rest).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l0, mut d) = d.split_first()?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &d[..n] {
            len = (len << 8) | usize::from(b);
        }
        d = &d[n..];
        len
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

/// The first common name (OID 2.5.4.3) of the certificate's subject.
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (_, cert, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // explicit version
    }
    // serial, signature algorithm, issuer, validity, then the subject
    for _ in 0..4 {
        rest = tlv(rest)?.2;
    }
    let (_, mut subject, _) = tlv(rest)?;
    while let Some((_, set, r)) = tlv(subject) {
        subject = r;
        let mut set = set;
        while let Some((_, atv, r2)) = tlv(set) {
            set = r2;
            let (oid_tag, oid, value) = tlv(atv)?;
            if oid_tag == 0x06 && oid == [0x55, 0x04, 0x03] {
                let (vtag, v, _) = tlv(value)?;
                // UTF8String, PrintableString, IA5String, TeletexString
                if matches!(vtag, 0x0c | 0x13 | 0x16 | 0x14) {
                    return Some(String::from_utf8_lossy(v).into_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_of_a_generated_certificate() {
        let mut p = rcgen::CertificateParams::new(vec!["relay.example".to_string()]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "relay-a");
        let k = rcgen::KeyPair::generate().unwrap();
        let c = p.self_signed(&k).unwrap();
        assert_eq!(subject_common_name(c.der()).as_deref(), Some("relay-a"));
        let p2 = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap();
        let mut p2 = p2;
        p2.distinguished_name = rcgen::DistinguishedName::new();
        let c2 = p2.self_signed(&k).unwrap();
        assert_eq!(subject_common_name(c2.der()), None);
    }

    #[test]
    fn truncated_der_is_none_not_a_panic() {
        let k = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&k)
            .unwrap();
        let der = c.der().to_vec();
        for n in 0..der.len() {
            let _ = subject_common_name(&der[..n]);
        }
        assert_eq!(
            subject_common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }

    #[test]
    fn missing_files_are_clear_errors() {
        let f = TlsFiles {
            cert: "/nonexistent/c.pem".into(),
            key: "/nonexistent/k.pem".into(),
            ca: "/nonexistent/ca.pem".into(),
        };
        let e = server_config(&f).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let e = client_config(&f).unwrap_err();
        assert!(e.contains("/nonexistent/"), "{e}");
    }
}
