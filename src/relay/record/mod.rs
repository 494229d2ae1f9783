//! Call recording to pcap files, off the forwarding path.
//!
//! ```text
//!   worker (forwards a packet) ──try_send(copy)──► bounded queue ──► writer thread ──► <dir>/<call>.pcap
//!          never waits; a full queue drops the copy and counts it
//! ```
//!
//! * [`Recorder::start`] spawns the one writer thread; [`Recorder::handle`] gives the workers a
//!   cheap clonable [`RecordHandle`] whose [`RecordHandle::packet`] copies a datagram into the
//!   queue with `try_send`: relaying never waits for the disk, and a full queue costs the copy,
//!   never the packet (counted in [`RecordStats::dropped`]).
//! * [`Recorder::open`] names the file at once (so the session-end event can name it) and the
//!   writer creates it (`create_new`, mode 0640, in the configured directory only: the name is
//!   built from the Call-ID with every byte outside `[A-Za-z0-9._@+-]` replaced, so no Call-ID
//!   can reach another directory); [`Recorder::close`] flushes and closes it.
//! * An unwritable directory or a full disk stops that call's recording and is reported once
//!   through the notification callback (again only after a file was written successfully in
//!   between), never to the call: the forwarded packets do not depend on any of this.
//!
//! Each record is the datagram as it reached the relay: from the party's address to the relay
//! port it arrived on (see [`pcap`]), so the two directions of a stream are told apart by their
//! source, and RTP and RTCP by their ports.

pub mod pcap;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Packets queued at most towards the writer (about 11 MB of 172-byte RTP).
pub const RECORD_QUEUE: usize = 65_536;
/// How often the writer flushes its buffers when no packet comes.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Longest part of a file name taken from the Call-ID.
const NAME_MAX_CALL_ID: usize = 64;

/// Counters of the recorder, shared with whoever reports statistics.
#[derive(Debug, Default)]
pub struct RecordStats {
    /// Recordings started (files created).
    pub calls: AtomicU64,
    /// Packets written.
    pub packets: AtomicU64,
    /// Bytes written (pcap records, headers included).
    pub bytes: AtomicU64,
    /// Packet copies dropped because the queue was full or the call's recording had stopped.
    pub dropped: AtomicU64,
    /// Recordings stopped by an error (unwritable directory, disk full).
    pub failed: AtomicU64,
}

/// What the writer tells its owner (the host turns these into log lines and event fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordNote {
    /// A recording could not be created or written and stopped; the call goes on.
    /// Sent once, then again only after a later file was written successfully.
    Failed { path: PathBuf, error: String },
    /// A recording was closed: its file and what it holds.
    Closed {
        key: u64,
        path: PathBuf,
        packets: u64,
        bytes: u64,
    },
}

enum Cmd {
    Open { key: u64, path: PathBuf },
    Packet(Packet),
    Close { key: u64 },
    Stop,
}

struct Packet {
    key: u64,
    at: SystemTime,
    src: SocketAddr,
    dst: SocketAddr,
    payload: Box<[u8]>,
}

/// The writer thread and the queue towards it.
pub struct Recorder {
    dir: PathBuf,
    handle: RecordHandle,
    thread: Option<JoinHandle<()>>,
}

/// What a worker holds to record packets: cloning is cheap (a queue sender and a counter).
#[derive(Clone)]
pub struct RecordHandle {
    tx: Sender<Cmd>,
    stats: Arc<RecordStats>,
}

