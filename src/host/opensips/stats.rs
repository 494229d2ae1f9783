//! Statistics (`get_statistics mediaproxy:`): functions over the counters in shared memory
//! (`STAT_IS_FUNC`), so every process reads the same figures and nothing is copied. The list
//! is every host's ([`crate::host::common::stats`]).

use std::ffi::{c_ulong, c_void, CStr};

use crate::host::common::stats::{read, stat_list};
use crate::host::common::HostStatic;

/// `stat_export_t` (24 B, identical in 3.6 and 4.0); with `STAT_IS_FUNC` the pointer field
/// holds an `unsigned long (*)(void *)`.
#[repr(C)]
pub struct StatExport {
    name: *const std::ffi::c_char,
    flags: u16,
    func: Option<unsafe extern "C" fn(*mut c_void) -> c_ulong>,
}
const _: () = assert!(std::mem::size_of::<StatExport>() == 24);

const STAT_NO_RESET: u16 = 1;
const STAT_IS_FUNC: u16 = 8;

/// The statistics' table (string literals and functions only, read-only).
pub type StatTable<const N: usize> = HostStatic<[StatExport; N]>;

macro_rules! stats {
    ($( $name:ident => |$s:ident| $field:expr ),* $(,)?) => {
        $(
            unsafe extern "C" fn $name(_: *mut c_void) -> c_ulong {
                // reading atomics cannot panic; no guard needed
                read(|$s| &$field) as c_ulong
            }
        )*
        /// Every statistic and the closing NULL row.
        pub static STATS: StatTable<{ [$(stringify!($name)),*].len() + 1 }> = HostStatic([
            $( StatExport {
                name: {
                    const N: &CStr = match CStr::from_bytes_with_nul(
                        concat!(stringify!($name), "\0").as_bytes()) {
                        Ok(c) => c,
                        Err(_) => panic!("stat name"),
                    };
                    N.as_ptr()
                },
                flags: STAT_IS_FUNC | STAT_NO_RESET,
                func: Some($name),
            }, )*
            StatExport { name: std::ptr::null(), flags: 0, func: None },
        ]);
    };
}

stat_list!(stats);
