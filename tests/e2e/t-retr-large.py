#!/usr/bin/env python3
"""
t-retr-large.py - RETR and TOP of large messages, many in one session.
The data crosses postern-store's 128 KiB frames (one message fills its
last frame exactly, so an empty frame ends it) and takes the worker's
direct path to the client (queued line, data and terminating line in
one system call on a plain connection). Every response is compared byte
for byte with what RFC 1939 requires: the +OK line, the dot-stuffed
CRLF lines, one terminating line; its octets equal LIST's. Read
promptly, pipelined and read late (the worker's writes fill the socket
and complete in parts), and many times over in one session; and a
message changed behind the session's back never ends as if complete.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.require_root()
t = h.TAP()

CHUNK = 128 * 1024  # STORE_DATA_CHUNK


def header(n):
    return (b"From: Sender <sender@example.org>\n"
            b"To: user@example.org\n"
            b"Subject: large message %d\n"
            b"Message-ID: <%d.large@example.org>\n\n" % (n, n))


def served_lines(msg):
    return h.expected_retr(msg)


def octets(msg):
    return sum(len(l) + 2 for l in served_lines(msg))


def stuffed(lines):
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in lines)


def body_lines(count, width, dots_every):
    out = []
    for i in range(count):
        line = b"%06d " % i + b"y" * width
        if dots_every and i % dots_every == 0:
            line = b"." + line
        out.append(line)
    return b"\n".join(out) + b"\n"


def exact_chunk_message(n):
    """Served octets (no dot lines, so no stuffing) == CHUNK exactly."""
    head = header(n)
    body = b""
    while True:
        m = head + body
        left = CHUNK - octets(m)
        if left <= 80:
            break
        body += b"z" * 70 + b"\n"
    # One more line of left - 2 octets (plus its CRLF) fills it exactly.
    m = head + body + b"w" * (left - 2) + b"\n"
    assert octets(m) == CHUNK, octets(m)
    return m


MSGS = [
    header(1) + b"short\n.\n..\n",
    header(2) + body_lines(300, 60, 3),                 # ~20 KB
    exact_chunk_message(3),                             # exactly one frame
    header(4) + body_lines(1700, 70, 5),                # just over a frame
    header(5) + body_lines(200, 5000, 2),               # 1 MB, long lines
    header(6) + body_lines(16000, 60, 0) + b".\n",      # ~1 MB, plain
]


def retr_bytes(i):
    m = MSGS[i - 1]
    return b"+OK %d octets\r\n" % octets(m) + stuffed(served_lines(m)) + \
        b".\r\n"


def top_bytes(i, n):
    lines = served_lines(MSGS[i - 1])
    blank = lines.index(b"")
    return b"+OK\r\n" + stuffed(lines[:blank + 1 + n]) + b".\r\n"


def read_exact(c, n):
    while len(c.buf) < n:
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            break
        c.buf += chunk
    out, c.buf = c.buf[:n], c.buf[n:]
    return out


d = h.Daemon(users=("ptalice",))
d.write_mbox("ptalice", h.make_mbox(MSGS))
d.start()
try:
    # A small receive window: what the worker writes while nobody reads
    # soon fills the connection, so its writes come back short.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(30)
    s.connect((d.host, d.port))
    c = h.RawClient(s)
    c.line()
    t.ok(c.cmd("USER ptalice").startswith(b"+OK"), "USER")
    t.ok(c.cmd("PASS " + h.TEST_PASSWORD).startswith(b"+OK"), "PASS")
    t.ok(c.cmd("LIST").startswith(b"+OK"), "LIST")
    sizes = [int(l.split()[1]) for l in c.multiline()]
    t.eq(sizes, [octets(m) for m in MSGS], "LIST sizes are the served octets")
    t.eq(sizes[2], CHUNK, "message 3 fills a data frame exactly")

    # One at a time, read as they come.
    for i in range(1, len(MSGS) + 1):
        want = retr_bytes(i)
        c.send(b"RETR %d\r\n" % i)
        t.ok(read_exact(c, len(want)) == want, "RETR %d byte-exact "
             "(%d octets)" % (i, sizes[i - 1]))
    want = top_bytes(5, 3)
    c.send(b"TOP 5 3\r\n")
    t.ok(read_exact(c, len(want)) == want, "TOP 5 3 byte-exact")

    # Pipelined, and not read for a while: the worker's socket fills up,
    # its writes come back short and must resume where they stopped.
    order = [5, 3, 4, 6, 2, 1, 5] * 3
    c.send(b"".join(b"RETR %d\r\n" % i for i in order) + b"TOP 4 7\r\n" +
           b"NOOP\r\n")
    time.sleep(1)
    want = b"".join(retr_bytes(i) for i in order) + top_bytes(4, 7) + \
        b"+OK\r\n"
    got = read_exact(c, len(want))
    t.ok(got == want, "21 pipelined RETRs, a TOP and a NOOP, read late: "
         "byte-exact (%d of %d bytes)" % (len(got), len(want)))

    # Many RETRs in one session, through buffers reused from message to
    # message: nothing of one message may show up in another.
    bad = 0
    for k in range(30):
        i = (k * 5) % len(MSGS) + 1
        want = retr_bytes(i)
        c.send(b"RETR %d\r\n" % i)
        if read_exact(c, len(want)) != want:
            bad += 1
    t.eq(bad, 0, "30 more RETRs in the same session, each byte-exact")
    c.sock.settimeout(1)
    try:
        extra = c.sock.recv(100)
    except socket.timeout:
        extra = b""
    t.eq(c.buf + extra, b"", "nothing after the last response")

    # The mailbox changed in place behind the session's back, every
    # offset where it was, but one space of message 2 and one of
    # message 6 turned into a line end: one line, one octet more as
    # served. Message 2 fits in one data frame, so nothing of it has
    # gone out when its count comes out wrong: a plain -ERR [SYS/TEMP],
    # and the session goes on. Message 6 (~1 MB) has sent frames by
    # then: no last frame, no terminating line, and the session ends.
    def edit(m):
        at = m.index(b"000001 ") + 6
        return m[:at] + b"\n" + m[at + 1:]
    EDITED = [edit(m) if i in (1, 5) else m for i, m in enumerate(MSGS)]
    d.write_mbox("ptalice", h.make_mbox(EDITED))
    r = c.cmd("RETR 2")
    t.ok(r.startswith(b"-ERR [SYS/TEMP] "), "RETR of a message changed "
         "under us, found before anything was sent: -ERR [SYS/TEMP] "
         "(got %r)" % r[:60])
    t.eq(c.cmd("NOOP"), b"+OK", "and the session goes on")
    c.send(b"RETR 6\r\n")
    t.ok(c.closed(10), "RETR of a large message found changed after its "
         "first frames ends the session")
    okline = b"+OK %d octets\r\n" % sizes[5]
    full = retr_bytes(6)
    t.ok(c.buf.startswith(okline) and len(c.buf) < len(full) and
         not c.buf.endswith(b"\r\n.\r\n"), "with part of the message "
         "and no terminating line (%d of %d bytes)" % (len(c.buf),
                                                       len(full)))
    t.ok(d.wait_log("changed under us"), "and says why in the log")
    c.close()

    # The next session serves the mailbox as it is now.
    c = h.raw_session(d.host, d.port, timeout=30)
    c.line()
    t.ok(c.cmd("USER ptalice").startswith(b"+OK") and
         c.cmd("PASS " + h.TEST_PASSWORD).startswith(b"+OK"), "log in again")
    for i in (2, 6):
        m = EDITED[i - 1]
        want = b"+OK %d octets\r\n" % octets(m) + \
            stuffed(served_lines(m)) + b".\r\n"
        c.send(b"RETR %d\r\n" % i)
        t.ok(read_exact(c, len(want)) == want, "RETR %d of the edited "
             "message: byte-exact, one octet longer" % i)
    t.eq(c.cmd("QUIT")[:3], b"+OK", "QUIT")
finally:
    d.cleanup()
t.done()
