//! The relay's threads block every signal the proxy handles. Its own test binary: thread names
//! are per process, and other tests' relays in the same process would be counted too.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn relay_threads_block_every_signal() {
    let r = TestRelay::start("sigmask", (42600, 42699), |_| {});
    // a thread names itself once it runs: wait (bounded) until the relay's threads carry names
    let named = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .unwrap_or_default()
                    .starts_with("mp-")
            })
            .count()
    };
    assert!(eventually(Duration::from_secs(5), || named() >= 3));
    let mut found = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("mp-") {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).unwrap();
        let blk = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
        let mask = u64::from_str_radix(blk.split_whitespace().nth(1).unwrap(), 16).unwrap();
        // SIGHUP(1) SIGINT(2) SIGUSR1(10) SIGPIPE(13) SIGALRM(14) SIGTERM(15) SIGCHLD(17)
        for sig in [1u32, 2, 10, 13, 14, 15, 17] {
            assert!(
                mask & (1 << (sig - 1)) != 0,
                "{comm}: signal {sig} not blocked ({blk})"
            );
        }
        found += 1;
    }
    assert!(found >= 3, "control thread + 2 workers, found {found}");
    drop(r);
}
