//! The port pool: (even RTP, odd RTCP) pairs over the configured range.
//!
//! * O(1) allocate and release: a FIFO of free pair bases plus a FIFO of resting ones;
//! * a released pair rests for `quarantine` before it can be handed out again, so late packets
//!   of an ended call never reach the next one;
//! * a pair that failed to bind is [`PortPool::skip`]ped to the tail of the free queue;
//! * exhaustion is `None`, never a panic. Time is a parameter.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolError(pub String);

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PoolError {}

#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    resting: VecDeque<(Instant, u16)>,
    quarantine: Duration,
    total: usize,
}

impl PortPool {
    /// Pairs `(p, p+1)` with `p` even and `min <= p`, `p+1 <= max`.
    pub fn new(min: u16, max: u16, quarantine: Duration) -> Result<PortPool, PoolError> {
        let first = u32::from(min) + u32::from(min) % 2;
        if min == 0 || first + 1 > u32::from(max) {
            return Err(PoolError(format!(
                "port range {min}-{max} holds no (even, odd) port pair"
            )));
        }
        let free: VecDeque<u16> = (first..u32::from(max))
            .step_by(2)
            .filter_map(|p| u16::try_from(p).ok())
            .collect();
        let total = free.len();
        Ok(PortPool {
            free,
            resting: VecDeque::new(),
            quarantine,
            total,
        })
    }

    fn wake(&mut self, now: Instant) {
        while let Some(&(t, p)) = self.resting.front() {
            if t > now {
                break;
            }
            self.resting.pop_front();
            self.free.push_back(p);
        }
    }

    /// The next free pair's even port, or `None` when every pair is in use or resting.
    pub fn allocate(&mut self, now: Instant) -> Option<u16> {
        self.wake(now);
        self.free.pop_front()
    }

    /// Gives a pair back; it rests for the quarantine first.
    pub fn release(&mut self, base: u16, now: Instant) {
        self.resting.push_back((now + self.quarantine, base));
    }

    /// Gives back a pair that was allocated but never used (no rest needed), at the head.
    pub fn unallocate(&mut self, base: u16) {
        self.free.push_front(base);
    }

    /// A pair that failed to bind goes to the tail of the free queue.
    pub fn skip(&mut self, base: u16) {
        self.free.push_back(base);
    }

    pub fn total_pairs(&self) -> usize {
        self.total
    }

    /// Pairs ready to be handed out (resting ones excluded).
    pub fn free_pairs(&self) -> usize {
        self.free.len()
    }

    pub fn resting_pairs(&self) -> usize {
        self.resting.len()
    }

    pub fn in_use_pairs(&self) -> usize {
        self.total - self.free.len() - self.resting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_odd_within_range() {
        let p = PortPool::new(40001, 40008, Duration::ZERO).unwrap();
        assert_eq!(
            p.free.iter().copied().collect::<Vec<_>>(),
            vec![40002, 40004, 40006]
        );
        let p = PortPool::new(40000, 40009, Duration::ZERO).unwrap();
        assert_eq!(p.total_pairs(), 5);
        let p = PortPool::new(65534, 65535, Duration::ZERO).unwrap();
        assert_eq!(p.total_pairs(), 1);
        assert!(PortPool::new(40001, 40002, Duration::ZERO).is_err());
        assert!(PortPool::new(50000, 40000, Duration::ZERO).is_err());
        assert!(PortPool::new(0, 10, Duration::ZERO).is_err());
    }

    #[test]
    fn exhaustion_quarantine_and_fifo() {
        let t0 = Instant::now();
        let q = Duration::from_secs(5);
        let mut p = PortPool::new(40000, 40003, q).unwrap();
        let a = p.allocate(t0).unwrap();
        let b = p.allocate(t0).unwrap();
        assert_eq!((a, b), (40000, 40002));
        assert_eq!(p.allocate(t0), None);
        assert_eq!(p.in_use_pairs(), 2);
        p.release(a, t0);
        assert_eq!(p.resting_pairs(), 1);
        // still resting
        assert_eq!(p.allocate(t0 + Duration::from_secs(4)), None);
        assert_eq!(p.allocate(t0 + q), Some(a));
        // skip moves a failing pair behind the others
        p.release(b, t0);
        let mut p2 = PortPool::new(40000, 40005, Duration::ZERO).unwrap();
        let x = p2.allocate(t0).unwrap();
        p2.skip(x);
        assert_eq!(p2.allocate(t0), Some(40002));
        assert_eq!(p2.allocate(t0), Some(40004));
        assert_eq!(p2.allocate(t0), Some(40000));
        p2.unallocate(40000);
        assert_eq!(p2.allocate(t0), Some(40000));
    }
}
