//! The asymmetric-client lists (`sip_asymmetrics`, `rtp_asymmetrics`), one per process,
//! reloaded when their file changes.

use std::cell::RefCell;
use std::path::Path;
use std::time::Instant;

use super::{Level, Logger};
use crate::config::Config;
use crate::nat::asymmetric::{AsymmetricList, Reload};

/// This process's lists.
struct Lists {
    sip: Option<AsymmetricList>,
    rtp: Option<AsymmetricList>,
}

thread_local! {
    static LISTS: RefCell<Lists> = const { RefCell::new(Lists { sip: None, rtp: None }) };
}

fn list_matches(
    log: &dyn Logger,
    which: &'static str,
    slot: impl Fn(&mut Lists) -> &mut Option<AsymmetricList>,
    path: Option<&Path>,
    ua: Option<&[u8]>,
) -> bool {
    let (Some(path), Some(ua)) = (path, ua) else {
        return false;
    };
    LISTS.with(|s| {
        let mut s = s.borrow_mut();
        let list = slot(&mut s).get_or_insert_with(|| AsymmetricList::new(path));
        match list.refresh(Instant::now()) {
            Reload::Unchanged => {}
            Reload::Loaded { patterns, bad } => {
                for b in bad {
                    log.log(
                        Level::Err,
                        which,
                        format_args!(
                            "{}:{}: skipped {:?}: {}",
                            path.display(),
                            b.line,
                            b.text,
                            b.error
                        ),
                    );
                }
                log.log(
                    Level::Dbg,
                    which,
                    format_args!("{}: {patterns} pattern(s)", path.display()),
                );
            }
            Reload::Failed(e) => log.log(
                Level::Warn,
                which,
                format_args!("cannot read {e}; keeping the old list"),
            ),
        }
        list.matches(ua)
    })
}

/// Whether the user agent `ua` is in `sip_asymmetrics`.
pub(super) fn sip_asymmetric(log: &dyn Logger, cfg: &Config, ua: Option<&[u8]>) -> bool {
    list_matches(
        log,
        "sip_asymmetrics",
        |s| &mut s.sip,
        cfg.sip_asymmetrics.as_deref(),
        ua,
    )
}

/// Whether the user agent `ua` is in `rtp_asymmetrics`.
pub(super) fn rtp_asymmetric(log: &dyn Logger, cfg: &Config, ua: Option<&[u8]>) -> bool {
    list_matches(
        log,
        "rtp_asymmetrics",
        |s| &mut s.rtp,
        cfg.rtp_asymmetrics.as_deref(),
        ua,
    )
}
