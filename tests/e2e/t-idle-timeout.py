#!/usr/bin/env python3
"""
t-idle-timeout.py - the TRANSACTION idle timer (RFC 1939 autologout).
idle_timeout cannot be set below 600 s, so this test runs the
hook-enabled workers with POSTERN_TEST_IDLE_MS (lib/testhook.h; the
release workers have no such override, t-sec-failclosed checks it)
shortened to 2 s: a logged-in client that marked a message and then
stays silent gets "-ERR Autologout" and is disconnected, and the mark
is not applied; commands keep the session alive past that time; the
idle timer does not apply before login (the pre-auth timer does, which
t-transaction tests).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402
import sechelp  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptidle"
IDLE_MS = 2000
MBOX = h.make_mbox([h.message(i) for i in range(1, 4)])

d = h.Daemon(users=(U,))
libexec = sechelp.hook_libexec(d.dir)
sechelp.set_worker_env(libexec, {"POSTERN_TEST_IDLE_MS": str(IDLE_MS)})
d.config["libexec_dir"] = libexec
d.write_config()
d.write_mbox(U, MBOX)
d.start()
ended = 0
try:
    # Idle after DELE: autologout, nothing deleted.
    p = cl.login(d, U)
    t.ok(p.cmd("DELE 1").startswith(b"+OK"), "DELE 1")
    start = time.monotonic()
    t.ok(p.c.closed(60), "a silent logged-in client is disconnected")
    t.diag("after %.1f s (override %d ms)" % (time.monotonic() - start, IDLE_MS))
    t.eq(p.c.buf, b"-ERR Autologout; idle for too long.\r\n",
         "with the autologout line, and nothing else")
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "the session ended")
    t.ok(any('session end: rhost=127.0.0.1 user="%s"' % U in l and
             'reason="timeout"' in l for l in d.read_log().splitlines()),
         "its session-end line says reason=\"timeout\"")
    t.eq(d.read_mbox(U), MBOX, "the DELE mark of a timed-out session is not applied")

    # A client that keeps talking is not logged out: the timer is per
    # command, not per session.
    p = cl.login(d, U)
    alive = True
    deadline = time.monotonic() + 3 * IDLE_MS / 1000
    while time.monotonic() < deadline:
        time.sleep(IDLE_MS / 4000)
        try:
            if p.cmd("NOOP") != b"+OK":
                alive = False
                break
        except (EOFError, OSError):
            alive = False
            break
    t.ok(alive, "NOOP every %.1f s keeps the session past %d ms" % (IDLE_MS / 4000, IDLE_MS))
    t.eq(p.stat()[0], 3, "and it still works")
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    ended += 1
    t.ok(cl.wait_ended(d, U, ended), "session ended")

    # Before login the idle timer does not apply (preauth_timeout does).
    p = cl.Pop(d)
    time.sleep(2 * IDLE_MS / 1000)
    t.ok(not p.c.closed(0.2), "a client silent for %d ms before login is still connected"
         % (2 * IDLE_MS))
    t.ok(p.cmd("NOOP").startswith(b"-ERR") and p.cmd("USER " + U) == b"+OK",
         "and still answered")
    p.cmd("PASS " + h.TEST_PASSWORD)
    t.ok(p.quit().startswith(b"+OK"), "logs in and QUITs")
finally:
    d.cleanup()
t.done()
