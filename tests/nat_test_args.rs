//! `client_nat_test()`'s argument in every form operators write it, in a real proxy
//! (OpenSIPS, or Kamailio with `--features kamailio`) running its example config: an integer
//! (`client_nat_test(1)`, nathelper's `nat_uac_test(1)` habit), a string (`"1"`), nathelper's
//! flag names, a variable holding an integer or a name, and a string holding a variable. The
//! proxy starts with all of them, and each really runs the test it names: an OPTIONS from a
//! private Contact takes the script's NAT branch, the same request from a public one does not.
//!
//! Needs the proxy's binary (`OPENSIPS_BIN` / `KAMAILIO_BIN` or `PATH`): `#[ignore]`d, and
//! `scripts/test.sh` includes the tests when there is one.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::process::{replace_once, wait_until, Site};
use support::proxy::find;
use support::sipcall::try_ask;

/// The request-route user part selecting a form, and the call as the script writes it.
const FORMS: &[(&str, &str, &str)] = &[
    // (user, statements before the test, the test)
    ("int", "", "client_nat_test(1)"),
    ("str", "", "client_nat_test(\"1\")"),
    ("name", "", "client_nat_test(\"private-contact\")"),
    ("ivar", "$var(t) = 1;", "client_nat_test($var(t))"),
    (
        "nvar",
        "$var(t) = \"private-contact\";",
        "client_nat_test($var(t))",
    ),
    ("fmt", "$var(t) = 1;", "client_nat_test(\"$var(t)\")"),
    ("nested", "", "!(!client_nat_test(1))"),
];

/// The probe block for the request route: one branch per form, 299 when the test says NAT,
/// 298 when it does not.
fn probe_block(kamailio: bool) -> String {
    let reply = |code: u16, text: &str| {
        if kamailio {
            format!("sl_send_reply(\"{code}\", \"{text}\")")
        } else {
            format!("send_reply({code}, \"{text}\")")
        }
    };
    let mut block = String::new();
    for (user, before, test) in FORMS {
        block += &format!(
            "\tif ($rU == \"{user}\") {{\n\t\t{before}\n\t\tif ({test}) {{ {}; }} else {{ {}; }}\n\t\texit;\n\t}}\n",
            reply(299, "behind NAT"),
            reply(298, "not behind NAT"),
        );
    }
    block
}

/// An OPTIONS to `user` with its Contact on `contact_host`; the status code of the answer
/// (retried while the proxy is still starting, bounded).
fn status(site: &Site, ua: &UdpSocket, user: &str, contact_host: &str, n: u32) -> Option<u16> {
    let me = ua.local_addr().expect("local address");
    let msg = format!(
        "OPTIONS sip:{user}@{ip}:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-nat-{user}-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{ip}>;tag=p{n}\r\n\
         To: <sip:{user}@{ip}>\r\n\
         Call-ID: nat-args-{user}-{n}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:probe@{contact_host}>\r\n\
         Content-Length: 0\r\n\r\n",
        ip = site.ip,
        port = site.sip_port,
    );
    let mut buf = [0u8; 4096];
    for _ in 0..10 {
        ua.send_to(msg.as_bytes(), (site.ip.as_str(), site.sip_port))
            .expect("send OPTIONS");
        let Ok(len) = ua.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..len]);
        if !text.contains(&format!("nat-args-{user}-{n}")) {
            continue;
        }
        return text.get(8..11).and_then(|c| c.parse().ok());
    }
    None
}

#[test]
#[ignore = "needs the proxy: OPENSIPS_BIN (or opensips on PATH); Kamailio with --features kamailio"]
fn client_nat_test_takes_an_integer_a_string_and_a_variable() {
    let test = "client_nat_test_takes_an_integer_a_string_and_a_variable";
    let proxy = find(test);
    let kamailio = proxy.name == "Kamailio";
    let (port, range) = if kamailio {
        (35470, (43500, 43599))
    } else {
        (35070, (41300, 41399))
    };
    let site = Site::new("nat-args", port, range);
    let cfg = proxy.render_example(&site, "");
    let text = std::fs::read_to_string(&cfg).expect("read the rendered config");
    let anchor = "\t# clients behind NAT: private Contact (1)";
    let text = replace_once(&text, anchor, &format!("{}{anchor}", probe_block(kamailio)));
    let cfg = site.write_cfg(&text);
    let run = proxy.start(&site, &cfg);
    let up = wait_until(Duration::from_secs(15), || {
        try_ask(&site.control_socket(), "summary").is_ok()
    });
    assert!(up, "{} did not start; log:\n{}", proxy.name, run.log_text());

    let ua = UdpSocket::bind((site.ip.as_str(), 0)).expect("bind");
    ua.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let public = ua.local_addr().expect("local address").to_string();
    let mut wrong = Vec::new();
    for (n, (user, _, call)) in (0u32..).zip(FORMS) {
        let natted = status(&site, &ua, user, "10.7.7.7:5060", 2 * n);
        let public = status(&site, &ua, user, &public, 2 * n + 1);
        if (natted, public) != (Some(299), Some(298)) {
            wrong.push(format!(
                "{call}: private Contact {natted:?} (want 299), public {public:?} (want 298)"
            ));
        }
    }
    let log = run.log_text();
    assert!(
        wrong.is_empty(),
        "{}:\n{}\nlog:\n{log}",
        proxy.name,
        wrong.join("\n")
    );
    assert!(proxy.problems(&log).is_empty(), "{log}");
}
