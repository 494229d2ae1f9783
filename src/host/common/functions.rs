//! The five script functions as every host exports them: their names and routes (one table,
//! `script_functions!`), and what each does with a host's message ([`call`]). A host layer
//! writes only its entry point signature and its table row type.

use std::ffi::{c_int, CStr};

use super::lifecycle::config;
use super::log::guard;
use super::msg::{HostMessage, HostMsg};
use crate::script::{self, Ctx};

/// A script function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Function {
    EngageMediaProxy = 0,
    UseMediaProxy = 1,
    EndMediaSession = 2,
    ClientNatTest = 3,
    FixContact = 4,
}

impl Function {
    /// For a host's entry point generic over `const F: u8`.
    pub const fn from_u8(f: u8) -> Function {
        match f {
            0 => Function::EngageMediaProxy,
            1 => Function::UseMediaProxy,
            2 => Function::EndMediaSession,
            3 => Function::ClientNatTest,
            _ => Function::FixContact,
        }
    }

    /// The script's name of the function.
    pub const fn c_name(self) -> &'static CStr {
        match self {
            Function::EngageMediaProxy => c"engage_media_proxy",
            Function::UseMediaProxy => c"use_media_proxy",
            Function::EndMediaSession => c"end_media_session",
            Function::ClientNatTest => c"client_nat_test",
            Function::FixContact => c"fix_contact",
        }
    }

    pub fn name(self) -> &'static str {
        self.c_name().to_str().unwrap_or("script function")
    }

    /// Only in the request route (an initial INVITE); the others run wherever a message is
    /// handled (request, reply, failure, branch and local routes).
    pub const fn request_route_only(self) -> bool {
        matches!(self, Function::EngageMediaProxy)
    }

    /// Takes one string parameter (the NAT tests: `"3"`, `"private-contact"`, a variable).
    pub const fn takes_string(self) -> bool {
        matches!(self, Function::ClientNatTest)
    }
}

/// The functions' rows of a host's `cmd_export_t` table, ending in `$end`: `$row(function,
/// which)` for each [`Function`] `which`, where `function` is the host's entry point
/// `$entry::<which as u8>`.
macro_rules! script_functions {
    ($row:ident, $entry:ident, $end:expr) => {
        $crate::host::common::functions::script_functions!(@rows $row, $entry, $end, 0 1 2 3 4)
    };
    (@rows $row:ident, $entry:ident, $end:expr, $($n:literal)*) => {
        [
            $( $row(
                Some($entry::<$n>),
                $crate::host::common::functions::Function::from_u8($n),
            ), )*
            $end,
        ]
    };
}
pub(crate) use script_functions;

/// Runs script function `f` on a host's message (`None`: NULL or `FAKED_REPLY`); `arg` reads
/// its string parameter when it takes one. Returns the script's code: >0 true, <0 false,
/// never 0 (which would end the script).
pub fn call<M: HostMessage>(f: Function, m: Option<M>, arg: impl FnOnce() -> String) -> i32 {
    let (Some(cfg), Some(m)) = (config(), m) else {
        return -1;
    };
    let arg = if f.takes_string() {
        arg()
    } else {
        String::new()
    };
    let m = &mut HostMsg(m);
    match f {
        Function::EngageMediaProxy => script::engage(m, cfg),
        Function::UseMediaProxy => script::use_media_proxy(m, cfg, &Ctx::default()),
        Function::EndMediaSession => script::end_media_session(m, cfg),
        Function::ClientNatTest => script::client_nat_test(m, cfg, &arg),
        Function::FixContact => script::fix_contact(m, cfg),
    }
}

/// A host entry point's body: script function number `f` ([`Function`] as `u8`) on `m`
/// (`None`: NULL or `FAKED_REPLY`), guarded: a panic is logged as critical and gives -1.
pub fn run<M: HostMessage>(f: u8, m: Option<M>, arg: impl FnOnce() -> String) -> c_int {
    let f = Function::from_u8(f);
    guard(&M::LOG, f.name(), -1, || call(f, m, arg))
}

/// `use_media_proxy` for an engaged dialog's request or reply.
pub fn media_proxy<M: HostMessage>(m: Option<M>, ctx: &Ctx) -> i32 {
    let (Some(cfg), Some(m)) = (config(), m) else {
        return -1;
    };
    script::use_media_proxy(&mut HostMsg(m), cfg, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_round_trip_through_their_numbers() {
        for f in [
            Function::EngageMediaProxy,
            Function::UseMediaProxy,
            Function::EndMediaSession,
            Function::ClientNatTest,
            Function::FixContact,
        ] {
            assert_eq!(Function::from_u8(f as u8), f);
        }
    }
}
