//! Relay tests with the kernel fast path on: each runs in a network namespace of its own (the
//! program is attached to that namespace's loopback only, never outside it), created and
//! removed here. [`kernel_variants!`] makes an `ebpf` variant of a test body written for
//! [`backends!`](crate::backends); [`drop_bpf_capabilities`] makes a thread where loading is
//! refused.

use mediaproxy::relay::RelayKernel;
use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    /// What `TestRelay` starts with on this thread (`Off` unless a variant set it).
    pub static KERNEL: Cell<RelayKernel> = const { Cell::new(RelayKernel::Off) };
}

/// `kernel_variants!(name, ...)` makes the tests `ebpf::name`, each running
/// `name(RelayIo::Epoll)` in a namespace of its own with `relay_kernel` `ebpf`.
#[macro_export]
macro_rules! kernel_variants {
    ($($name:ident),* $(,)?) => {
        mod ebpf {
            $(
                #[test]
                fn $name() {
                    $crate::common::kernel::with_fast_path("t", || {
                        super::$name(mediaproxy::relay::RelayIo::Epoll)
                    })
                }
            )*
        }
    };
}

/// A network namespace of this test run with its loopback up, deleted on drop (with its
/// interfaces and anything attached to them).
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "mpxk{}{tag}{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Runs `f` on a thread inside this namespace: sockets it creates and threads it starts
    /// (a relay's) live there.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns(2) on this thread only, with the namespace descriptor just opened.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {} (these tests need root)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `f` in a namespace of its own with the relays it starts using the fast path.
pub fn with_fast_path(tag: &str, f: impl FnOnce() + Send + 'static) {
    let ns = Netns::new(tag);
    ns.run(move || {
        KERNEL.with(|k| k.set(RelayKernel::Ebpf));
        f()
    });
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Lowers this thread's capabilities (effective, permitted and bounding sets: a program it
/// starts does not get them back) so that BPF is refused: CAP_NET_ADMIN, CAP_SYS_ADMIN,
/// CAP_PERFMON, CAP_BPF. Capabilities are per thread: only the calling one loses them.
pub fn drop_bpf_capabilities() {
    const VERSION_3: u32 = 0x2008_0522;
    let mut hdr = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget(2) with a version-3 header and room for its two data blocks.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    for cap in [
        12u32, /* NET_ADMIN */
        21,    /* SYS_ADMIN */
        38,    /* PERFMON */
        39,    /* BPF */
    ] {
        // out of the bounding set too, or a program this thread starts (as root) gets it back
        // SAFETY: prctl(2) PR_CAPBSET_DROP with a capability number; affects this thread only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        assert_eq!(
            rc,
            0,
            "PR_CAPBSET_DROP {cap}: {}",
            std::io::Error::last_os_error()
        );
        let d = &mut data[(cap / 32) as usize];
        d.effective &= !(1 << (cap % 32));
        d.permitted &= !(1 << (cap % 32));
    }
    // SAFETY: capset(2) on the calling thread (pid 0) with the blocks capget filled.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}
