#!/usr/bin/env python3
"""
t-sasl.py - AUTH (RFC 5034) on the wire: PLAIN with and without an
initial response, "=" for an empty response, "*" to cancel, bad base64,
over-long responses, an authorization identity that is not the user,
LOGIN the way Outlook does it, and wrong passwords that fail exactly
like USER/PASS (same text, same log line, same attempt limit).
"""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
t = h.TAP()
USER, USER2 = "pttls12", "pttls13"
PW = h.TEST_PASSWORD
FAILED = b"-ERR [AUTH] Authentication failed."
MSGS = [h.message(1)]


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def plain(authzid, user, pw):
    return b64(b"%s\0%s\0%s" % (authzid.encode(), user.encode(), pw.encode()))


def session(d):
    c = h.raw_session("127.0.0.1", d.port)
    c.line()
    return c


def logged_in_and_quit(c, desc):
    t.ok(c.cmd("STAT").startswith(b"+OK 1 "), desc + ": session is in TRANSACTION")
    t.ok(c.cmd("QUIT").startswith(b"+OK"), desc + ": QUIT")
    c.close()


d = tlsutil.tls_daemon([USER, USER2])
for u in (USER, USER2):
    d.write_mbox(u, h.make_mbox(MSGS))
d.start()
try:
    c = session(d)
    c.cmd("CAPA")
    t.ok(b"SASL PLAIN LOGIN" in c.multiline(), "CAPA lists SASL PLAIN LOGIN")
    t.eq(c.cmd("AUTH"), b"+OK Methods follow", "AUTH without argument lists mechanisms")
    t.eq(c.multiline(), [b"PLAIN", b"LOGIN"], "PLAIN and LOGIN")
    t.eq(c.cmd("AUTH CRAM-MD5"), b"-ERR Unsupported authentication mechanism.",
         "CRAM-MD5 not offered")
    t.ok(c.cmd("AUTH PLAIN " + plain("", USER, PW)).startswith(b"+OK Logged in"),
         "AUTH PLAIN with an initial response")
    t.ok(c.cmd("AUTH PLAIN " + plain("", USER, PW)).startswith(b"-ERR"),
         "AUTH refused after login")
    logged_in_and_quit(c, "PLAIN initial response")

    c = session(d)
    t.eq(c.cmd("AUTH PLAIN"), b"+ ", "AUTH PLAIN without initial response: empty challenge")
    t.ok(c.cmd(plain("", USER, PW)).startswith(b"+OK Logged in"), "PLAIN after the challenge")
    logged_in_and_quit(c, "PLAIN continuation")

    c = session(d)
    t.ok(c.cmd("auth plain " + plain(USER, USER, PW)).startswith(b"+OK Logged in"),
         "authzid equal to the user is fine (and mechanism names are case-insensitive)")
    logged_in_and_quit(c, "PLAIN authzid == user")

    # Failures that never reach the auth helper.
    c = session(d)
    t.eq(c.cmd("AUTH PLAIN"), b"+ ", "challenge")
    t.eq(c.cmd("*"), b"-ERR Authentication cancelled.", "'*' cancels")
    t.eq(c.cmd("AUTH PLAIN *"), b"-ERR Authentication cancelled.", "'*' as initial response cancels")
    t.eq(c.cmd("AUTH PLAIN ="), b"-ERR Malformed SASL message.",
         "'=' is an empty initial response (empty is not a PLAIN message)")
    t.eq(c.cmd("AUTH PLAIN not-base64!"), b"-ERR Invalid base64 data in the SASL response.",
         "bad base64 in the initial response")
    t.eq(c.cmd("AUTH PLAIN"), b"+ ", "challenge")
    t.eq(c.cmd("AGFsaWNl AHB3"), b"-ERR Invalid base64 data in the SASL response.",
         "bad base64 (a space) in the response")
    t.eq(c.cmd("AUTH PLAIN " + b64("alice-without-nuls")),
         b"-ERR Malformed SASL message.", "PLAIN message without NULs")
    t.eq(c.cmd("AUTH PLAIN"), b"+ ", "challenge")
    t.eq(c.cmd("A" * 6000), b"-ERR SASL response too long.", "a 6000-octet response is refused")
    t.eq(c.cmd("AUTH PLAIN " + "A" * 300), b"-ERR Line too long.",
         "an initial response beyond the 255-octet command line is refused")
    t.eq(c.cmd("AUTH PLAIN"), b"+ ", "still in sync after the long lines")
    t.ok(c.cmd(plain("", USER, PW)).startswith(b"+OK Logged in"),
         "and a good response afterwards logs in: no attempt was used up")
    logged_in_and_quit(c, "after refused responses")

    # Outlook: AUTH LOGIN, "Username:", "Password:".
    c = session(d)
    t.eq(c.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6", "LOGIN asks for the user name")
    t.eq(c.cmd(b64(USER)), b"+ UGFzc3dvcmQ6", "then for the password")
    t.ok(c.cmd(b64(PW)).startswith(b"+OK Logged in"), "AUTH LOGIN (Outlook style)")
    logged_in_and_quit(c, "LOGIN")
    c = session(d)
    t.eq(c.cmd("AUTH LOGIN " + b64(USER)), b"+ UGFzc3dvcmQ6",
         "LOGIN with the user name as initial response")
    t.ok(c.cmd(b64(PW)).startswith(b"+OK Logged in"), "LOGIN with initial response")
    logged_in_and_quit(c, "LOGIN initial response")
    c = session(d)
    t.eq(c.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6", "LOGIN")
    t.eq(c.cmd(b64(USER)), b"+ UGFzc3dvcmQ6", "user name")
    t.eq(c.cmd("*"), b"-ERR Authentication cancelled.", "'*' cancels LOGIN at the password")
    t.eq(c.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6", "LOGIN again")
    t.eq(c.cmd("="), b"-ERR Malformed SASL message.", "'=' is an empty (invalid) user name")

    # Failures that do reach the auth helper: same text as USER/PASS, on
    # the uniform delay, logged with the mechanism.
    t.eq(c.cmd("AUTH PLAIN " + plain("", USER, "wrong password")), FAILED,
         "wrong password via PLAIN: the USER/PASS failure text")
    t.eq(c.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6", "LOGIN")
    t.eq(c.cmd(b64(USER)), b"+ UGFzc3dvcmQ6", "user")
    t.eq(c.cmd("="), FAILED, "'=' as an empty LOGIN password: refused like any wrong password")
    t.eq(c.cmd("AUTH PLAIN " + plain(USER2, USER, PW)), FAILED,
         "authzid other than the user refused although the password is right")
    t.ok(c.closed(), "third failure: connection closed (same attempt limit as USER/PASS)")
    t.ok(d.wait_log('login failed: rhost=127.0.0.1 user="%s" mech=PLAIN tls=no' % USER),
         "PLAIN failure logged with mech=PLAIN")
    t.ok(d.wait_log('mech=LOGIN tls=no') and "mech=LOGIN tls=no" in
         "".join(l for l in d.read_log().splitlines() if "login failed" in l),
         "LOGIN failure logged with mech=LOGIN")
    t.ok(d.wait_log('reason="authorization identity differs"'),
         "authzid mismatch logged as such")
    c = session(d)
    c.cmd("USER " + USER)
    t.eq(c.cmd("PASS wrong password"), FAILED, "USER/PASS failure text, for comparison")
    c.close()

    # SASL inside TLS, on both kinds of TLS.
    ctx = d.ca.client_context()
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx)
    tc.line()
    t.eq(tc.cmd("AUTH PLAIN"), b"+ ", "implicit TLS: PLAIN challenge")
    t.ok(tc.cmd(plain("", USER2, PW)).startswith(b"+OK Logged in"), "implicit TLS: PLAIN")
    tc.cmd("QUIT")
    tc.close()
    c = session(d)
    t.ok(c.cmd("STLS").startswith(b"+OK"), "STLS")
    tc = h.RawClient(ctx.wrap_socket(c.sock, server_hostname="127.0.0.1"))
    t.eq(tc.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6", "STLS: LOGIN")
    tc.cmd(b64(USER2))
    t.ok(tc.cmd(b64(PW)).startswith(b"+OK Logged in"), "STLS: LOGIN logs in")
    tc.cmd("QUIT")
    tc.close()
    t.ok(d.wait_log('login ok: rhost=127.0.0.1 user="%s" mech=LOGIN tls=yes' % USER2),
         "login over STLS logged with mech=LOGIN tls=yes")
    t.ok(d.wait_log('login ok: rhost=127.0.0.1 user="%s" mech=PLAIN tls=yes' % USER2),
         "login over implicit TLS logged with mech=PLAIN tls=yes")
    t.ok(PW not in d.read_log() and plain("", USER, PW) not in d.read_log(),
         "no password (plain or base64) in the log")
finally:
    d.cleanup()
t.done()
