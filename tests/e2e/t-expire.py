#!/usr/bin/env python3
"""
t-expire.py - RFC 2449 EXPIRE against the real daemon with a real PAM
user: not announced by default; "EXPIRE NEVER" announced in both states
and nothing deleted that the client did not DELE; "EXPIRE 0" announced
and enforced: on QUIT exactly the messages RETR sent are deleted (not
TOP, not a refused RETR, also after RSET, together with the client's own
DELE marks), and a dropped connection deletes nothing. postern -n shows
both keys.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptexpire"
MSGS = [h.message(i) for i in range(1, 7)]
MBOX = h.make_mbox(MSGS)
SEGS = cl.mbox_segments(MBOX)
assert len(SEGS) == len(MSGS)


def capa(p):
    p.must("CAPA")
    return p.multiline()


def expire_lines(caps):
    return [c for c in caps if c.startswith(b"EXPIRE")]


def effective(d):
    out = subprocess.run([os.path.join(h.TOP_BUILDDIR, "postern"), "-n", "-c",
                          d.conf], check=True, stdout=subprocess.PIPE).stdout
    return out.decode().splitlines()


# Default: no EXPIRE announced.
d = h.Daemon(users=(U,))
try:
    t.ok("expire = " in effective(d) and "login_delay = 0" in effective(d),
         "postern -n shows the defaults: expire empty, login_delay 0")
    d.write_mbox(U, MBOX)
    d.start()
    p = cl.Pop(d)
    t.eq(expire_lines(capa(p)), [], "default: no EXPIRE in AUTHORIZATION")
    p.drop()
    p = cl.login(d, U)
    t.eq(expire_lines(capa(p)), [], "default: no EXPIRE in TRANSACTION")
    p.quit()
finally:
    d.cleanup()

# EXPIRE NEVER: what the client does not DELE stays.
d = h.Daemon(users=(U,), config={"expire": "never"})
try:
    t.ok("expire = never" in effective(d), "postern -n shows expire = never")
    d.write_mbox(U, MBOX)
    d.start()
    p = cl.Pop(d)
    t.eq(expire_lines(capa(p)), [b"EXPIRE NEVER"], "EXPIRE NEVER in AUTHORIZATION")
    p.drop()
    p = cl.login(d, U)
    t.eq(expire_lines(capa(p)), [b"EXPIRE NEVER"], "EXPIRE NEVER in TRANSACTION")
    for i in (1, 2, 3):
        t.ok(p.retr(i)[1] is not None, "RETR %d" % i)
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    t.ok(cl.wait_ended(d, U, 1), "session ended")
    t.eq(d.read_mbox(U), MBOX, "EXPIRE NEVER: retrieved messages are kept")
finally:
    d.cleanup()

# EXPIRE 0: what was retrieved is deleted on QUIT, and only that.
d = h.Daemon(users=(U,), config={"expire": "0"})
ended = 0
try:
    t.ok("expire = 0" in effective(d), "postern -n shows expire = 0")
    d.write_mbox(U, MBOX)
    d.start()
    p = cl.Pop(d)
    t.eq(expire_lines(capa(p)), [b"EXPIRE 0"], "EXPIRE 0 in AUTHORIZATION")
    p.drop()

    # A dropped connection deletes nothing, whatever was retrieved.
    p = cl.login(d, U)
    for i in (1, 2):
        t.ok(p.retr(i)[1] is not None, "RETR %d, then drop the connection" % i)
    p.drop()
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "dropped session ended")
    t.eq(d.read_mbox(U), MBOX, "EXPIRE 0: a dropped connection deletes nothing")

    p = cl.login(d, U)
    t.eq(expire_lines(capa(p)), [b"EXPIRE 0"], "EXPIRE 0 in TRANSACTION")
    t.eq(p.retr(2)[1], cl.wire(MSGS[1]), "RETR 2")
    t.ok(p.top(3, 0)[1] is not None, "TOP 3 0 (not a retrieval)")
    t.ok(p.cmd("RETR 9").startswith(b"-ERR"), "RETR 9 refused (no such message)")
    t.ok(p.cmd("DELE 1").startswith(b"+OK"), "DELE 1")
    t.ok(p.cmd("RSET").startswith(b"+OK"), "RSET removes the client's mark")
    # Pipelined: RETR 4 and RETR 6 in one packet, then DELE of a
    # retrieved message (marked twice) and of one that was not.
    p.send(b"RETR 4\r\nRETR 6\r\nDELE 4\r\nDELE 5\r\n")
    t.ok(p.line().startswith(b"+OK"), "pipelined RETR 4")
    t.eq(b"".join(l + b"\r\n" for l in p.multiline()), cl.wire(MSGS[3]), "RETR 4 body")
    t.ok(p.line().startswith(b"+OK"), "pipelined RETR 6")
    t.eq(b"".join(l + b"\r\n" for l in p.multiline()), cl.wire(MSGS[5]), "RETR 6 body")
    t.ok(p.line().startswith(b"+OK") and p.line().startswith(b"+OK"),
         "pipelined DELE 4, DELE 5")
    t.eq(d.read_mbox(U), MBOX, "nothing deleted before QUIT")
    r = p.quit()
    t.eq(r, b"+OK postern signing off (4 messages deleted).",
         "QUIT deletes the 3 retrieved messages and the DELE'd one")
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "session ended")
    t.eq(d.read_mbox(U), SEGS[0] + SEGS[2],
         "on disk: messages 1 (DELE undone by RSET) and 3 (only TOP) remain, byte-exact")
    t.ok(d.wait_log("retrieved=3 deleted=4"), "the session-end line counts them")

    # The next session renumbers; a session that retrieves nothing
    # deletes nothing.
    p = cl.login(d, U)
    t.eq(p.stat()[0], 2, "next session: 2 messages")
    t.ok(p.top(1, 0)[1] is not None, "TOP 1 0")
    t.ok(p.quit().startswith(b"+OK postern signing off (0 messages"),
         "QUIT without RETR deletes nothing")
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "session ended")
    t.eq(d.read_mbox(U), SEGS[0] + SEGS[2], "mailbox unchanged")
finally:
    d.cleanup()

# Values postern cannot enforce are refused at start-up.
d = h.Daemon(users=(U,), config={"expire": "30"})
try:
    r = subprocess.run([os.path.join(h.TOP_BUILDDIR, "postern"), "-t", "-c", d.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    t.ok(r.returncode != 0 and "expire" in out and "never or 0" in out,
         "expire = 30 refused with a clear error: %r" % out.strip())
finally:
    d.cleanup()
t.done()
