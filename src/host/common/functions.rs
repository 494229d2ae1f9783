//! The script functions as every host exports them: one table ([`FUNCTIONS`]: name, routes,
//! parameter, body) and the body of every host's entry point ([`run`], generic over the
//! [`Host`]). A host layer writes only its entry point's C signature and its table row type;
//! `script_functions!` instantiates one entry point per row.
//!
//! Adding a script function: its body in [`crate::script`], one row in [`FUNCTIONS`], its index
//! in `script_functions!`'s list (a compile-time check says so when forgotten).

use std::ffi::{c_int, CStr};

use super::host::Host;
use super::lifecycle::config;
use super::log::guard;
use super::msg::{HostMessage, HostMsg};
use crate::config::Config;
use crate::script::{self, Ctx, Engage};

/// A script function.
pub struct Function {
    /// The script's name of the function.
    pub name: &'static CStr,
    /// Only in the request route (an initial INVITE); otherwise wherever a message is handled
    /// (request, reply, failure, branch and local routes).
    pub request_route_only: bool,
    /// Takes one string parameter (the NAT tests: `"3"`, `"private-contact"`, a variable).
    pub takes_string: bool,
    /// What it does: the message, the settings, its string parameter (empty when it takes
    /// none); the script's return code.
    pub body: fn(&mut dyn Engage, &Config, &str) -> i32,
}

impl Function {
    pub fn name(&self) -> &'static str {
        self.name.to_str().unwrap_or("script function")
    }
}

/// How many script functions there are.
pub const COUNT: usize = 7;

/// The script functions, in the order of the hosts' tables.
pub const FUNCTIONS: [Function; COUNT] = [
    Function {
        name: c"engage_media_proxy",
        request_route_only: true,
        takes_string: false,
        body: |m, cfg, _| script::engage(m, cfg),
    },
    Function {
        name: c"use_media_proxy",
        request_route_only: false,
        takes_string: false,
        body: |m, cfg, _| script::use_media_proxy(m, cfg, &Ctx::default()),
    },
    Function {
        name: c"end_media_session",
        request_route_only: false,
        takes_string: false,
        body: |m, cfg, _| script::end_media_session(m, cfg),
    },
    Function {
        name: c"client_nat_test",
        request_route_only: false,
        takes_string: true,
        body: |m, cfg, arg| script::client_nat_test(m, cfg, arg),
    },
    Function {
        name: c"fix_contact",
        request_route_only: false,
        takes_string: false,
        body: |m, cfg, _| script::fix_contact(m, cfg),
    },
    Function {
        name: c"start_recording",
        request_route_only: false,
        takes_string: false,
        body: |m, cfg, _| script::start_recording(m, cfg),
    },
    Function {
        name: c"stop_recording",
        request_route_only: false,
        takes_string: false,
        body: |m, cfg, _| script::stop_recording(m, cfg),
    },
];

/// The functions' rows of a host's `cmd_export_t` table, ending in `$end`: `$row(function,
/// &FUNCTIONS[i])` for each index `i`, where `function` is the host's entry point
/// `$entry::<i>`. Generic entry points need their index spelled out: the list below is checked
/// against [`FUNCTIONS`] at compile time.
macro_rules! script_functions {
    ($row:ident, $entry:ident, $end:expr) => {
        $crate::host::common::functions::script_functions!(@rows $row, $entry, $end, 0 1 2 3 4 5 6)
    };
    (@rows $row:ident, $entry:ident, $end:expr, $($n:literal)*) => {{
        const _: () = assert!(
            [$($n),*].len() == $crate::host::common::functions::COUNT,
            "script_functions! lists one index per row of FUNCTIONS"
        );
        [
            $( $row(Some($entry::<$n>), &$crate::host::common::functions::FUNCTIONS[$n]), )*
            $end,
        ]
    }};
}
pub(crate) use script_functions;

/// Runs script function `f` on a host's message (`None`: NULL or `FAKED_REPLY`); `arg` reads
/// its string parameter when it takes one. Returns the script's code: >0 true, <0 false,
/// never 0 (which would end the script).
pub fn call<M: HostMessage>(f: &Function, m: Option<M>, arg: impl FnOnce() -> String) -> i32 {
    let (Some(cfg), Some(m)) = (config(), m) else {
        return -1;
    };
    let arg = if f.takes_string { arg() } else { String::new() };
    (f.body)(&mut HostMsg(m), cfg, &arg)
}

/// The body of host `H`'s entry point of script function number `f` (an index of
/// [`FUNCTIONS`]) on the core's message `msg`, guarded: a panic is logged as critical and
/// gives -1.
///
/// # Safety
/// `msg` is NULL, `FAKED_REPLY` or the message the core runs this route for.
pub unsafe fn run<H: Host>(f: usize, msg: *mut H::RawMsg, arg: impl FnOnce() -> String) -> c_int {
    let Some(f) = FUNCTIONS.get(f) else {
        return -1;
    };
    guard(&H::LOG, f.name(), -1, || {
        // SAFETY: per the function contract.
        call(f, unsafe { H::msg(msg) }, arg)
    })
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
    fn every_function_has_a_distinct_name() {
        let mut names: Vec<&str> = FUNCTIONS.iter().map(Function::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COUNT);
        assert!(FUNCTIONS.iter().filter(|f| f.request_route_only).count() == 1);
    }
}
