//! The NAT functions: `client_nat_test(type)` and `fix_contact()`.

use super::asym::sip_asymmetric;
use super::{report, Edit, Message, ScriptError};
use crate::config::Config;
use crate::nat::{self, NatView};
use crate::sdp;
use crate::sip;

/// `client_nat_test(type)`: 1 when a selected test says the client is behind NAT, else -1.
pub fn client_nat_test(m: &dyn Message, cfg: &Config, arg: &str) -> i32 {
    let r = nat_test(m, cfg, arg).map(|natted| if natted { 1 } else { -1 });
    report(m, "client_nat_test", r)
}

fn nat_test(m: &dyn Message, cfg: &Config, arg: &str) -> Result<bool, ScriptError> {
    if cfg.disable {
        return Err(ScriptError::Disabled);
    }
    let tests = nat::parse_tests(arg).map_err(|e| ScriptError::BadTests(e.to_string()))?;
    let sip = sip::SipMsg::scan(m.buf()).map_err(ScriptError::Malformed)?;
    let via = sip.top_via();
    let contact = sip.first_contact().filter(|c| !c.star);
    let source = m.source();
    let mut view = NatView {
        src_ip: source.map(|(ip, _)| ip),
        src_port: source.map(|(_, p)| p).unwrap_or(0),
        via_host: via.map(|v| v.host.bytes),
        via_port: via.and_then(|v| v.port),
        contact_host: contact.and_then(|c| c.host.map(|h| h.bytes)),
        contact_port: contact.and_then(|c| c.port_value),
        sdp_addrs: Vec::new(),
        sip_asymmetric: tests & (nat::DIFF_IP_SRC_VIA | nat::DIFF_PORT_SRC_VIA) != 0
            && sip_asymmetric(m, cfg, sip.user_agent()),
    };
    if tests & nat::PRIVATE_SDP != 0 {
        if let Some(p) = sip.sdp_body().and_then(|(_, b)| sdp::Sdp::parse(b).ok()) {
            let sdp = p.sdp;
            if let Some(c) = &sdp.session.connection {
                view.sdp_addrs.push(c.addr.text);
            }
            for media in &sdp.media {
                view.sdp_addrs
                    .extend(media.connections.iter().map(|c| c.addr.text));
            }
        }
    }
    Ok(nat::client_nat_test(tests, &view))
}

/// `fix_contact()`: the first Contact's host:port becomes the packet's source.
pub fn fix_contact(m: &mut dyn Message, cfg: &Config) -> i32 {
    let r = fix(m, cfg);
    report(&*m, "fix_contact", r)
}

fn fix(m: &mut dyn Message, cfg: &Config) -> Result<i32, ScriptError> {
    if cfg.disable {
        return Err(ScriptError::Disabled);
    }
    if let Some(why) = m.frozen() {
        return Err(ScriptError::Frozen(why));
    }
    let (src_ip, src_port) = m.source().ok_or(ScriptError::NoSource)?;
    let Some(edit) = contact_edit(&*m, cfg, src_ip, src_port)? else {
        return Ok(1);
    };
    if !m.prepare_edits() {
        return Err(ScriptError::Headers);
    }
    m.replace_contact_uri(&edit)
        .map_err(ScriptError::ContactEdit)?;
    Ok(1)
}

/// The edit replacing the first Contact's whole URI (not only host[:port], so a host can point
/// its parsed Contact at the complete new URI); `None` when it needs no change.
fn contact_edit(
    m: &dyn Message,
    cfg: &Config,
    src_ip: std::net::IpAddr,
    src_port: u16,
) -> Result<Option<Edit>, ScriptError> {
    let buf = m.buf();
    let sip = sip::SipMsg::scan(buf).map_err(ScriptError::Malformed)?;
    let contact = sip
        .first_contact()
        .filter(|c| !c.star)
        .ok_or(ScriptError::NoContact)?;
    let host = contact.host.ok_or(ScriptError::NotSipUri)?;
    let asym = sip_asymmetric(m, cfg, sip.user_agent());
    let Some(new) = nat::fix_contact(host.bytes, contact.port_value, src_ip, src_port, asym) else {
        return Ok(None);
    };
    let end = match contact.port {
        Some(p) => p.offset + p.bytes.len(),
        None => host.offset + host.bytes.len(),
    };
    let uri = contact.uri;
    let uri_end = uri.offset + uri.bytes.len();
    if !(uri.offset <= host.offset && end <= uri_end && uri_end <= buf.len()) {
        return Err(ScriptError::ContactSpans);
    }
    let mut insert = Vec::with_capacity(uri.bytes.len() + new.len());
    insert.extend_from_slice(&buf[uri.offset..host.offset]);
    insert.extend_from_slice(new.as_bytes());
    insert.extend_from_slice(&buf[end..uri_end]);
    Ok(Some(Edit {
        offset: uri.offset,
        delete: uri.bytes.len(),
        insert,
    }))
}
