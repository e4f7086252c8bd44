#!/usr/bin/env python3
"""
t-auth-burst.py - the master hands every new connection to the auth
helper over one channel. When the helper is busy (here: stopped with
SIGSTOP) a burst of connections fills that channel; the hand-overs must
wait in the master, in order, and every connection must still be able to
log in once the helper runs again. Before the queue, the master dropped
them and those clients were told "Authentication service unavailable".
The master stays responsive meanwhile: new connections are greeted; and
a connection that closes while its hand-over still waits takes it out
of the queue (no descriptor is held for it).
"""
import os
import signal
import time

import harness as h
import sechelp
import loadlib as L

h.require_root()
BURST = 600     # the channel holds a few hundred hand-overs
LOGINS = 5
t = h.TAP()
users = L.make_users("ptburst", LOGINS)
d = h.Daemon(users=(), config={
    "max_connections": str(BURST + 100),
    "max_connections_per_addr": str(BURST + 100),
    "max_preauth_per_addr": str(BURST + 100),
    "preauth_timeout": "300",
})
for u in users:
    d.write_mbox(u, h.make_mbox([h.message(1)]))
conns = []
auth = None


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def logged(text):
    return text in d.read_log()


def login(c, user):
    """USER/PASS on a connection already greeted."""
    if not c.cmd("USER " + user).startswith(b"+OK"):
        return b"USER refused"
    return c.cmd("PASS " + h.TEST_PASSWORD)


try:
    d.start()
    auth = sechelp.role_pids(d.proc.pid, "postern-auth")
    t.eq(len(auth), 1, "found the auth helper")
    auth = auth[0] if auth else None
    os.kill(auth, signal.SIGSTOP)
    began = time.monotonic()
    for i in range(BURST):
        c = L.Client(d, L.source_addr(3, i), timeout=120)
        conns.append(c)
    greeted = sum(1 for c in conns if c.line().startswith(b"+OK"))
    t.eq(greeted, BURST, "%d connections greeted while the auth helper is "
         "stopped (%.1f s)" % (BURST, time.monotonic() - began))
    t.ok(logged("auth helper channel full: queueing"),
         "the burst filled the helper's channel: hand-overs were queued")
    t.ok(not logged("auth helper unavailable"),
         "no hand-over was dropped")
    # Clients from the queued tail of the burst give up while the helper is
    # still stopped: their hand-overs are withdrawn from the queue
    # (descriptor closed), not left behind with a DETACH queued after them,
    # so each frees two descriptors in the master (its worker's channel and
    # the helper's end of its auth channel) rather than one.
    gone = conns[BURST // 2:BURST - LOGINS - 45]
    queued_fds = fds(d.proc.pid)
    for c in gone:
        c.close()
    want = queued_fds - int(1.8 * len(gone))
    h.wait_for(lambda: fds(d.proc.pid) <= want, 60, 0.2)
    t.ok(fds(d.proc.pid) <= want, "%d closed connections took their hand-overs "
         "out of the queue: master fds %d -> %d" % (len(gone), queued_fds,
                                                     fds(d.proc.pid)))
    os.kill(auth, signal.SIGCONT)
    # The deepest-queued connections log in: their hand-over waited.
    for u, c in zip(users, conns[-LOGINS:]):
        try:
            r = login(c, u)
        except (OSError, EOFError, RuntimeError) as e:
            r = repr(e).encode()
        t.ok(r.startswith(b"+OK"), "connection %d of %d logs in as %s: %r"
             % (conns.index(c) + 1, BURST, u, r[:60]))
        try:
            c.cmd("QUIT")
        except (OSError, EOFError):
            pass
    t.ok(d.wait_log("auth helper channel: queue sent", 60), "the queue drained")
finally:
    if auth is not None:
        try:
            os.kill(auth, signal.SIGCONT)
        except OSError:
            pass
    for c in conns:
        c.close()
    d.stop()
t.done()