impl RecordHandle {
    /// Queues a copy of a datagram of call `key` seen now from `src` to `dst`. Never blocks:
    /// returns false (and counts it) when the queue is full or the writer is gone.
    pub fn packet(&self, key: u64, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> bool {
        let p = Packet {
            key,
            at: SystemTime::now(),
            src,
            dst,
            payload: payload.into(),
        };
        match self.tx.try_send(Cmd::Packet(p)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The recorder's counters.
    pub fn stats(&self) -> &Arc<RecordStats> {
        &self.stats
    }
}

impl Recorder {
    /// Spawns the writer for files in `dir`, with a queue of `queue` packets. `notify` runs on
    /// the writer thread: it must not block for long (queue a log line, no more).
    pub fn start(
        dir: &Path,
        queue: usize,
        notify: Box<dyn FnMut(RecordNote) + Send>,
    ) -> io::Result<Recorder> {
        let (tx, rx) = crossbeam_channel::bounded(queue.max(1));
        let stats = Arc::new(RecordStats::default());
        let writer = Writer {
            rx,
            stats: Arc::clone(&stats),
            notify,
            open: HashMap::new(),
            failing: false,
            scratch: Vec::with_capacity(2048),
        };
        let thread = std::thread::Builder::new()
            .name("mpx-record".into())
            .spawn(move || writer.run())?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            handle: RecordHandle { tx, stats },
            thread: Some(thread),
        })
    }

    /// A handle for a worker.
    pub fn handle(&self) -> RecordHandle {
        self.handle.clone()
    }

    /// The recorder's counters.
    pub fn stats(&self) -> &Arc<RecordStats> {
        &self.handle.stats
    }

    /// Starts recording call `key` (unique while it records) into a new file named from
    /// `call_id` and the current time; returns the file's path. The file is created by the
    /// writer: a failure to create it is reported through the notification callback.
    pub fn open(&self, key: u64, call_id: &str) -> PathBuf {
        let path = self.dir.join(file_name(call_id, SystemTime::now(), key));
        // the control side may wait here briefly; packets never do
        let _ = self.handle.tx.send(Cmd::Open {
            key,
            path: path.clone(),
        });
        path
    }

    /// Stops recording call `key`: what is queued before is written, then the file is closed.
    pub fn close(&self, key: u64) {
        let _ = self.handle.tx.send(Cmd::Close { key });
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.handle.tx.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `<call-id>-<UTC time>-<key>.pcap`, with the Call-ID made safe for one path component.
pub fn file_name(call_id: &str, at: SystemTime, key: u64) -> String {
    let mut safe: String = call_id
        .bytes()
        .take(NAME_MAX_CALL_ID)
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'@' | b'+' | b'-' => {
                char::from(b)
            }
            _ => '_',
        })
        .collect();
    if safe.is_empty() {
        safe.push_str("call");
    }
    if safe.starts_with('.') {
        // no hidden files, and never "." or ".."
        safe.replace_range(0..1, "_");
    }
    format!("{safe}-{}-{key}.pcap", utc_stamp(at))
}

/// `YYYYMMDDTHHMMSSZ` for a time (UTC).
pub fn utc_stamp(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

struct OpenFile {
    path: PathBuf,
    /// None once the recording failed: later packets of the call are dropped.
    out: Option<BufWriter<File>>,
    packets: u64,
    bytes: u64,
}

struct Writer {
    rx: Receiver<Cmd>,
    stats: Arc<RecordStats>,
    notify: Box<dyn FnMut(RecordNote) + Send>,
    open: HashMap<u64, OpenFile>,
    /// A failure was reported and no file has been written since: the next is not reported.
    failing: bool,
    scratch: Vec<u8>,
}

impl Writer {
    fn run(mut self) {
        loop {
            match self.rx.recv_timeout(FLUSH_EVERY) {
                Ok(Cmd::Open { key, path }) => self.open(key, path),
                Ok(Cmd::Packet(p)) => self.packet(p),
                Ok(Cmd::Close { key }) => self.close(key),
                Ok(Cmd::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => self.flush_all(),
            }
        }
        let keys: Vec<u64> = self.open.keys().copied().collect();
        for key in keys {
            self.close(key);
        }
    }

    fn open(&mut self, key: u64, path: PathBuf) {
        if let Some(old) = self.open.contains_key(&key).then_some(key) {
            self.close(old);
        }
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&path)
            .and_then(|f| {
                let mut w = BufWriter::with_capacity(64 * 1024, f);
                w.write_all(&pcap::file_header())?;
                Ok(w)
            });
        let out = match created {
            Ok(w) => {
                self.stats.calls.fetch_add(1, Ordering::Relaxed);
                Some(w)
            }
            Err(e) => {
                self.fail(&path, &e);
                None
            }
        };
        self.open.insert(
            key,
            OpenFile {
                path,
                out,
                packets: 0,
                bytes: pcap::FILE_HEADER_LEN as u64,
            },
        );
    }

    fn packet(&mut self, p: Packet) {
        let Some(f) = self.open.get_mut(&p.key) else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(out) = f.out.as_mut() else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.scratch.clear();
        if pcap::encode_record(&mut self.scratch, p.at, p.src, p.dst, &p.payload).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match out.write_all(&self.scratch) {
            Ok(()) => {
                f.packets += 1;
                f.bytes += self.scratch.len() as u64;
                self.stats.packets.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .bytes
                    .fetch_add(self.scratch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                // this packet, and whatever the buffer held that the disk did not take
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                f.out = None;
                let path = f.path.clone();
                self.fail(&path, &e);
            }
        }
    }

    fn close(&mut self, key: u64) {
        let Some(mut f) = self.open.remove(&key) else {
            return;
        };
        if let Some(mut out) = f.out.take() {
            match out.flush() {
                Ok(()) => self.failing = false,
                Err(e) => self.fail(&f.path, &e),
            }
        }
        (self.notify)(RecordNote::Closed {
            key,
            path: f.path,
            packets: f.packets,
            bytes: f.bytes,
        });
    }

    fn flush_all(&mut self) {
        let mut failed = Vec::new();
        for f in self.open.values_mut() {
            if let Some(out) = f.out.as_mut() {
                if let Err(e) = out.flush() {
                    f.out = None;
                    failed.push((f.path.clone(), e));
                } else if f.packets > 0 {
                    self.failing = false;
                }
            }
        }
        for (path, e) in failed {
            self.fail(&path, &e);
        }
    }

    fn fail(&mut self, path: &Path, e: &io::Error) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        if !self.failing {
            self.failing = true;
            (self.notify)(RecordNote::Failed {
                path: path.to_path_buf(),
                error: e.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_one_directory() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_765_296); // 2025-12-03T12:34:56Z
        assert_eq!(
            file_name("a84b4c76e66710@pc33.example.com", at, 7),
            "a84b4c76e66710@pc33.example.com-20251203T123456Z-7.pcap"
        );
        for evil in [
            "../../etc/passwd",
            "/etc/shadow",
            "..",
            ".",
            "a/../b",
            "x\0y",
            "\u{e9}\n",
        ] {
            let n = file_name(evil, at, 1);
            assert!(
                !n.contains('/') && !n.contains('\0') && !n.starts_with('.'),
                "{n}"
            );
            assert_eq!(Path::new(&n).components().count(), 1, "{n}");
        }
        assert!(file_name("", at, 3).starts_with("call-"));
        assert!(file_name(&"z".repeat(500), at, 3).len() < 100);
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_425), (2025, 12, 3));
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_868_799)),
            "20000229T235959Z"
        );
    }
}
