//! The modparam table and the storage the core writes the values into, shared by every host:
//! OpenSIPS and the SER family declare `param_export_t` alike (`{ char *name; unsigned int
//! type; void *param_pointer; }`, 24 bytes) with the same type codes (string = 1, int = 2),
//! and both store a string parameter as a NUL-terminated `char*` copy that they never free
//! (OpenSIPS `strdup`s it, Kamailio copies it into pkg memory of the attendant, inherited by
//! every child) and an int parameter as an `int`. Each host layer checks its own declaration
//! against [`ParamExport`] at compile time.
//!
//! The table is built at compile time from the settings table ([`crate::settings`]): one row
//! per `modparam`, an int parameter for an integer or 0/1 setting, a string one otherwise.
//! Read once, in `mod_init`, into [`RawParams`].

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CStr};

use super::HostStatic;
use crate::config::{RawParams, RawValue};
use crate::settings::table::SPECS;

/// A string parameter (OpenSIPS `STR_PARAM`, Kamailio `PARAM_STRING`).
pub const STR_PARAM: u32 = 1;
/// An integer parameter (OpenSIPS `INT_PARAM`, Kamailio `PARAM_INT`).
pub const INT_PARAM: u32 = 2;

/// One row of the host's `param_export_t` table.
#[repr(C)]
pub struct ParamExport {
    pub name: *const c_char,
    pub type_: u32,
    pub param_pointer: *mut c_void,
}
const _: () = assert!(std::mem::size_of::<ParamExport>() == 24);
const _: () = assert!(std::mem::offset_of!(ParamExport, type_) == 8);
const _: () = assert!(std::mem::offset_of!(ParamExport, param_pointer) == 16);

/// A cell the core writes through a raw pointer during config parsing (attendant, before
/// `mod_init`, single-threaded), and the module reads afterwards ([`HostStatic`]'s rule).
#[repr(transparent)]
pub struct Slot<T>(HostStatic<UnsafeCell<T>>);

impl<T: Copy> Slot<T> {
    pub const fn new(v: T) -> Self {
        Slot(HostStatic(UnsafeCell::new(v)))
    }
    pub const fn ptr(&self) -> *mut T {
        self.0 .0.get()
    }
    fn get(&self) -> T {
        // SAFETY: HostStatic's rule: no writer exists any more when the module reads.
        unsafe { *self.ptr() }
    }
}

type StrSlot = Slot<*mut c_char>;
type IntSlot = Slot<c_int>;

/// INT parameters start at this marker so that "not set" can be told from any real value.
const UNSET: c_int = c_int::MIN;

/// How many `modparam`s the settings table has.
const N: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < SPECS.len() {
        if SPECS[i].is_modparam() {
            n += 1;
        }
        i += 1;
    }
    n
};

/// Longest parameter name, with its NUL.
const NAME_MAX: usize = 48;

/// The `modparam` rows' positions in the settings table, in its order.
const ROWS: [usize; N] = {
    let mut rows = [0; N];
    let (mut n, mut i) = (0, 0);
    while i < SPECS.len() {
        if SPECS[i].is_modparam() {
            rows[n] = i;
            n += 1;
        }
        i += 1;
    }
    rows
};

/// Each parameter's name as a C string (NUL-padded).
static NAMES: [[u8; NAME_MAX]; N] = {
    let mut names = [[0; NAME_MAX]; N];
    let mut j = 0;
    while j < N {
        let b = SPECS[ROWS[j]].name.as_bytes();
        assert!(b.len() < NAME_MAX, "a parameter name is too long");
        let mut k = 0;
        while k < b.len() {
            names[j][k] = b[k];
            k += 1;
        }
        j += 1;
    }
    names
};

/// Where the core stores each parameter: the string slot of a string parameter, the int slot
/// of an int one (the other stays unused).
static STRS: [StrSlot; N] = [const { Slot::new(std::ptr::null_mut()) }; N];
static INTS: [IntSlot; N] = [const { Slot::new(UNSET) }; N];

