//! The core's `str` across the rtp_relay framework's callbacks (offer, answer, copies): its
//! bytes in, a body handed back in pkg memory.

use std::ffi::c_int;

use super::sys::{self, str_};
use crate::host::common::msg::raw_bytes;

/// The bytes of a `str *` the framework passes (NULL or empty: `None`).
///
/// # Safety
/// `p` must be NULL or a valid `str` whose bytes outlive `'a`.
pub unsafe fn bytes<'a>(p: *const str_) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    let s = unsafe { &*p };
    if s.s.is_null() || s.len <= 0 {
        return None;
    }
    // SAFETY: per the contract; len is positive.
    Some(unsafe { raw_bytes(s.s, s.len as u32) })
}

/// Hands `body` to the framework in pkg memory (it frees it, or gives it to a lump).
///
/// # Safety
/// `out` must be the framework's valid `str` to fill.
pub unsafe fn return_body(out: *mut str_, body: &[u8]) -> bool {
    let Ok(len) = c_int::try_from(body.len()) else {
        return false;
    };
    // SAFETY: pkg memory of this process.
    let p = unsafe { sys::mpx_pkg_malloc(body.len().max(1) as u64) } as *mut u8;
    if p.is_null() {
        return false;
    }
    // SAFETY: p has room for body.len() bytes; out is valid per the contract.
    unsafe {
        std::ptr::copy_nonoverlapping(body.as_ptr(), p, body.len());
        (*out).s = p as *mut _;
        (*out).len = len;
    }
    true
}
