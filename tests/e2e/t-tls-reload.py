#!/usr/bin/env python3
"""
t-tls-reload.py - certificates over time: SIGHUP while TLS sessions are
open (they continue with the old certificate, new ones get the new
certificate), a reload with a broken key is refused, and "postern -t"
explains each kind of broken certificate setup.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
t = h.TAP()
U1, U2 = "pttls16", "pttls17"
PW = h.TEST_PASSWORD
MSGS = [h.message(1), h.message(2, size=100000)]


def sighup(d, needle, n):
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        if d.read_log().count(needle) >= n:
            return True
        time.sleep(0.05)
    return False


def login(c, user):
    c.cmd("USER " + user)
    return c.cmd("PASS " + PW)


def check(d, changes):
    """Run postern -t on the daemon's configuration with changes."""
    saved = dict(d.config)
    d.config.update(changes)
    d.write_config()
    p = subprocess.run([os.path.join(h.TOP_BUILDDIR, "postern"), "-t", "-c", d.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    d.config = saved
    d.write_config()
    return p.returncode, p.stdout.decode(errors="replace")


d = tlsutil.tls_daemon([U1, U2])
for u in (U1, U2):
    d.write_mbox(u, h.make_mbox(MSGS))
d.start()
ctx = d.ca.client_context()
try:
    serial_a = d.cert_serial
    # Two sessions on certificate A: implicit TLS (logged in) and STLS.
    s1 = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx)
    s1.line()
    t.eq(tlsutil.peer_serial(s1.sock), serial_a, "session 1 sees certificate A")
    t.ok(login(s1, U1).startswith(b"+OK Logged in"), "session 1 logged in")
    s2 = h.raw_session("127.0.0.1", d.port)
    s2.line()
    s2.cmd("STLS")
    s2 = h.RawClient(ctx.wrap_socket(s2.sock, server_hostname="localhost"))
    t.eq(tlsutil.peer_serial(s2.sock), serial_a, "session 2 (STLS) sees certificate A")

    # Certificate B (an RSA key this time), configured, SIGHUP.
    chain_b, key_b, serial_b = d.ca.issue("server-b", keytype="rsa")
    d.config["tls_cert"], d.config["tls_key"] = chain_b, key_b
    d.write_config()
    t.ok(sighup(d, "configuration reloaded", 1), "SIGHUP: configuration reloaded")

    s3 = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx)
    t.ok(s3.line().startswith(b"+OK"), "new session after the reload")
    t.eq(tlsutil.peer_serial(s3.sock), serial_b, "new session sees certificate B")
    t.ok(login(s3, U2).startswith(b"+OK Logged in"), "new session logs in")
    t.ok(s3.cmd("RETR 2").startswith(b"+OK"), "new session RETR")
    t.eq(s3.multiline(), h.expected_retr(MSGS[1]), "new session: byte-exact")
    s3.cmd("QUIT")
    s4 = h.raw_session("127.0.0.1", d.port)
    s4.line()
    s4.cmd("STLS")
    s4 = h.RawClient(ctx.wrap_socket(s4.sock, server_hostname="localhost"))
    t.eq(tlsutil.peer_serial(s4.sock), serial_b, "new STLS session sees certificate B")
    s4.cmd("QUIT")

    # The open sessions did not notice.
    t.ok(s1.cmd("STAT").startswith(b"+OK 2 "), "session 1 still works after SIGHUP")
    t.ok(s1.cmd("RETR 2").startswith(b"+OK"), "session 1 RETR after SIGHUP")
    t.eq(s1.multiline(), h.expected_retr(MSGS[1]), "session 1: byte-exact after SIGHUP")
    t.eq(tlsutil.peer_serial(s1.sock), serial_a, "session 1 still on certificate A")
    t.ok(s1.cmd("QUIT").startswith(b"+OK"), "session 1 QUIT")
    s2.cmd("CAPA")
    t.ok(b"USER" in s2.multiline(), "session 2 (STLS) still answers after SIGHUP")
    s2.cmd("QUIT")

    # A reload with a key that does not match is refused as a whole.
    d.config["tls_key"] = d.config["tls_key"].replace("server-b", "server")
    d.write_config()
    t.ok(sighup(d, "reload failed, keeping the old configuration", 1),
         "SIGHUP with a mismatched key: reload refused")
    t.ok("does not match the certificate" in d.read_log(), "and the log says why")
    s5 = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx)
    t.ok(s5.line().startswith(b"+OK"), "service continues")
    t.eq(tlsutil.peer_serial(s5.sock), serial_b, "with certificate B")
    s5.cmd("QUIT")
    d.config["tls_key"] = key_b
    d.write_config()

    # Renewal in place (what certbot does): workers read the files at
    # every connection, so new sessions see it even before a SIGHUP.
    chain_c, key_c, serial_c = d.ca.issue("server-c")
    shutil.copyfile(chain_c, chain_b)
    shutil.copyfile(key_c, key_b)
    s6 = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx)
    t.ok(s6.line().startswith(b"+OK"), "session after renewal in place")
    t.eq(tlsutil.peer_serial(s6.sock), serial_c, "sees the renewed certificate")
    s6.cmd("QUIT")

    # postern -t: every check, with its explanation.
    rc, out = check(d, {})
    t.ok(rc == 0 and "is OK" in out, "postern -t: good certificate")
    t.ok("chain ends at a root contained in the file" in out,
         "postern -t: says the chain ends at the test CA in the file")
    t.ok("valid for 19 more days" in out or "valid for 20 more days" in out,
         "postern -t: says how long it is valid (20-day certificate)")
    t.ok("expires in" in out, "postern -t: warns when it expires within 30 days")
    chain_y, key_y, _ = d.ca.issue("year", days=365)
    rc, out = check(d, {"tls_cert": chain_y, "tls_key": key_y})
    t.ok(rc == 0 and "expires in" not in out, "postern -t: no expiry warning a year ahead")
    rc, out = check(d, {"tls_key": key_y})
    t.ok(rc == 1 and "does not match the certificate" in out,
         "postern -t: key that does not match (%s)" % out.strip()[-100:])
    leaf_only = os.path.join(d.ca.dir, "year.crt")
    rc, out = check(d, {"tls_cert": leaf_only, "tls_key": key_y})
    t.ok(rc == 1 and "does not verify" in out and "intermediate" in out,
         "postern -t: incomplete chain (%s)" % out.strip()[-120:])
    loose = os.path.join(d.ca.dir, "loose.key")
    shutil.copyfile(key_y, loose)
    os.chmod(loose, 0o644)
    rc, out = check(d, {"tls_cert": chain_y, "tls_key": loose})
    t.ok(rc == 1 and "accessible to every user" in out, "postern -t: world-readable key")
    rc, out = check(d, {"tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GMC-SHA256"})
    t.ok(rc == 1 and "AES128-GMC" in out, "postern -t: cipher typo named")
    rc, out = check(d, {"tls_ciphersuites": "TLS_AES_128_GCM_SHA256:TLS_AES_512_GCM"})
    t.ok(rc == 1 and "TLS_AES_512_GCM" in out, "postern -t: unknown TLS 1.3 suite named")
    rc, out = check(d, {"tls_min_version": "TLSv1.1"})
    t.ok(rc == 1 and "tls_min_version" in out, "postern -t: TLSv1.1 floor refused")
    rc, out = check(d, {"tls_cert": os.path.join(d.dir, "nonexistent.pem")})
    t.ok(rc == 1 and "nonexistent.pem" in out, "postern -t: missing certificate file")
    rc, out = check(d, {"tls_cert": "", "tls_key": ""})
    t.ok(rc == 1 and "listen_tls needs tls_cert" in out, "postern -t: listen_tls without a certificate")
    # postern refuses to start with a broken certificate.
    d.config["tls_key"] = key_y
    d.write_config()
    d.stop()
    p = subprocess.run([os.path.join(h.TOP_BUILDDIR, "postern"), "-F", "-c", d.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    t.ok(p.returncode == 1 and b"does not match" in p.stdout,
         "postern does not start with a mismatched key")
finally:
    d.cleanup()
t.done()
