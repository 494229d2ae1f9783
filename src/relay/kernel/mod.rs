//! The relay's kernel fast path: latched streams forwarded by an eBPF program at TC ingress
//! (`fastpath.bpf.c`, built by `build/ebpf.rs` when clang can target BPF: `cfg(mpx_ebpf)`).
//!
//! [`KernelPath::load`] creates the flow map, loads the program and attaches it to the TC
//! ingress of each named interface with a tcx link (kernel 6.6+, `CAP_BPF` and
//! `CAP_NET_ADMIN`). Where that is refused, the error says why in one line and the relay goes
//! on in user space. [`KernelPath::install`] hands one direction of a latched stream to the
//! kernel (RTP and RTCP are two flows); [`KernelPath::remove`] takes it back and returns its
//! final counters; [`KernelPath::counters`] reads them meanwhile. Dropping the `KernelPath`
//! deletes every flow and detaches the program (closing the links detaches; closing the map
//! frees it).
//!
//! Packets the program does not take (no flow, a stranger, STUN, short or non-RTP payloads,
//! fragments, destinations it cannot route) reach the relay's sockets unchanged.
//!
//! The loader is the `bpf(2)` system call itself (`sys`): one program, one hash map and a tcx
//! link need eight commands, and the object is read at build time, so the module carries no
//! ELF loader and no libbpf.

mod handoff;
mod layout;
#[allow(unsafe_code)]
#[cfg_attr(not(mpx_ebpf), allow(dead_code))]
mod sys;

pub use crate::settings::RelayKernel;
pub(crate) use handoff::Handoff;
pub use handoff::{StreamKernel, Unfolded};
pub use layout::{Flow, FlowKey};

use layout::{RawCounters, KEY_SIZE, VALUE_SIZE};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// Starts the fast path as `relay_kernel` asks: attached to every Ethernet or loopback
/// interface with an IPv4 address. Returns it (or `None`) and the words for the relay's start-up line; `Err` when
/// `ebpf` was asked for and the kernel refused. With `auto`, a refusal is one warning line.
pub(crate) fn start(
    mode: RelayKernel,
    log: &crate::relay::events::EventSink,
) -> Result<(Option<std::sync::Arc<KernelPath>>, String), String> {
    if mode == RelayKernel::Off {
        return Ok((None, "kernel fast path off".into()));
    }
    let mut ifaces: Vec<String> = crate::relay::sys::interface_addresses()
        .into_iter()
        .filter(|(n, a)| a.is_ipv4() && has_ethernet_header(n))
        .map(|(n, _)| n)
        .collect();
    ifaces.sort();
    ifaces.dedup();
    let names: Vec<&str> = ifaces.iter().map(String::as_str).collect();
    match KernelPath::load(&names) {
        Ok(p) => Ok((
            Some(std::sync::Arc::new(p)),
            format!("kernel fast path eBPF (TC ingress of {})", names.join(", ")),
        )),
        Err(e) if mode == RelayKernel::Auto => {
            log.send_log(
                crate::relay::events::LogLevel::Warn,
                format!("relay_kernel auto: the kernel fast path is not available, relaying in user space: {e}"),
            );
            Ok((None, format!("kernel fast path off (not available: {e})")))
        }
        Err(e) => Err(format!(
            "relay_kernel is ebpf but the kernel fast path is not available: {e}"
        )),
    }
}

/// How many programs (of any owner) are attached to the TC ingress of interface `name` with
/// tcx links, in the calling thread's network namespace.
pub fn attached_programs(name: &str) -> io::Result<u32> {
    let i = sys::ifindex(name).ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))?;
    sys::tcx_count(i)
}

/// Whether packets of interface `name` carry an Ethernet header, as the program expects:
/// Ethernet (veth and bridges too) and loopback, not tunnels (no link header).
fn has_ethernet_header(name: &str) -> bool {
    matches!(
        sys::link_type(name),
        Some(t) if t == libc::ARPHRD_ETHER || t == libc::ARPHRD_LOOPBACK
    )
}