/// The `params` table, terminated by a NULL name (read-only; its pointers refer to the
/// statics above).
pub type ParamTable = HostStatic<[ParamExport; N + 1]>;

const fn table(
    names: &'static [[u8; NAME_MAX]; N],
    strs: &'static [StrSlot; N],
    ints: &'static [IntSlot; N],
) -> [ParamExport; N + 1] {
    const END: ParamExport = ParamExport {
        name: std::ptr::null(),
        type_: 0,
        param_pointer: std::ptr::null_mut(),
    };
    let mut t = [END; N + 1];
    let mut j = 0;
    while j < N {
        t[j] = if SPECS[ROWS[j]].is_int() {
            ParamExport {
                name: names[j].as_ptr() as *const c_char,
                type_: INT_PARAM,
                param_pointer: ints[j].ptr() as *mut c_void,
            }
        } else {
            ParamExport {
                name: names[j].as_ptr() as *const c_char,
                type_: STR_PARAM,
                param_pointer: strs[j].ptr() as *mut c_void,
            }
        };
        j += 1;
    }
    t
}

/// Every row of the settings table that is a `modparam`, typed by its kind.
pub static PARAMS: ParamTable = HostStatic(table(&NAMES, &STRS, &INTS));

fn read_str(slot: &StrSlot) -> Option<String> {
    let p = slot.get();
    if p.is_null() {
        return None;
    }
    // SAFETY: the core stored a strdup()ed, NUL-terminated string that is never freed.
    let c = unsafe { CStr::from_ptr(p) };
    Some(c.to_string_lossy().into_owned())
}

fn read_int(slot: &IntSlot) -> Option<i32> {
    match slot.get() {
        UNSET => None,
        v => Some(v),
    }
}

/// Copies every parameter the script set.
pub fn read_raw() -> RawParams {
    let mut raw = RawParams::default();
    for (j, &row) in ROWS.iter().enumerate() {
        let spec = &SPECS[row];
        let v = if spec.is_int() {
            INTS.get(j).and_then(read_int).map(RawValue::Int)
        } else {
            STRS.get(j).and_then(read_str).map(RawValue::Str)
        };
        if let Some(v) = v {
            raw = raw.set(spec.name, v);
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_terminated_and_names_are_unique() {
        let t = &PARAMS.0;
        assert!(t[t.len() - 1].name.is_null());
        let mut names: Vec<String> = t[..t.len() - 1]
            .iter()
            // SAFETY: every non-terminal entry holds a C string literal.
            .map(|e| {
                unsafe { CStr::from_ptr(e.name) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for e in &t[..n] {
            assert!(e.type_ == STR_PARAM || e.type_ == INT_PARAM);
            assert!(!e.param_pointer.is_null());
        }
    }

    #[test]
    fn the_table_is_the_settings_rows_that_are_modparams() {
        let rows: Vec<_> = SPECS.iter().filter(|s| s.is_modparam()).collect();
        assert_eq!(PARAMS.0.len(), rows.len() + 1);
        for (e, spec) in PARAMS.0.iter().zip(rows) {
            // SAFETY: every non-terminal entry points into NAMES, NUL-terminated.
            let name = unsafe { CStr::from_ptr(e.name) };
            assert_eq!(name.to_str(), Ok(spec.name));
            let ty = if spec.is_int() { INT_PARAM } else { STR_PARAM };
            assert_eq!(e.type_, ty, "{}", spec.name);
        }
        // the relay-only options are no modparams
        assert!(!PARAMS.0.iter().any(|e| !e.name.is_null()
            // SAFETY: as above.
            && unsafe { CStr::from_ptr(e.name) }.to_bytes() == b"ring_buffers"));
    }

    #[test]
    fn unset_slots_read_as_defaults() {
        let raw = read_raw();
        assert_eq!(raw, RawParams::default());
    }
}
