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
  3. a message larger than RETR_AHEAD_MAX is not read ahead, and its
     RETR, the ordinary way, is byte-exact;
  4. TOP of the message read ahead gives the header, not the read-ahead
     copy; RETR of it after that is whole; LIST after a read-ahead is
     answered (the unwanted answer is taken off the channel first);
  5. after the last message nothing is asked for;
  6. a client that drops the connection while an answer waits unread:
     storage takes the reset socket for what it is (the worker gone), not
     for a bad frame, and ends cleanly without expunging;
  7. one message is read ahead after a RETR that did not follow the
     RETR of the message before it; after two in a row, the next
     RETR_AHEAD_DEPTH, not one more, and nothing more until they are used
     up; a DELE between RETRs (RETR 1, DELE 1, RETR 2) keeps it at one;
  8. a client that skips ahead, or goes back, gets byte-exact messages;
  9. a message too large to read ahead stops its batch: the messages
     after it in the batch are not read (only short refusals wait);
 10. a message of several data frames (but under RETR_AHEAD_MAX) is read
     ahead whole;
 11. a client that drops the connection while storage waits to send a
     batch larger than the channel holds: storage ends cleanly (the
     reset channel is the worker gone), without expunging;
 12. storage gives back the memory of a large read-ahead once the
     session idles (STORE_AHEAD_IDLE_MS), and what it sends afterwards
     is still byte-exact;
 13. a client that drops the connection in the middle of a large RETR
     (not read ahead), storage blocked sending it: the session ends,
     storage with it, and nothing is expunged.
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
MSGS = [h.message(1), h.message(2, size=20000), h.message(3, size=700000),
        h.message(4, size=3000), h.message(5)]
wires = [cl.wire(m) for m in MSGS]


def param(name):
    """A constant of lib/params.h: a number or (a * b)."""
    with open(os.path.join(h.TOP_SRCDIR, "lib", "params.h")) as f:
        for line in f:
            w = line.split(None, 2)
            if len(w) == 3 and w[:2] == ["#define", name]:
                v = 1
                for k in w[2].split("/*")[0].strip("() \n").split("*"):
                    v *= int(k)
                return v
    raise RuntimeError("%s not found in lib/params.h" % name)


DEPTH = param("RETR_AHEAD_DEPTH")
IDLE_MS = param("STORE_AHEAD_IDLE_MS")
AHEAD_MAX = param("RETR_AHEAD_MAX")
assert len(wires[2]) > AHEAD_MAX


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

