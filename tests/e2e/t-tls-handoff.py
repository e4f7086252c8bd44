#!/usr/bin/env python3
"""
t-tls-handoff.py - plaintext connections are served by postern-pop3,
which has no OpenSSL in its address space; STLS hands the connection to
postern-pop3s through the master. The session goes on as one: one
"session end" line with tls=yes, the auth helper's attempt count and the
pre-authentication deadline carry over, nothing said before STLS
survives it. A hostile plaintext worker cannot misuse the hand-over:
wrong order, no descriptor, a descriptor that is not a socket, a second
hand-over, or one after login all end the session, and the master logs
each.
"""
import os
import re
import socket
import time

import harness as h
import sechelp
import tlsutil

h.require_root()
t = h.TAP()
USER = "pttlshand"
PW = h.TEST_PASSWORD
MSGS = [h.message(1), h.message(2, size=300000)]


def maps(pid):
    with open("/proc/%d/maps" % pid) as f:
        return f.read()


def exe(pid):
    return os.path.basename(os.readlink("/proc/%d/exe" % pid))


def new_worker(master, comm, before, timeout=20):
    """The one worker named comm that is not in before (a set of pids)."""
    found = []

    def one():
        found[:] = list(set(sechelp.role_pids(master, comm)) - before)
        return len(found) == 1
    return found[0] if h.wait_for(one, timeout) else None


def plain(d):
    c = h.RawClient(socket.create_connection(("127.0.0.1", d.port), 15))
    greeting = c.line()
    return c, greeting


def stls(c, ctx):
    r = c.cmd("STLS")
    assert c.buf == b"", c.buf
    return r, h.RawClient(ctx.wrap_socket(c.sock, server_hostname="127.0.0.1"))


def multi(c, cmd):
    """A multi-line answer, dot-stuffed, CRLF line ends; b"" after -ERR."""
    if not c.cmd(cmd).startswith(b"+OK"):
        return b""
    return b"".join(l + b"\r\n" for l in c.multiline())


def session_ends(d, sid=None):
    """Session-end lines in the log (of session sid only, if given: the
    readiness probe's session may end late on a loaded machine)."""
    lines = [l for l in d.read_log().splitlines() if "session end:" in l]
    if sid is not None:
        lines = [l for l in lines if " session=%s " % sid in l]
    return len(lines)


def session_id(d, port):
    """The session number the master gave the connection from port."""
    m = re.search(r"session=(\d+) rhost=127\.0\.0\.1 port=%d: accepted"
                  % port, d.read_log())
    return m.group(1) if m else None


d = tlsutil.tls_daemon([USER], extra={"auth_max_attempts": "2",
                                      "auth_fail_delay": "0",
                                      "preauth_timeout": "5"})