/// Why the fast path is not in use.
#[derive(Debug)]
pub enum LoadError {
    /// This build has no fast path (clang's BPF target was missing when it was built).
    NotBuilt,
    /// No interface named, or a name this namespace does not have.
    NoInterface(String),
    /// The kernel refused for lack of privilege (`CAP_BPF`, `CAP_NET_ADMIN`).
    Permission(&'static str, io::Error),
    /// The kernel cannot do it (too old for tcx links, BPF disabled).
    Unsupported(&'static str, io::Error),
    /// The verifier rejected the program (its last lines).
    Verifier(io::Error, String),
    /// The compiled object does not match what this code expects.
    Layout(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotBuilt => write!(
                f,
                "this build has no kernel fast path (built without clang's BPF target)"
            ),
            LoadError::NoInterface(what) => write!(f, "{what}"),
            LoadError::Permission(step, e) => write!(
                f,
                "{step} not permitted ({e}): needs CAP_BPF and CAP_NET_ADMIN (or root)"
            ),
            LoadError::Unsupported(step, e) => write!(
                f,
                "{step} failed ({e}): the kernel lacks BPF or tcx links (Linux 6.6 or later)"
            ),
            LoadError::Verifier(e, log) => write!(f, "the kernel refused the program ({e}): {log}"),
            LoadError::Layout(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for LoadError {}

fn refused(step: &'static str, e: io::Error) -> LoadError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => LoadError::Permission(step, e),
        _ => LoadError::Unsupported(step, e),
    }
}

/// A flow's kernel counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Packets the kernel forwarded since the flow was installed.
    pub packets: u64,
    /// Their UDP payload bytes (as the relay counts bytes).
    pub bytes: u64,
    /// When the last of them went through (`None`: none yet).
    pub last_seen: Option<Instant>,
    /// The RTP SSRC and sequence number of the last of them (`None`: none yet), so that user
    /// space can tell whether a new source continues the stream (a NAT rebinding).
    pub last_rtp: Option<(u32, u16)>,
}

impl FlowCounters {
    fn from_raw(raw: RawCounters) -> FlowCounters {
        let last_seen = (raw.packets > 0 && raw.last_ns > 0).then(|| {
            let ago = Duration::from_nanos(sys::monotonic_ns().saturating_sub(raw.last_ns));
            Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
        });
        FlowCounters {
            packets: raw.packets,
            bytes: raw.bytes,
            last_seen,
            last_rtp: (raw.packets > 0).then_some((raw.last_ssrc, raw.last_seq)),
        }
    }
}

/// The loaded program, its flow map and its attachments. `Sync`: every operation is one
/// system call on a descriptor.
#[derive(Debug)]
pub struct KernelPath {
    flows: OwnedFd,
    /// One tcx link per interface; closing one detaches the program there.
    links: Vec<(String, OwnedFd)>,
    _prog: OwnedFd,
}

impl KernelPath {
    /// Loads the program and attaches it to the TC ingress of every interface in `ifaces`
    /// (names in the calling thread's network namespace).
    pub fn load(ifaces: &[&str]) -> Result<KernelPath, LoadError> {
        if ifaces.is_empty() {
            return Err(LoadError::NoInterface("no interface to attach to".into()));
        }
        let mut indexes = Vec::with_capacity(ifaces.len());
        for name in ifaces {
            let i = sys::ifindex(name)
                .ok_or_else(|| LoadError::NoInterface(format!("no interface named {name:?}")))?;
            indexes.push((name.to_string(), i));
        }
        let (flows, prog) = object::load()?;
        let mut links = Vec::with_capacity(indexes.len());
        for (name, i) in indexes {
            let link =
                sys::tcx_attach(&prog, i).map_err(|e| refused("attaching to TC ingress", e))?;
            links.push((name, link));
        }
        Ok(KernelPath {
            flows,
            links,
            _prog: prog,
        })
    }

    /// The interfaces the program is attached to.
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|(n, _)| n.as_str())
    }

    /// Hands `flow` to the kernel (replacing a flow with the same key; counters start at 0).
    pub fn install(&self, flow: &Flow) -> io::Result<()> {
        sys::map_update(
            &self.flows,
            &flow.key.encode(),
            &flow.encode_value(),
            sys::BPF_ANY,
        )
    }

    /// Takes the flow back: its final counters, or `None` if it was not installed.
    pub fn remove(&self, key: &FlowKey) -> io::Result<Option<FlowCounters>> {
        let mut v = [0u8; VALUE_SIZE];
        Ok(
            sys::map_lookup_and_delete(&self.flows, &key.encode(), &mut v)?
                .then(|| FlowCounters::from_raw(RawCounters::decode(&v))),
        )
    }

    /// The flow's counters so far, or `None` if it is not installed.
    pub fn counters(&self, key: &FlowKey) -> io::Result<Option<FlowCounters>> {
        let mut v = [0u8; VALUE_SIZE];
        Ok(sys::map_lookup(&self.flows, &key.encode(), &mut v)?
            .then(|| FlowCounters::from_raw(RawCounters::decode(&v))))
    }

    /// The keys of every installed flow (bounded by the map's size).
    pub fn flows(&self) -> io::Result<Vec<FlowKey>> {
        let mut keys = Vec::new();
        let mut prev: Option<[u8; KEY_SIZE]> = None;
        let mut next = [0u8; KEY_SIZE];
        for _ in 0..=object::max_entries() {
            if !sys::map_next_key(&self.flows, prev.as_ref().map(|k| &k[..]), &mut next)? {
                break;
            }
            keys.push(FlowKey::decode(&next));
            prev = Some(next);
        }
        Ok(keys)
    }

    /// Removes every flow; returns how many there were.
    pub fn clear(&self) -> io::Result<usize> {
        let keys = self.flows()?;
        for k in &keys {
            sys::map_delete(&self.flows, &k.encode())?;
        }
        Ok(keys.len())
    }
}

impl Drop for KernelPath {
    fn drop(&mut self) {
        // the links close first (fields drop after this): packets already in flight may still
        // meet a flow; deleting them all leaves nothing behind even if a descriptor leaked
        let _ = self.clear();
        self.links.clear();
    }
}

#[cfg(mpx_ebpf)]
mod object {
    //! The compiled program (`OUT_DIR/mpx_ebpf.rs`, written by `build/ebpf.rs`).
    use super::{layout, refused, sys, LoadError};
    use std::os::fd::OwnedFd;

