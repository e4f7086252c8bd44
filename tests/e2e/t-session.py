#!/usr/bin/env python3
"""
t-session.py - a whole POP3 session against the real daemon: real PAM
users, a real mbox, Python's poplib and curl; byte-exact messages, the
refusals that must look alike, and the four roles in ps.
"""
import os
import poplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.require_root()
# poplib refuses lines over 2048 octets; real mail has longer ones.
poplib._MAXLINE = 1 << 20
t = h.TAP()

MSGS = [
    h.message(1),
    h.message(2, size=20000),
    h.message(3, extra=b".starts with a dot\n..two dots\n.\nend\n"),
    h.message(4, extra=b"x" * 5000 + b"\n"),                 # a long line
    h.message(5, extra=b"carriage\rreturn inside a line\n"),  # bare CR
    h.message(6),                                           # duplicate body
    h.message(6),
]

d = h.Daemon(users=("ptalice", "ptbob"))
d.write_mbox("ptalice", h.make_mbox(MSGS))
before = d.read_mbox("ptalice")
d.start()
try:
    p = poplib.POP3(d.host, d.port, timeout=20)
    t.ok(p.getwelcome().startswith(b"+OK"), "greeting is +OK")
    caps = p.capa()
    for c in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING"):
        t.ok(c in caps, "CAPA lists %s" % c)
    t.ok(p.user("ptalice").startswith(b"+OK"), "USER answers +OK")
    t.ok(p.pass_(h.TEST_PASSWORD).startswith(b"+OK"), "PASS with the real password")
    count, octets = p.stat()
    t.eq(count, len(MSGS), "STAT counts every message")
    resp, listing, _ = p.list()
    sizes = [int(l.split()[1]) for l in listing]
    t.eq(sum(sizes), octets, "STAT octets equal the sum of LIST sizes")
    for i, m in enumerate(MSGS, 1):
        resp, lines, got_octets = p.retr(i)
        want = h.expected_retr(m)
        t.eq(lines, want, "RETR %d is byte-exact" % i)
        wire = sum(len(l) + 2 for l in lines)
        t.eq(sizes[i - 1], wire, "LIST %d size equals the octets RETR sent" % i)
        t.ok(resp.startswith(b"+OK %d octets" % sizes[i - 1]),
             "RETR %d announces its size" % i)
    t.eq(p.list(2)[:3], b"+OK", "LIST n answers on one line")
    t.eq(p.noop()[:3], b"+OK", "NOOP in TRANSACTION")
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    t.eq(d.read_mbox("ptalice"), before, "a session without DELE leaves the mbox as it was")

    # Refusals: a wrong password and an unknown user look the same.
    def refusal(user, pw):
        q = poplib.POP3(d.host, d.port, timeout=20)
        q.user(user)
        try:
            q.pass_(pw)
            return b"accepted"
        except poplib.error_proto as e:
            return e.args[0]
        finally:
            try:
                q.quit()
            except Exception:
                pass
    wrong = refusal("ptalice", "not the password")
    unknown = refusal("ptnosuchuser", "whatever")
    t.eq(wrong, b"-ERR [AUTH] Authentication failed.", "wrong password refused")
    t.eq(unknown, wrong, "unknown user refused with the same response")
    t.ok(d.wait_log('login failed: rhost=127.0.0.1 user="ptnosuchuser"'),
         "failure logged with rhost and user")

    # curl: another real client, byte-exact.
    out = subprocess.run(
        ["curl", "-s", "--max-time", "20",
         "pop3://127.0.0.1:%d/3" % d.port, "-u", "ptalice:" + h.TEST_PASSWORD],
        stdout=subprocess.PIPE)
    t.eq(out.returncode, 0, "curl fetches message 3")
    t.eq(out.stdout, b"\r\n".join(h.expected_retr(MSGS[2])) + b"\r\n",
         "curl receives message 3 byte-exact (dot-stuffing undone)")
    out = subprocess.run(
        ["curl", "-s", "--max-time", "20", "pop3://127.0.0.1:%d/" % d.port,
         "-u", "ptalice:" + h.TEST_PASSWORD], stdout=subprocess.PIPE)
    t.eq(out.stdout.count(b"\r\n"), len(MSGS), "curl lists every message")
    out = subprocess.run(
        ["curl", "-s", "--max-time", "20", "pop3://127.0.0.1:%d/1" % d.port,
         "-u", "ptalice:wrong"], stdout=subprocess.PIPE)
    t.ok(out.returncode != 0, "curl with a wrong password fails")

    # The four roles, with the right users, while a session is open.
    p = poplib.POP3(d.host, d.port, timeout=20)
    p.user("ptbob")
    p.pass_(h.TEST_PASSWORD)
    roles = h.ps_roles(d.proc.pid)
    by_comm = {}
    for user, comm, args in roles:
        by_comm.setdefault(comm, set()).add(user)
    t.ok("root" in by_comm.get("postern", set()), "master runs as root")
    t.ok("root" in by_comm.get("postern-auth", set()), "auth helper runs as root")
    t.ok("postern" in by_comm.get("postern-pop3", set()), "worker runs as postern")
    t.ok("ptbob" in by_comm.get("postern-store", set()), "storage runs as the mail user")
    t.ok(all(u == "postern" for u in by_comm.get("postern-pop3", set())),
         "no worker runs as anyone but postern")
    t.ok(p.stat()[0] == 0, "a missing mailbox is an empty maildrop")
    p.quit()
    t.ok(d.wait_log('session end: rhost=127.0.0.1 user="ptbob"'),
         "session end logged with counts")
finally:
    d.cleanup()
t.done()