def session(msgs, role="postern-pop3"):
    """A mailbox of msgs, a client logged in to it, and the pid of its
    session's worker (or storage)."""
    d.write_mbox(USER, h.make_mbox(msgs))
    before = set(S.role_pids(d.proc.pid, role))
    c = cl.login(d, USER)
    return c, (set(S.role_pids(d.proc.pid, role)) - before).pop()


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

    # 3. Too large to read ahead: the ordinary way, byte-exact.
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
    p, wpid = session(MSGS)
    box = d.read_mbox(USER)
    t.eq(p.retr(1)[1], wires[0], "RETR 1, then the client is gone")
    h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= len(wires[1]), 10)
    p.c.close()
    t.ok(d.wait_log('reason="disconnected"', 20), "the session ended")
    time.sleep(0.5)
    log = d.read_log()
    t.ok("bad frame" not in log and "exited with status" not in log,
         "storage ended cleanly: no 'bad frame', no error exit")
    t.ok(d.read_mbox(USER) == box, "and expunged nothing")

    # 7. A batch of DEPTH, and no more until it is used up.
    small = [h.message(10 + i, size=6000 + 500 * i)
             for i in range(2 * DEPTH + 2)]
    sw = [cl.wire(m) for m in small]
    p, wpid = session(small)

    def waiting():
        time.sleep(0.3)
        return max(queued_unix(wpid) or [0])

    t.eq(p.retr(1)[1], sw[0], "batch: RETR 1")
    h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= len(sw[1]), 10)
    q = waiting()
    t.ok(len(sw[1]) <= q < len(sw[1]) + len(sw[2]),
         "after a first RETR, only the next message waits (%d octets "
         "queued)" % q)
    t.eq(p.retr(2)[1], sw[1], "batch: RETR 2 from the read-ahead")
    batch = sum(len(w) for w in sw[2:2 + DEPTH])
    h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= batch, 10)
    q = waiting()
    t.ok(batch <= q < batch + len(sw[2 + DEPTH]),
         "after two in a row, messages 3..%d wait (%d octets), not %d: %d "
         "octets queued" % (2 + DEPTH, batch, 3 + DEPTH, q))
    t.eq(p.retr(3)[1], sw[2], "batch: RETR 3 from the read-ahead")
    # The worker may have read the rest of the batch into its buffer:
    # what must not be there is message 3 + DEPTH.
    q = waiting()
    t.ok(q < len(sw[2 + DEPTH]), "after RETR 3 nothing new is asked for "
         "while the batch lasts (%d octets queued)" % q)
    for i in range(4, 3 + DEPTH):
        p.retr(i)
    nxt = sum(len(w) for w in sw[2 + DEPTH:min(2 + 2 * DEPTH, len(sw))])
    h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= nxt, 10)
    t.ok(waiting() >= nxt, "once it is used up, the next ones are asked for "
         "together")

    # 8. Skipping ahead and going back, with a batch waiting.
    last = len(small)
    t.eq(p.retr(last)[1], sw[-1], "RETR %d, skipping the batch: byte-exact"
         % last)
    t.eq(p.retr(3)[1], sw[2], "then RETR 3, going back: byte-exact")
    t.eq(p.retr(4)[1], sw[3], "then RETR 4 (read ahead after 3): byte-exact")
    t.ok(p.cmd("DELE 4").startswith(b"+OK"), "DELE 4")
    t.eq(p.retr(5)[1], sw[4], "RETR 5 after a DELE")
    h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= len(sw[5]), 10)
    q = waiting()
    t.ok(len(sw[5]) <= q < len(sw[5]) + len(sw[6]), "RETR, DELE, RETR: "
         "one message read ahead, not a batch (%d octets queued)" % q)
    t.ok(p.cmd("RSET").startswith(b"+OK"), "RSET")
    t.ok(p.cmd("QUIT").startswith(b"+OK"), "QUIT")

    # 9. A large message stops its batch.
    mixed = [h.message(30, size=4000), h.message(31, size=4000),
             h.message(32, size=4000), h.message(33, size=AHEAD_MAX + 1)] + \
        [h.message(34 + i, size=40000) for i in range(DEPTH)]
    mw = [cl.wire(m) for m in mixed]
    p, wpid = session(mixed)
    t.eq(p.retr(1)[1], mw[0], "mixed: RETR 1")
    t.eq(p.retr(2)[1], mw[1], "mixed: RETR 2")
    h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= len(mw[2]), 10)
    q = waiting()
    t.ok(len(mw[2]) <= q < len(mw[2]) + 1000,
         "message 3 waits, and after the refused message 4 nothing was "
         "read (%d octets queued)" % q)
    for i in range(3, len(mixed) + 1):
        t.eq(p.retr(i)[1], mw[i - 1], "mixed: RETR %d byte-exact" % i)
    t.ok(p.cmd("QUIT").startswith(b"+OK"), "QUIT")

    # 10. Several frames, under RETR_AHEAD_MAX: read ahead whole.
    multi = [h.message(50), h.message(51),
             h.message(52, size=AHEAD_MAX * 3 // 4), h.message(53)]
    xw = [cl.wire(m) for m in multi]
    p, wpid = session(multi)
    t.eq(p.retr(1)[1], xw[0], "multi: RETR 1")
    t.eq(p.retr(2)[1], xw[1], "multi: RETR 2")
    t.ok(h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= len(xw[2]),
                    10), "message 3 (%d octets, several frames) waits whole "
         "in the worker's socket" % len(xw[2]))
    t.eq(p.retr(3)[1], xw[2], "multi: RETR 3 byte-exact")
    t.eq(p.retr(4)[1], xw[3], "multi: RETR 4 byte-exact")
    t.ok(p.cmd("QUIT").startswith(b"+OK"), "QUIT")

    # 11. Dropped while storage is blocked sending a large batch.
    heavy = [h.message(60), h.message(61)] + \
        [h.message(62 + i, size=AHEAD_MAX * 3 // 4) for i in range(DEPTH)]
    log_at = len(d.read_log())
    p, wpid = session(heavy)
    box = d.read_mbox(USER)
    p.retr(1)
    p.retr(2)
    # More than the channel holds is on its way: storage is in send.
    t.ok(h.wait_for(lambda: max(queued_unix(wpid) or [0]) >= 300000, 10),
         "a batch of %d x %d octets fills the worker's channel"
         % (DEPTH, len(cl.wire(heavy[2]))))
    p.c.close()
    t.ok(h.wait_for(lambda: 'reason="disconnected"' in d.read_log()[log_at:],
                    20), "the session ended")
    time.sleep(0.5)
    log = d.read_log()[log_at:]
    t.ok("send to worker" not in log and "exited with status" not in log
         and "bad frame" not in log, "storage, blocked in send, ended "
         "cleanly")
    t.ok(d.read_mbox(USER) == box, "and expunged nothing")

    # 12. The read-ahead buffer after idling.
    def rss_kb(pid):
        """Resident set, counted page by page (smaps_rollup): VmRSS in
        status comes from per-CPU counters that can lag."""
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    return int(line.split()[1])
        return 0

    # Half of RETR_AHEAD_MAX: over one frame, and the answer fits the
    # channel, so storage is not left waiting in send (where a larger
    # one waits, buffer and all, for the client's next command).
    idle = [h.message(70), h.message(71)] + \
        [h.message(72 + i, size=AHEAD_MAX // 2) for i in range(2)]
    iw = [cl.wire(m) for m in idle]
    p, spid = session(idle, "postern-store")
    t.eq(p.retr(1)[1], iw[0], "idle: RETR 1")
    t.eq(p.retr(2)[1], iw[1], "idle: RETR 2")
    t.eq(p.retr(3)[1], iw[2], "idle: RETR 3 (read ahead)")
    # Storage now reads message 4 ahead and sends it; all but the first
    # 128 KiB of its buffer go back once it has had no request for
    # STORE_AHEAD_IDLE_MS. Watch its RSS.
    freed = (len(iw[3]) - 128 * 1024) // 1024
    t0 = time.monotonic()
    peak = low = rss_kb(spid)
    took = None
    while time.monotonic() - t0 < IDLE_MS / 1000.0 + 10:
        low = rss_kb(spid)
        peak = max(peak, low)
        if peak - low >= freed * 3 // 4:
            took = time.monotonic() - t0
            break
        time.sleep(0.02)
    t.ok(took is not None, "storage, idle, gives back the large read-ahead: "
         "RSS %d -> %d kB (at least %d kB expected)"
         % (peak, low, freed * 3 // 4))
    t.ok(took is not None and took >= IDLE_MS / 1000.0 * 0.9,
         "... not before %d ms without a request (%s s)"
         % (IDLE_MS, "%.2f" % took if took is not None else "never"))
    t.eq(p.retr(4)[1], iw[3], "RETR 4 after the idle: byte-exact")
    t.eq(p.retr(3)[1], iw[2], "RETR 3 again: byte-exact")
    t.ok(p.cmd("QUIT").startswith(b"+OK"), "QUIT")

    # 13. Dropped in the middle of an ordinary RETR of 40 MB.
    log_at = len(d.read_log())
    p, spid = session([h.message(80, size=40 * 1000 * 1000)],
                      "postern-store")
    box = d.read_mbox(USER)
    p.c.send(b"RETR 1\r\n")
    got = 0
    while got < 1000000:
        chunk = p.c.sock.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    p.c.close()
    t.ok(got >= 1000000, "the client read %d octets and left" % got)
    t.ok(S.wait_gone(spid, 20), "storage, blocked sending the rest, ended")
    t.ok(h.wait_for(lambda: 'reason="write error"' in d.read_log()[log_at:],
                    10), "the session ended on the failed write")
    t.ok(d.read_mbox(USER) == box, "and expunged nothing")
finally:
    d.stop()
    d.cleanup()
t.done()