    pub struct MapDef {
        pub name: &'static str,
        pub kind: u32,
        pub key_size: u32,
        pub value_size: u32,
        pub max_entries: u32,
        #[allow(dead_code)]
        pub flags: u32,
    }

    include!(concat!(env!("OUT_DIR"), "/mpx_ebpf.rs"));

    pub fn max_entries() -> u32 {
        MAPS.first().map_or(0, |m| m.max_entries)
    }

    /// Creates the flow map and loads the program that refers to it.
    pub fn load() -> Result<(OwnedFd, OwnedFd), LoadError> {
        let [def] = MAPS else {
            return Err(LoadError::Layout(format!(
                "the fast path object has {} maps, expected 1",
                MAPS.len()
            )));
        };
        if def.name != "mpx_flows"
            || def.key_size as usize != layout::KEY_SIZE
            || def.value_size as usize != layout::VALUE_SIZE
        {
            return Err(LoadError::Layout(format!(
                "the fast path object's map {} ({}+{} bytes) does not match this build ({}+{})",
                def.name,
                def.key_size,
                def.value_size,
                layout::KEY_SIZE,
                layout::VALUE_SIZE
            )));
        }
        let map = sys::map_create(
            def.kind,
            def.key_size,
            def.value_size,
            def.max_entries,
            def.name,
        )
        .map_err(|e| refused("creating the flow map", e))?;
        let mut insns = INSNS.to_vec();
        sys::relocate(&mut insns, MAP_RELOCATIONS, &[&map]);
        let license = std::ffi::CStr::from_bytes_with_nul(LICENSE.as_bytes())
            .map_err(|_| LoadError::Layout("the program's license is not a C string".into()))?;
        let prog = sys::prog_load(&insns, license, "mpx_relay").map_err(|(e, log)| {
            match e.raw_os_error() {
                Some(libc::EPERM) => refused("loading the program", e),
                _ => LoadError::Verifier(e, log),
            }
        })?;
        Ok((map, prog))
    }
}

#[cfg(not(mpx_ebpf))]
mod object {
    use super::LoadError;
    use std::os::fd::OwnedFd;

    pub fn max_entries() -> u32 {
        0
    }

    pub fn load() -> Result<(OwnedFd, OwnedFd), LoadError> {
        Err(LoadError::NotBuilt)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_the_header_the_program_reads() {
        assert!(super::has_ethernet_header("lo"));
        assert!(!super::has_ethernet_header("mpx-no-such-if"));
        assert!(!super::has_ethernet_header("an-interface-name-too-long"));
    }
}
