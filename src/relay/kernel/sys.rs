//! The `bpf(2)` commands the fast path needs, over `libc::syscall`: create a map, load a
//! program, attach it with a tcx link, and read, write and delete map entries. Each attribute
//! block is the prefix of `union bpf_attr` that its command reads (the kernel zero-fills the
//! rest), laid out as in `linux/bpf.h`.

use std::ffi::CStr;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_QUERY: libc::c_long = 16;

pub const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
/// `enum bpf_attach_type`: tcx (kernel 6.6), newer than some installed headers.
pub const BPF_TCX_INGRESS: u32 = 46;
const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `BPF_ANY`: create or replace.
pub const BPF_ANY: u64 = 0;

#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapElem {
    map_fd: u32,
    pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// `query` of `union bpf_attr` up to `revision`: the kernel writes `attach_flags`, `count` and
/// `revision` back, so the block must reach that far.
#[repr(C)]
#[derive(Default)]
struct ProgQuery {
    target_ifindex: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    count: u32,
    pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// `bpf(cmd, attr, size_of::<A>())`: the raw result or the error.
fn bpf<A>(cmd: libc::c_long, attr: &mut A) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` block of the size we pass,
    // laid out as the prefix of `union bpf_attr` for `cmd`; every pointer inside it was set by
    // our callers to memory that outlives this call and has the size the kernel reads.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut A as *mut libc::c_void,
            size_of::<A>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn fd_from(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

pub fn map_create(
    kind: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreate {
        map_type: kind,
        key_size,
        value_size,
        max_entries,
        map_name: name16(name),
        ..Default::default()
    };
    fd_from(bpf(BPF_MAP_CREATE, &mut attr)?)
}

/// Puts `map_fds[map]` into every map reference of `insns` (instruction index, map index).
pub fn relocate(insns: &mut [[u8; 8]], relocations: &[(usize, usize)], map_fds: &[&OwnedFd]) {
    for &(at, map) in relocations {
        if let (Some(insn), Some(fd)) = (insns.get_mut(at), map_fds.get(map)) {
            insn[1] = (insn[1] & 0x0f) | (BPF_PSEUDO_MAP_FD << 4);
            insn[4..8].copy_from_slice(&fd.as_raw_fd().to_le_bytes());
        }
    }
}

/// Loads a TC program. On failure, the error and the verifier's last lines (loaded a second
/// time with the log on).
pub fn prog_load(
    insns: &[[u8; 8]],
    license: &CStr,
    name: &str,
) -> Result<OwnedFd, (io::Error, String)> {
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_SCHED_CLS,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name16(name),
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(rc) => fd_from(rc).map_err(|e| (e, String::new())),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err((e, String::new())),
        Err(e) => {
            let mut log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(4).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err((e, tail.join(" | ")))
        }
    }
}

/// Attaches `prog` to the TC ingress of `ifindex` with a tcx link: detached when the returned
/// descriptor is closed.
pub fn tcx_attach(prog: &OwnedFd, ifindex: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreate {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_TCX_INGRESS,
        flags: 0,
    };
    fd_from(bpf(BPF_LINK_CREATE, &mut attr)?)
}

/// How many programs are attached to the TC ingress of `ifindex` with tcx.
pub fn tcx_count(ifindex: u32) -> io::Result<u32> {
    let mut attr = ProgQuery {
        target_ifindex: ifindex,
        attach_type: BPF_TCX_INGRESS,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    Ok(attr.count)
}

fn elem(map: &OwnedFd, key: &[u8], value: u64, flags: u64) -> MapElem {
    MapElem {
        map_fd: map.as_raw_fd() as u32,
        pad: 0,
        key: key.as_ptr() as u64,
        value,
        flags,
    }
}

/// Callers pass keys and values of the map's sizes (checked against the object at load).
pub fn map_update(map: &OwnedFd, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    bpf(
        BPF_MAP_UPDATE_ELEM,
        &mut elem(map, key, value.as_ptr() as u64, flags),
    )
    .map(|_| ())
}

/// `Ok(false)` when there was no such entry.
pub fn map_lookup(map: &OwnedFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    absent_is_false(bpf(
        BPF_MAP_LOOKUP_ELEM,
        &mut elem(map, key, value.as_mut_ptr() as u64, 0),
    ))
}

/// Reads and deletes in one step (no packet counted in between is lost).
pub fn map_lookup_and_delete(map: &OwnedFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    absent_is_false(bpf(
        BPF_MAP_LOOKUP_AND_DELETE_ELEM,
        &mut elem(map, key, value.as_mut_ptr() as u64, 0),
    ))
}

pub fn map_delete(map: &OwnedFd, key: &[u8]) -> io::Result<bool> {
    absent_is_false(bpf(BPF_MAP_DELETE_ELEM, &mut elem(map, key, 0, 0)))
}

/// The key after `key` (the first with `None`), written to `next`; `Ok(false)` at the end.
pub fn map_next_key(map: &OwnedFd, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
    let mut attr = elem(map, key.unwrap_or(&[]), next.as_mut_ptr() as u64, 0);
    if key.is_none() {
        attr.key = 0;
    }
    absent_is_false(bpf(BPF_MAP_GET_NEXT_KEY, &mut attr))
}

fn absent_is_false(rc: io::Result<libc::c_long>) -> io::Result<bool> {
    match rc {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The index of interface `name` in this thread's network namespace.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The link type (`ARPHRD_*`) of interface `name` in this thread's network namespace.
pub fn link_type(name: &str) -> Option<u16> {
    if name.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: a plain socket(2); the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = b as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads the NUL-terminated name and writes the hardware address
    // into `req`, which lives for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc != 0 {
        return None;
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    Some(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_ns` (and of `Instant`).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
