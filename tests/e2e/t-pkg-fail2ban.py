#!/usr/bin/env python3
"""
t-pkg-fail2ban.py - the fail2ban filter against the real daemon's log.

Failed logins (wrong password, unknown user, a name built to forge a
second address, wrong passwords through AUTH PLAIN and AUTH LOGIN) come
from distinct loopback source addresses, plus IPv6 ::1 when the
host has it; a successful login comes from another. fail2ban-regex must
find each failure with its own address and nothing for the success,
in the daemon's three output forms: standard error as written (-F),
the journal (JOURNAL_STREAM set, as systemd does; "<N>" stripped and
"host postern[PID]: " added, as journald and fail2ban's journal reader
do), and syslog (the priority word dropped, syslog's prefix added).
SASL exchanges that end before any password is checked (invalid base64,
"*" cancel, a malformed PLAIN message) are logged, but are not failed
logins and must not be matched.
"""
import base64
import collections
import os
import poplib
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pkgtest  # noqa: E402

harness.require_root()
if not pkgtest.have("fail2ban-regex"):
    harness.skip_all("fail2ban-regex missing (apt-get install fail2ban)")
COMMON = "/etc/fail2ban/filter.d/common.conf"
if not os.path.exists(COMMON):
    harness.skip_all("fail2ban's common.conf missing")

t = harness.TAP()
USER = "ptpkgf2b"
work = tempfile.mkdtemp(prefix="postern-f2b-")


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Pop3From(poplib.POP3):
    """poplib.POP3 with a chosen source address."""

    def __init__(self, host, port, source):
        self._source = source
        super().__init__(host, port, timeout=15)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


def attempt(host, port, source, user, password):
    c = Pop3From(host, port, source)
    try:
        c.user(user)
        c.pass_(password)
        c.quit()
        return True
    except poplib.error_proto:
        try:
            c.quit()
        except (poplib.error_proto, OSError, EOFError):
            pass
        return False


def sasl(host, port, source, mech, answers):
    """AUTH mech, then each of answers (text lines) while the server
    sends "+" challenges; returns the server's final line, or None if
    CAPA does not offer mech."""
    c = Pop3From(host, port, source)
    try:
        caps = c.capa()
        if "SASL" not in caps or mech not in caps["SASL"]:
            return None
        c._putcmd("AUTH " + mech)
        resp = c._getline()[0]
        for a in answers:
            if not resp.startswith(b"+ "):
                break
            c._putcmd(a)
            resp = c._getline()[0]
        return resp
    finally:
        try:
            c.quit()
        except (poplib.error_proto, OSError, EOFError):
            pass


def b64(data):
    return base64.b64encode(data).decode()


