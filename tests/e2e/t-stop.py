#!/usr/bin/env python3
"""
t-stop.py - SIGTERM lets every session finish the command under way and
then closes it: a RETR that is blocked on a slow reader when the signal
arrives is completed byte-exact, a QUIT that is committing completes its
expunge, an idle logged-in session is told and keeps its mail (its DELE
is not applied), and the master exits without waiting out the grace
period.
"""
import os
import signal
import socket
import subprocess
import time

import harness as h

h.require_root()
t = h.TAP()
SLOW, IDLE, QUITTER = "ptstopslow", "ptstopidle", "ptstopquit"
BIG = h.message(1, size=30 * 1000 * 1000)
SMALL = [h.message(2), h.message(3)]


def login(d, user):
    c = h.RawClient(socket.create_connection(("127.0.0.1", d.port), 20))
    c.line()
    c.cmd("USER " + user)
    assert c.cmd("PASS " + h.TEST_PASSWORD).startswith(b"+OK")
    return c


d = h.Daemon(users=(SLOW, IDLE, QUITTER))
d.write_mbox(SLOW, h.make_mbox([BIG] + SMALL))
d.write_mbox(IDLE, h.make_mbox(SMALL))
d.write_mbox(QUITTER, h.make_mbox(SMALL))
d.start()
try:
    before_quit = d.read_mbox(QUITTER)
    before_idle = d.read_mbox(IDLE)
    before_slow = d.read_mbox(SLOW)
    slow = login(d, SLOW)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    t.ok(slow.cmd("DELE 2").startswith(b"+OK"), "slow reader: DELE 2")
    slow.send(b"RETR 1\r\n")
    idle = login(d, IDLE)
    t.ok(idle.cmd("DELE 1").startswith(b"+OK"), "idle session: DELE 1")
    quitter = login(d, QUITTER)
    t.ok(quitter.cmd("DELE 1").startswith(b"+OK"), "quitting session: DELE 1")
    # The slow reader has read nothing of its 30 MB: its worker is
    # blocked writing when the signal arrives.
    time.sleep(0.5)
    quitter.send(b"QUIT\r\n")
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    t.ok(d.wait_log("stopping: no new connections"), "the master is stopping")
    t.ok(idle.line().startswith(b"-ERR [SYS/TEMP] Server stopping; no messages were deleted."),
         "the idle session is told at once")
    t.ok(idle.closed(10), "... and closed")
    q = quitter.line()
    t.ok(q.startswith(b"+OK"), "the QUIT sent with the signal completes (%r)" % q[:50])
    t.ok(quitter.closed(10), "... and its connection closes")
    first = slow.line()
    t.ok(first.startswith(b"+OK"), "the RETR under way goes on after SIGTERM")
    body = b"".join(l + b"\r\n" for l in slow.multiline())
    t.ok(body == h.wire_retr(BIG), "... and is finished byte-exact (%d octets)" % len(body))
    t.ok(slow.line().startswith(b"-ERR [SYS/TEMP] Server stopping"),
         "then the slow reader is told the server is stopping")
    t.ok(slow.closed(10), "... and closed")
    try:
        rc = d.proc.wait(25)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq(rc, 0, "the master exits with status 0")
    t.ok(time.time() - t0 < 25, "... before the 30 s grace ran out")
    d.proc = None
    t.eq(d.read_mbox(IDLE), before_idle, "the idle session's DELE was not applied")
    t.eq(d.read_mbox(SLOW), before_slow, "nor the slow reader's")
    t.eq(d.read_mbox(QUITTER), before_quit[before_quit.index(b"\nFrom ") + 1:],
         "the QUIT's expunge was applied, and only it")
    log = d.read_log()
    t.eq(log.count('reason="server stopping"'), 2,
         "two session ends say the server was stopping")
finally:
    d.stop()
t.done()
