//! The modparam table is shared by every host ([`crate::host::common::params`]); this checks
//! that OpenSIPS's `param_export_t` has the shape and type codes it assumes.

pub use crate::host::common::params::*;

use super::sys::{param_export_t, MPX_INT_PARAM, MPX_STR_PARAM};

const _: () = assert!(std::mem::size_of::<param_export_t>() == std::mem::size_of::<ParamExport>());
const _: () = assert!(std::mem::offset_of!(param_export_t, type_) == 8);
const _: () = assert!(std::mem::offset_of!(param_export_t, param_pointer) == 16);
const _: () = assert!(MPX_STR_PARAM == STR_PARAM && MPX_INT_PARAM == INT_PARAM);
