#!/usr/bin/env python3
"""
t-login-delay.py - RFC 2449 LOGIN-DELAY against the real daemon with a
real PAM user: CAPA shows it in both states only when login_delay is set,
a second login within the delay is refused with [LOGIN-DELAY] (after
the password was checked) without starting storage, the delay counts
from the last allowed login (a refused attempt does not extend it), the
refusal also applies to SASL AUTH, and a login after the delay works.
"""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U, OTHER, BROKEN = "ptlogdly", "ptlogdl2", "ptlogdl3"
DELAY = 4
MBOX = h.make_mbox([h.message(1), h.message(2)])


def capa(p):
    p.must("CAPA")
    return p.multiline()


def store_starts(d):
    """postern-store processes started so far (the master logs each)."""
    return d.read_log().count(": storage pid ")


# Without login_delay: no LOGIN-DELAY in CAPA, back-to-back logins work.
d = h.Daemon(users=(U,))
d.write_mbox(U, MBOX)
d.start()
try:
    p = cl.Pop(d)
    caps = capa(p)
    t.ok(not any(c.startswith(b"LOGIN-DELAY") for c in caps),
         "login_delay unset: CAPA has no LOGIN-DELAY: %r" % caps)
    p.drop()
    for i in range(2):
        p = cl.login(d, U)
        t.ok(p.logged_in, "login_delay unset: back-to-back login %d works" % (i + 1))
        t.ok(not any(c.startswith(b"LOGIN-DELAY") for c in capa(p)),
             "login_delay unset: no LOGIN-DELAY in TRANSACTION either")
        t.ok(p.quit().startswith(b"+OK"), "QUIT")
        t.ok(cl.wait_ended(d, U, i + 1), "session ended")
finally:
    d.cleanup()

d = h.Daemon(users=(U, OTHER, BROKEN), config={"login_delay": str(DELAY)})
d.write_mbox(U, MBOX)
d.write_mbox(OTHER, MBOX)
d.start()
ended = 0
try:
    p = cl.Pop(d)
    t.ok(b"LOGIN-DELAY %d" % DELAY in capa(p),
         "CAPA in AUTHORIZATION shows LOGIN-DELAY %d" % DELAY)
    p.drop()

    p = cl.login(d, U)
    first = time.monotonic()
    t.ok(p.logged_in, "first login")
    caps = capa(p)
    t.ok(b"LOGIN-DELAY %d" % DELAY in caps,
         "CAPA in TRANSACTION shows the same value (not per user): %r" % caps)
    t.ok(not any(c.startswith(b"LOGIN-DELAY") and c.endswith(b"USER") for c in caps),
         "no USER form: the delay is the same for every user")
    t.ok(p.cmd("DELE 1").startswith(b"+OK"), "DELE 1 in the first session")
    t.ok(p.quit().startswith(b"+OK"), "QUIT expunges message 1")
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "first session ended")
    after_first = d.read_mbox(U)
    t.eq(cl.mbox_segments(after_first), cl.mbox_segments(MBOX)[1:],
         "the first session deleted message 1")

    # Within the delay: refused after the password, storage not started.
    stores = store_starts(d)
    t.ok(stores > 0, "(storage processes show in the log: %d so far)" % stores)
    p = cl.Pop(d)
    t.ok(p.cmd("USER " + U).startswith(b"+OK"), "USER within the delay: +OK as always")
    r = p.cmd("PASS " + h.TEST_PASSWORD)
    refused_at = time.monotonic()
    t.ok(r.startswith(b"-ERR [LOGIN-DELAY] "), "PASS within the delay: %r" % r)
    t.ok(refused_at - first < DELAY, "(that attempt was within the delay: %.1f s)"
         % (refused_at - first))
    t.ok(p.c.closed(), "the connection is closed after [LOGIN-DELAY]")
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "refused session ended")
    t.ok(d.wait_log('login delayed: rhost=127.0.0.1 user="%s"' % U),
         "the master logged the refusal")
    t.eq(store_starts(d), stores, "no storage process was started for it")
    t.eq(d.read_mbox(U), after_first, "the mailbox is untouched")

    # A wrong password within the delay is a plain [AUTH] failure: the
    # delay is not revealed to someone who does not know the password.
    p = cl.Pop(d, U, password="wrong password")
    t.ok(p.login_reply.startswith(b"-ERR [AUTH]"),
         "wrong password within the delay: [AUTH], not [LOGIN-DELAY]: %r" % p.login_reply)
    p.drop()

    # SASL PLAIN is refused the same way.
    p = cl.Pop(d)
    ir = base64.b64encode(b"\0" + U.encode() + b"\0" + h.TEST_PASSWORD.encode())
    r = p.cmd(b"AUTH PLAIN " + ir)
    t.ok(r.startswith(b"-ERR [LOGIN-DELAY] "), "AUTH PLAIN within the delay: %r" % r)
    p.drop()
    ended += 1

    # Another user is not affected.
    p = cl.login(d, OTHER)
    t.ok(p.logged_in, "another user logs in meanwhile")
    t.ok(p.quit().startswith(b"+OK"), "QUIT")

    # The delay counts from the first (allowed) login, not from the
    # refused attempts: at first + DELAY the login works.
    left = first + DELAY + 0.3 - time.monotonic()
    if left > 0:
        time.sleep(left)
    p = cl.login(d, U)
    t.ok(p.logged_in, "login after the delay (counted from the last allowed login) works")
    t.eq(p.stat()[0], 1, "it sees the one message left")
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "session ended")
    # And that login starts a new delay.
    p = cl.Pop(d, U)
    t.ok(p.login_reply.startswith(b"-ERR [LOGIN-DELAY]"),
         "a login right after it is refused again: %r" % p.login_reply)
    p.drop()
    t.eq(d.read_mbox(U), after_first, "refused logins never touched the mailbox")

    # A login whose mailbox cannot be opened did not happen: it starts
    # no delay (the master counts from storage's STORE_READY).
    os.mkdir(d.mbox_path(BROKEN))
    p = cl.Pop(d, BROKEN)
    t.ok(p.login_reply.startswith(b"-ERR [SYS/"),
         "a login whose mailbox is a directory fails: %r" % p.login_reply)
    p.drop()
    os.rmdir(d.mbox_path(BROKEN))
    d.write_mbox(BROKEN, MBOX)
    p = cl.login(d, BROKEN)
    t.ok(p.logged_in, "right after it, the login works: the failed one "
         "started no delay")
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
finally:
    d.cleanup()
t.done()