d.write_mbox(USER, h.make_mbox(MSGS))
d.start()
ctx = d.ca.client_context()
master = d.proc.pid
try:
    h.wait_for(lambda: sechelp.role_pids(master, "postern-auth"), 30)

    # --- a plaintext connection: postern-pop3, without OpenSSL ---------
    before = set(sechelp.role_pids(master, "postern-pop3"))
    c, g = plain(d)
    t.ok(g.startswith(b"+OK"), "plaintext greeting")
    w1 = new_worker(master, "postern-pop3", before)
    t.ok(w1 is not None, "the plaintext connection has a postern-pop3 worker")
    m = maps(w1) if w1 else ""
    t.ok(w1 is not None and "libssl" not in m and "libcrypto" not in m,
         "... with neither libssl nor libcrypto mapped")
    t.eq(exe(w1) if w1 else None, "postern-pop3", "... running postern-pop3")
    capa = multi(c, "CAPA")
    t.ok(b"STLS" in capa, "CAPA before TLS offers STLS")

    # --- STLS: the session moves to postern-pop3s ----------------------
    sid = session_id(d, c.sock.getsockname()[1])
    t.ok(sid is not None, "the master logged the connection's session number")
    before_s = set(sechelp.role_pids(master, "postern-pop3s"))
    r, c = stls(c, ctx)
    t.ok(r.startswith(b"+OK"), "STLS: +OK from the plaintext worker")
    t.eq(c.sock.version() in ("TLSv1.2", "TLSv1.3"), True,
         "the handshake with postern-pop3s succeeds")
    w2 = new_worker(master, "postern-pop3s", before_s)
    t.ok(w2 is not None, "a postern-pop3s worker continues the session")
    t.ok(w2 is not None and "libssl" in maps(w2), "... with OpenSSL mapped")
    t.ok(w1 is not None and sechelp.wait_gone(w1),
         "the plaintext worker is gone")
    if w2 is not None:
        st = sechelp.status(w2)
        t.ok(st.get("Seccomp") == "2" and st["Uid"].split()[0] != "0",
             "postern-pop3s is confined (seccomp filter, unprivileged uid)")
    capa = multi(c, "CAPA")
    t.ok(b"STLS" not in capa and b"USER" in capa,
         "CAPA inside TLS: no STLS, USER offered")
    t.ok(c.cmd("STLS").startswith(b"-ERR"), "a second STLS is refused")
    t.ok(c.cmd("USER " + USER).startswith(b"+OK"), "USER inside TLS")
    t.ok(c.cmd("PASS " + PW).startswith(b"+OK"), "PASS inside TLS")
    t.ok(c.cmd("STAT").startswith(b"+OK 2 "), "STAT")
    body = multi(c, "RETR 2")
    t.eq(body, tlsutil.wire_retr(MSGS[1]), "RETR byte-exact after the hand-over")
    t.ok(c.cmd("QUIT").startswith(b"+OK"), "QUIT")
    c.close()
    t.ok(h.wait_for(lambda: session_ends(d, sid) > 0, 20), "the session ends")
    time.sleep(0.3)
    log = d.read_log()
    t.eq(session_ends(d, sid), 1,
         "one session-end line for the connection, not one per worker")
    last = ([l for l in log.splitlines() if "session end:" in l and
             " session=%s " % sid in l] or [""])[-1]
    t.ok("tls=yes" in last and ('user="%s"' % USER) in last and
         "retrieved=1" in last, "it says tls=yes, the user, retrieved=1")

    # --- what was said before STLS does not survive it (rule 5) --------
    c, g = plain(d)
    t.ok(c.cmd("USER " + USER).startswith(b"+OK"), "USER in plaintext")
    r, c = stls(c, ctx)
    t.ok(c.cmd("PASS " + PW).startswith(b"-ERR"),
         "PASS after STLS without a new USER is refused")
    c.close()

    # --- the auth helper's attempt count carries over ------------------
    # auth_max_attempts = 2: one failure in plaintext (allowed from
    # loopback), one inside TLS, and the connection is done.
    c, g = plain(d)
    c.cmd("USER " + USER)
    t.ok(c.cmd("PASS wrong-password").startswith(b"-ERR [AUTH]"),
         "a failed attempt in plaintext")
    r, c = stls(c, ctx)
    c.cmd("USER " + USER)
    t.ok(c.cmd("PASS wrong-password").startswith(b"-ERR"),
         "a failed attempt inside TLS")
    t.ok(c.closed(10), "... was the last allowed: the attempt count carried over")
    c.close()
    # Control: one failure inside TLS alone leaves the connection open.
    c, g = plain(d)
    r, c = stls(c, ctx)
    c.cmd("USER " + USER)
    c.cmd("PASS wrong-password")
    t.ok(c.cmd("CAPA").startswith(b"+OK"),
         "(control) after one failure the connection stays open")
    c.close()

    # --- the pre-authentication deadline carries over ------------------
    # preauth_timeout = 5 s from the connection, not from the hand-over.
    c, g = plain(d)
    t0 = time.time()
    time.sleep(3)
    r, c = stls(c, ctx)
    closed = c.closed(10)
    took = time.time() - t0
    t.ok(closed and took < 6.5,
         "the TLS worker keeps the connection's deadline (closed after "
         "%.1f s, not 3 + 5 s)" % took)
    c.close()
finally:
    d.stop()

# --- a hostile plaintext worker and the hand-over ----------------------
if not sechelp.SECCOMP:
    t.ok(True, "# SKIP built --without-seccomp (no hook workers)")
else:
    d = tlsutil.tls_daemon([USER], extra={"auth_fail_delay": "0"})
    d.config["libexec_dir"] = sechelp.hook_libexec(d.dir)
    d.write_config()
    d.write_mbox(USER, h.make_mbox(MSGS))
    d.start()
    ctx = d.ca.client_context()
    try:
        def attack(c, how):
            try:
                return c.cmd("XPOSTERN-ATTACK master-stls " + how)
            except (EOFError, OSError):
                return None

        for how, what in [("auth", "the auth channel first"),
                          ("nofd", "no descriptor"),
                          ("devnull", "a descriptor that is not a socket"),
                          ("twice", "the client socket twice"),
                          ("client-as-auth", "the client socket as the auth "
                           "channel (credentials would go out in clear)"),
                          ("swapped", "the two sockets exchanged"),
                          ("master", "another socket as the client's")]:
            n = sechelp.log_count(d, "unexpected WORKER_STLS from postern-pop3[")
            c, g = plain(d)
            attack(c, how)
            t.ok(c.closed(10), "a hand-over with %s ends the session" % what)
            t.ok(h.wait_for(lambda: sechelp.log_count(
                d, "unexpected WORKER_STLS from postern-pop3[") > n, 10),
                "... and the master logs it")
            c.close()
        c, r = sechelp.login(d, USER)
        t.ok(r.startswith(b"+OK"), "(login for the next attack)")
        attack(c, "client")
        t.ok(c.closed(10), "a hand-over after login ends the session")
        c.close()
        n = sechelp.log_count(d, "unexpected WORKER_STLS from postern-pop3s[")
        c, g = plain(d)
        r, c = stls(c, ctx)
        attack(c, "client")
        t.ok(c.closed(10), "a second hand-over, from the TLS worker, ends "
             "the session")
        t.ok(h.wait_for(lambda: sechelp.log_count(
            d, "unexpected WORKER_STLS from postern-pop3s[") > n, 10),
            "... and the master logs it")
        c.close()
        # The daemon still serves.
        c, g = plain(d)
        r, c = stls(c, ctx)
        c.cmd("USER " + USER)
        t.ok(c.cmd("PASS " + PW).startswith(b"+OK"),
             "after all that, STLS and login still work")
        c.cmd("QUIT")
        c.close()
    finally:
        d.stop()
t.done()
