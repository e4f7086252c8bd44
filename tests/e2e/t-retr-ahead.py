#!/usr/bin/env python3
"""
t-retr-ahead.py - the read-ahead of RETR. After RETR n the worker asks
storage for message n + 1 (IPC_STORE_RETR_AHEAD) while its client still
reads message n, and leaves the answer in its socket until the client's
next command. Checked from outside, on the worker's own sockets (taken
with pidfd_getfd, as root):

  1. after RETR 1, message 2 is waiting in the worker's socket from
     storage before the client asks for it;
  2. so RETR 2 is answered with what storage read then: a same-size edit
     of the file made meanwhile by a program that ignores the locks does
     not show (the message as it was when its size and UIDL were given);
  3. a message larger than one data frame is not read ahead, and its
     RETR, the ordinary way, is byte-exact;
  4. TOP of the message read ahead gives the header, not the read-ahead
     copy; RETR of it after that is whole; LIST after a read-ahead is
     answered (the unwanted answer is taken off the channel first);
  5. after the last message nothing is asked for;
  6. a client that drops the connection while an answer waits unread:
     storage takes the reset socket for what it is (the worker gone), not
     for a bad frame, and ends cleanly without expunging.
"""
import fcntl
import os
import socket
import struct
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import sechelp as S  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
if not hasattr(os, "pidfd_open"):
    h.skip_all("no os.pidfd_open (Python >= 3.9)")
USER = "ptahead"
MSGS = [h.message(1), h.message(2, size=20000), h.message(3, size=300000),
        h.message(4, size=3000), h.message(5)]
wires = [cl.wire(m) for m in MSGS]


def queued_unix(pid):
    """Bytes waiting to be read on each Unix socket of the worker."""
    out = []
    for name in os.listdir("/proc/%d/fd" % pid):
        try:
            if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith(
                    "socket:"):
                continue
            fd = S.dup_fd(pid, int(name))
        except OSError:
            continue
        try:
            s = socket.socket(fileno=fd)
            if s.family == socket.AF_UNIX:
                out.append(struct.unpack("i", fcntl.ioctl(
                    s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])
            s.detach()
        finally:
            os.close(fd)
    return out


try:
    os.close(S.dup_fd(os.getpid(), 0))
except OSError:
    h.skip_all("pidfd_getfd(2) is not available (Linux >= 5.6)")

t = h.TAP()
d = h.Daemon(users=(USER,))
d.write_mbox(USER, h.make_mbox(MSGS))
d.start()
try:
    before = set(S.role_pids(d.proc.pid, "postern-pop3"))
    p = cl.login(d, USER)
    t.ok(p.login_reply.startswith(b"+OK"), "login")
    workers = set(S.role_pids(d.proc.pid, "postern-pop3")) - before
    t.eq(len(workers), 1, "found the session's worker")
    wpid = workers.pop()

    # 1-2. Message 2 waits in the worker's socket before it is asked for.
    t.eq(p.retr(1)[1], wires[0], "RETR 1")
    t.ok(h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= len(wires[1]),
                    10), "after RETR 1, message 2 (%d octets) is already "
         "waiting in the worker's socket from storage" % len(wires[1]))
    box = d.read_mbox(USER)
    at = box.index(b"Line 2 of the body")
    d.write_mbox(USER, box[:at] + b"LINE" + box[at + 4:])
    t.eq(p.retr(2)[1], wires[1], "RETR 2 is what storage read before the "
         "same-size edit")

    # 3. Too large for one frame: the ordinary way, byte-exact.
    t.eq(p.retr(3)[1], wires[2], "RETR 3 (%d octets, not read ahead)"
         % len(wires[2]))

    # 4. TOP and LIST while message 4 is read ahead.
    r, got = p.top(4, 0)
    t.eq(got, cl.top_lines(MSGS[3], 0), "TOP 4 0: the header only")
    t.eq(p.retr(4)[1], wires[3], "RETR 4 after TOP: whole")
    t.eq(p.list()[5], len(wires[4]), "LIST while message 5 is read ahead")
    t.eq(p.retr(5)[1], wires[4], "RETR 5 after LIST")

    # 5. Nothing after the last one.
    time.sleep(0.3)
    t.eq(max(queued_unix(wpid) or [0]), 0, "after RETR of the last message "
         "nothing is asked for")
    t.ok(p.cmd("QUIT").startswith(b"+OK"), "QUIT")

    # 6. Dropped with message 2 waiting in the worker's socket.
    d.write_mbox(USER, h.make_mbox(MSGS))
    box = d.read_mbox(USER)
    before = set(S.role_pids(d.proc.pid, "postern-pop3"))
    p = cl.login(d, USER)
    wpid = (set(S.role_pids(d.proc.pid, "postern-pop3")) - before).pop()
    t.eq(p.retr(1)[1], wires[0], "RETR 1, then the client is gone")
    h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= len(wires[1]), 10)
    p.c.close()
    t.ok(d.wait_log('reason="disconnected"', 20), "the session ended")
    time.sleep(0.5)
    log = d.read_log()
    t.ok("bad frame" not in log and "exited with status" not in log,
         "storage ended cleanly: no 'bad frame', no error exit")
    t.ok(d.read_mbox(USER) == box, "and expunged nothing")
finally:
    d.stop()
    d.cleanup()
t.done()