def f2b(logfile):
    """{address: count} that fail2ban-regex finds, and the matched lines."""
    conf = os.path.join(work, "f2b")
    if not os.path.isdir(conf):
        os.makedirs(os.path.join(conf, "filter.d"))
        shutil.copy(COMMON, os.path.join(conf, "filter.d"))
        shutil.copy(os.path.join(pkgtest.PKG, "fail2ban", "filter.d", "postern.conf"),
                    os.path.join(conf, "filter.d"))
    out = {}
    for what in ("ip", "msg"):
        r = subprocess.run(["fail2ban-regex", "--config=" + conf, "-o", what,
                            logfile, "postern"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out[what] = (r.returncode, r.stdout.decode(errors="replace"))
    ips = collections.Counter(l.strip() for l in out["ip"][1].splitlines() if l.strip())
    return out["ip"][0], ips, out["msg"][1]


v6 = have_ipv6()
port6 = harness.free_port("::1") if v6 else None
listen = ["127.0.0.1:%d" % harness.free_port()]
d = harness.Daemon(users=(USER,), config={"auth_fail_delay": "100"})
listen = ["127.0.0.1:%d" % d.port]
if v6:
    listen.append("[::1]:%d" % port6)
d.config["listen"] = listen
d.write_config()
logfile = os.path.join(work, "journal-stream.log")
expected = collections.Counter()
try:
    # Stand-alone -F run: plain standard error.
    d.start()
    t.ok(not attempt("127.0.0.1", d.port, "127.0.0.11", USER, "wrong password"),
         "wrong password refused (from 127.0.0.11)")
    expected["127.0.0.11"] += 1
    t.ok(not attempt("127.0.0.1", d.port, "127.0.0.12", "ptpkgnosuchuser", "x"),
         "unknown user refused (from 127.0.0.12)")
    expected["127.0.0.12"] += 1
    # A name crafted to look like a second address in the log line.
    t.ok(not attempt("127.0.0.1", d.port, "127.0.0.13",
                     'a"rhost=6.6.6.6', "x"),
         "forged-looking user name refused (from 127.0.0.13)")
    expected["127.0.0.13"] += 1
    t.ok(not attempt("127.0.0.1", d.port, "127.0.0.13", USER, "wrong: again"),
         "wrong password refused (from 127.0.0.13 again)")
    expected["127.0.0.13"] += 1
    r = sasl("127.0.0.1", d.port, "127.0.0.14", "PLAIN",
             [b64(b"\0" + USER.encode() + b"\0wrong-sasl-password")])
    t.eq(r, b"-ERR [AUTH] Authentication failed.",
         "AUTH PLAIN, wrong password: refused (from 127.0.0.14)")
    expected["127.0.0.14"] += 1
    r = sasl("127.0.0.1", d.port, "127.0.0.16", "LOGIN",
             [b64(USER.encode()), b64(b"wrong-login-password")])
    t.eq(r, b"-ERR [AUTH] Authentication failed.",
         "AUTH LOGIN, wrong password: refused (from 127.0.0.16)")
    expected["127.0.0.16"] += 1
    # Exchanges that end before any credentials reach the auth helper
    # check no password: logged at info by the worker, not failed logins
    # (doc/security.md), so fail2ban must not count them.
    malformed = (("PLAIN", ["!!not base64!!"], "invalid base64"),
                 ("LOGIN", ["*"], "cancelled by the client"),
                 ("PLAIN", [b64(b"no-nul-separators")], "malformed message"))
    for mech, answers, why in malformed:
        r = sasl("127.0.0.1", d.port, "127.0.0.17", mech, answers)
        t.ok(r is not None and r.startswith(b"-ERR") and b"[AUTH]" not in r,
             "AUTH %s, %s: refused before authentication (%r)" % (mech, why, r))
        t.ok(d.wait_log("rhost=127.0.0.17 SASL %s exchange ended without "
                        "credentials: %s" % (mech, why)),
             "logged by the worker at info: %s" % why)
    if v6:
        t.ok(not attempt("::1", port6, "::1", USER, "wrong v6"),
             "wrong password refused (from ::1)")
        expected["::1"] += 1
    t.ok(attempt("127.0.0.1", d.port, "127.0.0.20", USER, harness.TEST_PASSWORD),
         "right password accepted (from 127.0.0.20)")
    n = sum(expected.values())
    t.ok(d.wait_log("login ok: rhost=127.0.0.20"), "the success is logged")
    d.stop()
    log = d.read_log()
    failed = [l for l in log.splitlines() if " login failed: " in l]
    t.eq(len(failed), n, "one 'login failed' line per failure")

    rc, ips, msgs = f2b(d.logfile)
    t.eq(rc, 0, "fail2ban-regex runs on the daemon's log")
    t.eq(dict(ips), dict(expected),
         "stderr form: every failure matched, with its own address")
    t.ok("6.6.6.6" not in ips, "the forged address is not taken")
    t.ok("127.0.0.17" not in ips,
         "SASL exchanges that checked no password are not matched")
    t.ok("login ok" not in msgs and "127.0.0.20" not in ips,
         "the successful login is not matched")

    # Syslog form, from the same real lines.
    syslog = os.path.join(work, "mail.log")
    with open(syslog, "w") as f:
        for l in log.splitlines():
            m = re.match(r"^\S+ (\S+\[\d+\]): (\w+): (.*)$", l)
            if m:
                f.write("Nov 22 05:00:00 mailhost postern[4242]: %s: %s\n"
                        % (m.group(1), m.group(3)))
    rc, ips, msgs = f2b(syslog)
    t.eq(dict(ips), dict(expected), "syslog form: every failure matched "
         "(none for 127.0.0.17)")
    t.ok("login ok" not in msgs, "syslog form: the success is not matched")

    # Journal form: the daemon sees its stderr is the journal stream.
    open(logfile, "w").close()
    st = os.stat(logfile)
    d.logfile = logfile
    os.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    try:
        d.start()
    finally:
        del os.environ["JOURNAL_STREAM"]
    attempt("127.0.0.1", d.port, "127.0.0.15", USER, "wrong again")
    attempt("127.0.0.1", d.port, "127.0.0.21", USER, harness.TEST_PASSWORD)
    t.ok(d.wait_log("login ok: rhost=127.0.0.21"), "journal form: success logged")
    d.stop()
    jlog = d.read_log()
    jfail = [l for l in jlog.splitlines() if "login failed" in l]
    t.ok(len(jfail) == 1 and re.match(r"^<5>postern-auth\[\d+\]: notice: login failed: rhost=127\.0\.0\.15 ", jfail[0]),
         "journal form: priority prefix <5> instead of the time")
    journal = os.path.join(work, "journal.log")
    with open(journal, "w") as f:
        for l in jlog.splitlines():
            m = re.match(r"^<\d>(.*)$", l)
            if m:
                f.write("2026-11-22 05:00:00 mailhost postern[4242]: %s\n" % m.group(1))
    rc, ips, msgs = f2b(journal)
    t.eq(dict(ips), {"127.0.0.15": 1}, "journal form: the failure matched")
    t.ok("login ok" not in msgs, "journal form: the success is not matched")
finally:
    d.cleanup()
    shutil.rmtree(work, ignore_errors=True)
t.done()
