#!/usr/bin/env python3
"""
t-protocol.py - states and syntax on the wire: wrong-state and unknown
commands, bad numbers, over-long lines (RFC 2449's 255 octets including
CRLF exactly, one more, and 20 KB sent in pieces), pipelining (also a
whole session in one packet), idle behaviour.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
MSGS = [h.message(i) for i in range(1, 4)]
d = h.Daemon(users=("ptcarol",))
d.write_mbox("ptcarol", h.make_mbox(MSGS))
d.start()
try:
    c = h.raw_session(d.host, d.port)
    t.ok(c.line().startswith(b"+OK"), "greeting")
    for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "RSET", "TOP 1 0", "UIDL",
                "NOOP"):
        t.ok(c.cmd(cmd).startswith(b"-ERR"), "%s refused before login" % cmd)
    t.ok(c.cmd("PASS x").startswith(b"-ERR"), "PASS without USER refused")
    t.ok(c.cmd("XYZZY").startswith(b"-ERR"), "unknown command refused")
    t.ok(c.cmd("APOP ptcarol 0123456789abcdef").startswith(b"-ERR"), "APOP not offered")
    long_line = b"USER " + b"a" * 400
    t.ok(c.cmd(long_line).startswith(b"-ERR"), "over-long line refused")
    t.ok(c.cmd("NOOP").startswith(b"-ERR"), "session still in sync after an over-long line")
    t.ok(c.cmd("USER ptcarol").startswith(b"+OK"), "USER")
    t.ok(c.cmd("PASS " + h.TEST_PASSWORD).startswith(b"+OK"), "PASS (password with spaces)")
    t.ok(c.cmd("USER ptcarol").startswith(b"-ERR"), "USER refused after login")
    t.ok(c.cmd("PASS x").startswith(b"-ERR"), "PASS refused after login")
    for bad in ("RETR 0", "RETR -1", "RETR abc", "RETR 4294967297",
                "RETR 99999999999999999999", "RETR 4", "LIST 0", "LIST 1 2",
                "DELE", "TOP 1", "TOP 1 -1", "TOP 0 1", "UIDL 4", "RETR  1"):
        t.ok(c.cmd(bad).startswith(b"-ERR"), "%r refused" % bad)
    # Pipelining: many commands in one packet, every answer in order.
    batch = b"".join(b"LIST %d\r\n" % (i % 3 + 1) for i in range(300)) + b"STAT\r\n"
    c.send(batch)
    answers = [c.line() for _ in range(301)]
    t.ok(all(a.startswith(b"+OK %d " % (i % 3 + 1)) for i, a in enumerate(answers[:300])),
         "300 pipelined LIST answered in order")
    t.eq(answers[300], b"+OK 3 %d" % sum(len(b"\r\n".join(h.expected_retr(m))) + 2 for m in MSGS),
         "STAT after the batch")
    c.send(b"RETR 1\r\nRETR 2\r\nNOOP\r\n")
    t.ok(c.line().startswith(b"+OK"), "pipelined RETR 1")
    t.eq(c.multiline(), h.expected_retr(MSGS[0]), "pipelined RETR 1 body")
    t.ok(c.line().startswith(b"+OK"), "pipelined RETR 2")
    t.eq(c.multiline(), h.expected_retr(MSGS[1]), "pipelined RETR 2 body")
    t.eq(c.line(), b"+OK", "pipelined NOOP")
    t.ok(c.cmd("TOP 1 0").startswith(b"+OK"), "TOP 1 0")
    top = c.multiline()
    t.eq(top, h.expected_retr(MSGS[0].split(b"\n\n")[0] + b"\n\n"),
         "TOP 1 0 is the header and the blank line")
    # RFC 2449 section 4: a command line is at most 255 octets with its
    # CRLF. Trailing spaces are tolerated, so padding makes exact sizes.
    line = b"STAT" + b" " * (255 - 4 - 2) + b"\r\n"
    assert len(line) == 255
    t.eq(c.cmd(line), answers[300], "a 255-octet STAT line (the limit) is answered")
    line = b"STAT" + b" " * (256 - 4 - 2) + b"\r\n"
    t.eq(c.cmd(line), b"-ERR Line too long.", "a 256-octet line is refused")
    t.eq(c.cmd("STAT"), answers[300], "in step after it")
    # 20 KB without a line end, in pieces: one -ERR for the whole line,
    # and the next command is read as a command (no piece of the long
    # line is taken for one).
    for i in range(20):
        c.send(b"RETR 1 " * 146 + b"x")     # 1 KB, looks like commands
        time.sleep(0.02)
    c.send(b"\r\nNOOP\r\n")
    t.eq(c.line(), b"-ERR Line too long.", "a 20 KB line sent in pieces: -ERR")
    t.eq(c.line(), b"+OK", "exactly one -ERR, and the next command (NOOP) is answered")
    t.eq(c.cmd("STAT"), answers[300], "still in step")
    t.ok(c.cmd("quit").startswith(b"+OK"), "lower-case quit")
    t.ok(c.closed(), "server closes after QUIT")
    t.ok(cl.wait_ended(d, "ptcarol", 1), "session ended")

    # The same limits before login.
    c = h.raw_session(d.host, d.port)
    c.line()
    line = b"USER ptcarol" + b" " * (255 - 12 - 2) + b"\r\n"
    assert len(line) == 255
    t.eq(c.cmd(line), b"+OK", "a 255-octet USER line is accepted before login")
    line = b"USER ptcarol" + b" " * (256 - 12 - 2) + b"\r\n"
    t.eq(c.cmd(line), b"-ERR Line too long.", "a 256-octet USER line is refused")
    c.send(b"QUIT\r\n")
    t.ok(c.line().startswith(b"+OK"), "QUIT")
    t.ok(c.closed(), "closed")

    # A whole session in one packet after the greeting: every answer,
    # in order, and the mailbox read as usual.
    wires = [cl.wire(m) for m in MSGS]
    for wait_greeting in (True, False):
        how = "after the greeting" if wait_greeting else "before the greeting"
        c = h.raw_session(d.host, d.port)
        if wait_greeting:
            t.ok(c.line().startswith(b"+OK"), "greeting")
        c.send(b"USER ptcarol\r\nPASS " + h.TEST_PASSWORD.encode() +
               b"\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nQUIT\r\n")
        if not wait_greeting:
            t.ok(c.line().startswith(b"+OK"), "greeting (%s)" % how)
        t.eq(c.line(), b"+OK", "one packet %s: USER" % how)
        t.ok(c.line().startswith(b"+OK Logged in; 3 messages"), "one packet %s: PASS" % how)
        t.eq(c.line(), answers[300], "one packet %s: STAT" % how)
        t.ok(c.line().startswith(b"+OK"), "one packet %s: LIST" % how)
        t.eq(c.multiline(), [b"%d %d" % (i, len(w)) for i, w in enumerate(wires, 1)],
             "one packet %s: LIST listing" % how)
        t.ok(c.line().startswith(b"+OK"), "one packet %s: UIDL" % how)
        t.eq(len(c.multiline()), 3, "one packet %s: UIDL listing" % how)
        t.eq(c.line(), b"+OK %d octets" % len(wires[1]), "one packet %s: RETR 2" % how)
        t.eq(c.multiline(), h.expected_retr(MSGS[1]), "one packet %s: RETR 2 body" % how)
        t.ok(c.line().startswith(b"+OK postern signing off"), "one packet %s: QUIT" % how)
        t.ok(c.closed(), "one packet %s: closed" % how)
        t.eq(c.buf, b"", "one packet %s: nothing else was sent" % how)
        t.ok(cl.wait_ended(d, "ptcarol", 2 if wait_greeting else 3),
             "one packet %s: session ended" % how)
    # A client that sends nothing gets closed by the pre-auth timer; a
    # NUL byte in a command is an error, not a crash.
    c = h.raw_session(d.host, d.port)
    c.line()
    t.ok(c.cmd(b"STAT\x00\r\n").startswith(b"-ERR"), "NUL byte in a command refused")
    t.ok(c.cmd(b"\r\n").startswith(b"-ERR"), "empty line refused")
    c.send(b"QUIT\r\n")
    t.ok(c.line().startswith(b"+OK"), "QUIT before login")
    t.ok(c.closed(), "closed after QUIT")
finally:
    d.cleanup()
t.done()
