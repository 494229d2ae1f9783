//! ICE re-offers the module leaves alone, and their answers.
//!
//! Once ICE has picked its pairs, the controlling agent may send a new offer that names them
//! (`a=remote-candidates`, RFC 8839 §5.3; RFC 8445 §8.1.2). Such an offer is left untouched, as
//! MediaProxy's module does: its `c=`/`m=` lines carry the address ICE selected, which may be a
//! direct one. Its answer must then be left untouched as well: rewritten, it would point the
//! offerer's media at the relay, which never saw the offer and would take the answer for a new
//! offer of the other party, with an address it may not reach. (MediaProxy's module skips the
//! next reply of an engaged dialog after such a request.)
//!
//! The request and its answer may be handled by different processes of the proxy, so the
//! offers left alone are remembered in memory shared by all of them: a fixed table of hashes of
//! (Call-ID, CSeq number), written and taken with atomic operations, no lock. A slot reused by
//! another offer before the first one's answer came only means that answer is rewritten, as it
//! was before.

use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 1024;

/// The table; the host places it in memory shared by its processes ([`set_shared`]).
#[repr(C)]
pub struct IceReoffers {
    slots: [AtomicU64; SLOTS],
}

impl Default for IceReoffers {
    fn default() -> Self {
        IceReoffers::new()
    }
}

impl IceReoffers {
    pub const fn new() -> IceReoffers {
        IceReoffers {
            slots: [const { AtomicU64::new(0) }; SLOTS],
        }
    }

    fn key(call_id: &str, cseq: u32) -> u64 {
        // FNV-1a over the Call-ID and the CSeq number; never 0 (a free slot)
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in call_id.bytes().chain(cseq.to_be_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h | 1
    }

    fn slot(&self, k: u64) -> &AtomicU64 {
        &self.slots[(k % SLOTS as u64) as usize]
    }

    /// An offer of this Call-ID and CSeq was left untouched.
    pub fn remember(&self, call_id: &str, cseq: u32) {
        let k = Self::key(call_id, cseq);
        self.slot(k).store(k, Ordering::Relaxed);
    }

    /// Whether this answer (Call-ID, CSeq) answers an offer left untouched; forgets it.
    pub fn take(&self, call_id: &str, cseq: u32) -> bool {
        let k = Self::key(call_id, cseq);
        self.slot(k)
            .compare_exchange(k, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

static SHARED: OnceCell<&'static IceReoffers> = OnceCell::new();
/// Until the host sets the shared table: this process's own (tests, tools).
static LOCAL: IceReoffers = IceReoffers::new();

/// Where the table lives (set once by the host before it forks).
pub fn set_shared(t: &'static IceReoffers) {
    let _ = SHARED.set(t);
}

/// The table in use.
pub fn table() -> &'static IceReoffers {
    SHARED.get().copied().unwrap_or(&LOCAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_matches_its_offer_once() {
        let t = IceReoffers::new();
        assert!(!t.take("c1", 2));
        t.remember("c1", 2);
        assert!(!t.take("c1", 3), "another CSeq");
        assert!(!t.take("c2", 2), "another call");
        assert!(t.take("c1", 2));
        assert!(!t.take("c1", 2), "only once");
    }
}
