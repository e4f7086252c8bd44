#!/usr/bin/env python3
"""
t-transaction.py - the TRANSACTION and UPDATE states against the real
daemon and the real mailbox engine: DELE marks (and what they hide),
RSET, QUIT expunging exactly the marked messages (checked on disk, byte
for byte), a dropped connection or QUIT before login deleting nothing,
UIDL and TOP shapes, storage's read-ahead of the next message never
showing through (DELE, TOP, RSET in between), bad arguments in
TRANSACTION, pipelined batches that mix marks and reads, and the pre-auth timeout (the idle timeout is
at least 600 s by RFC 1939: t-idle-timeout.py shortens it in the
test-hook workers).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptclitr"
BODY10 = b"".join(b"body line %d\n" % i for i in range(1, 11))
MSGS = [
    h.message(1),
    h.message(2, extra=b".a dot line\n..two dots\n.\n"),
    h.message(3, extra=BODY10),
    h.message(4, size=3000),
    h.message(5, extra=b"From the start of a line\n"),   # quoted in the mbox
]
MBOX = h.make_mbox(MSGS)
SEGS = cl.mbox_segments(MBOX)
assert len(SEGS) == len(MSGS)

d = h.Daemon(users=(U,), config={"preauth_timeout": "5", "lock_timeout": "1"})
d.write_mbox(U, MBOX)
d.start()
sessions = 0


def ended():
    """Wait until the previous session is over (its commit done)."""
    global sessions
    sessions += 1
    return cl.wait_ended(d, U, sessions)


try:
    # QUIT in AUTHORIZATION (after USER, before PASS) deletes nothing.
    p = cl.Pop(d)
    t.ok(p.cmd("USER " + U).startswith(b"+OK"), "USER")
    t.ok(p.cmd("QUIT").startswith(b"+OK"), "QUIT in AUTHORIZATION")
    t.ok(p.c.closed(), "closed after QUIT in AUTHORIZATION")
    t.eq(d.read_mbox(U), MBOX, "QUIT in AUTHORIZATION leaves the mbox as it was")

    p = cl.login(d, U)
    t.ok(p.login_reply.startswith(b"+OK"), "login")
    wires = [cl.wire(m) for m in MSGS]
    t.eq(p.stat(), (5, sum(len(w) for w in wires)), "STAT counts 5 messages and their octets")
    t.eq(p.list(), {i: len(w) for i, w in enumerate(wires, 1)}, "LIST sizes are RETR octets")

    # UIDL: the listing, the single form, format and uniqueness.
    uidls = p.uidl()
    t.eq(sorted(uidls), [1, 2, 3, 4, 5], "UIDL lists every message")
    t.ok(all(1 <= len(u) <= 70 and all(0x21 <= c <= 0x7e for c in u)
             for u in uidls.values()), "UIDLs are 1-70 printable characters")
    t.eq(len(set(uidls.values())), 5, "UIDLs are unique")
    t.eq(p.cmd("UIDL 3"), b"+OK 3 " + uidls[3], "UIDL 3 matches the listing")
    t.eq(p.cmd("LIST 4"), b"+OK 4 %d" % len(wires[3]), "LIST 4 on one line")

    # TOP: 0 lines, 3 lines, more lines than the body, dot-stuffed lines.
    for n, lines in ((3, 0), (3, 3), (3, 10), (3, 1000), (2, 2), (1, 4294967294)):
        r, got = p.top(n, lines)
        t.ok(r.startswith(b"+OK"), "TOP %d %d answers +OK" % (n, lines))
        t.eq(got, cl.top_lines(MSGS[n - 1], lines), "TOP %d %d content" % (n, lines))
    for i, m in enumerate(MSGS, 1):
        r, got = p.retr(i)
        t.eq(got, wires[i - 1], "RETR %d byte-exact" % i)
        t.eq(r, b"+OK %d octets" % len(wires[i - 1]), "RETR %d announces its size" % i)

    # Bad arguments in TRANSACTION: each refused, the session stays usable.
    for bad in ("DELE 0", "DELE -1", "DELE abc", "DELE 4294967297", "DELE 6",
                "DELE 1 2", "DELE", "DELE 99999999999999999999999",
                "TOP 1 abc", "TOP 1 -3", "TOP 1 4294967295", "TOP 6 0", "TOP 1",
                "TOP 1 2 3", "UIDL 0", "UIDL abc", "UIDL 6", "UIDL 1 2",
                "LIST -1", "LIST 6", "LIST 0x1", "RETR 1 2", "RETR +1",
                "STAT 1", "RSET 1", "NOOP 1", "QUIT now", "PASS again",
                "USER " + U, "AUTH PLAIN", "STLS", "UTF8", "APOP x y"):
        t.ok(p.cmd(bad).startswith(b"-ERR"), "%r refused in TRANSACTION" % bad)
    t.eq(p.stat()[0], 5, "nothing was marked by the refused commands")

    # CAPA works in TRANSACTION too, without the login mechanisms.
    p.must("CAPA")
    caps = p.multiline()
    t.ok(b"TOP" in caps and b"UIDL" in caps and b"PIPELINING" in caps,
         "CAPA in TRANSACTION: %r" % caps)
    t.ok(b"USER" not in caps, "CAPA in TRANSACTION no longer offers USER")

    # DELE and what it hides.
    t.ok(p.cmd("DELE 2").startswith(b"+OK"), "DELE 2")
    t.ok(p.cmd("DELE 2").startswith(b"-ERR"), "DELE 2 twice is -ERR")
    for c in ("RETR 2", "LIST 2", "UIDL 2", "TOP 2 0"):
        t.ok(p.cmd(c).startswith(b"-ERR"), "%s of a deleted message is -ERR" % c)
    t.eq(p.stat(), (4, sum(len(w) for w in wires) - len(wires[1])),
         "STAT excludes the deleted message")
    t.eq(sorted(p.list()), [1, 3, 4, 5], "LIST excludes the deleted message")
    t.eq(p.uidl(), {k: v for k, v in uidls.items() if k != 2},
         "UIDL excludes it and keeps the others' numbers and ids")
    t.eq(p.retr(3)[1], wires[2], "message 3 keeps its number after DELE 2")
    t.ok(p.cmd("RSET").startswith(b"+OK"), "RSET")
    t.eq(p.stat()[0], 5, "RSET restores the deleted message")
    t.eq(p.retr(2)[1], wires[1], "RETR 2 works again after RSET")
    t.eq(p.uidl(), uidls, "UIDL after RSET is the original listing")

    # Storage reads message n + 1 ahead after RETR n; whatever comes
    # next must be answered as if it had not. DELE drops it, TOP does
    # not use it, and RETR after TOP still gets the whole message.
    t.eq(p.retr(1)[1], wires[0], "RETR 1 (message 2 read ahead)")
    t.ok(p.cmd("DELE 2").startswith(b"+OK"), "DELE 2 right after")
    t.ok(p.cmd("RETR 2").startswith(b"-ERR"), "RETR 2 after DELE 2 is -ERR, "
         "not the read-ahead copy")
    t.ok(p.cmd("RSET").startswith(b"+OK"), "RSET")
    t.eq(p.retr(2)[1], wires[1], "RETR 2 (message 3 read ahead)")
    t.eq(p.retr(3)[1], wires[2], "RETR 3 from the read-ahead, byte-exact")
    r, got = p.top(4, 0)
    t.eq(got, cl.top_lines(MSGS[3], 0), "TOP 4 0 after RETR 3: the header "
         "only, not the read-ahead whole message")
    t.eq(p.retr(4)[1], wires[3], "RETR 4 after TOP: the whole message")
    t.eq(p.retr(5)[1], wires[4], "RETR 5 (the last) from the read-ahead")

    # A pipelined batch mixing marks and reads: every answer, in order.
    p.send(b"DELE 1\r\nDELE 3\r\nDELE 3\r\nSTAT\r\nLIST\r\nRSET\r\nSTAT\r\n"
           b"DELE 1\r\nDELE 4\r\nRETR 1\r\nUIDL 4\r\nNOOP\r\n")
    a = [p.line() for _ in range(4)]
    t.ok(a[0].startswith(b"+OK") and a[1].startswith(b"+OK"), "pipelined DELE 1, DELE 3")
    t.ok(a[2].startswith(b"-ERR"), "pipelined second DELE 3 refused")
    t.eq(a[3], b"+OK 3 %d" % sum(len(w) for i, w in enumerate(wires) if i not in (0, 2)),
         "pipelined STAT after two DELE")
    t.ok(p.line().startswith(b"+OK"), "pipelined LIST")
    t.eq([int(l.split()[0]) for l in p.multiline()], [2, 4, 5], "pipelined LIST content")
    t.ok(p.line().startswith(b"+OK"), "pipelined RSET")
    t.eq(p.line(), b"+OK 5 %d" % sum(len(w) for w in wires), "pipelined STAT after RSET")
    a = [p.line() for _ in range(3)]
    t.ok(a[0].startswith(b"+OK") and a[1].startswith(b"+OK"), "pipelined DELE 1, DELE 4")
    t.ok(a[2].startswith(b"-ERR"), "pipelined RETR of a deleted message refused")
    t.ok(p.line().startswith(b"-ERR"), "pipelined UIDL of a deleted message refused")
    t.eq(p.line(), b"+OK", "pipelined NOOP")

    # QUIT from TRANSACTION expunges exactly messages 1 and 4.
    r = p.quit()
    t.ok(r.startswith(b"+OK"), "QUIT from TRANSACTION")
    t.ok(b"2" in r, "QUIT reports 2 messages deleted: %r" % r)
    t.ok(ended(), "session ended")
    want = SEGS[1] + SEGS[2] + SEGS[4]
    t.eq(d.read_mbox(U), want, "mbox on disk: survivors 2, 3, 5, byte-identical, in order")

    left = [MSGS[1], MSGS[2], MSGS[4]]
    lw = [cl.wire(m) for m in left]
    p = cl.login(d, U)
    t.eq(p.stat(), (3, sum(len(w) for w in lw)), "next session sees the 3 survivors")
    t.eq(p.uidl(), {1: uidls[2], 2: uidls[3], 3: uidls[5]},
         "survivors keep their UIDLs after the expunge")
    t.eq([p.retr(i)[1] for i in (1, 2, 3)], lw, "survivors are byte-exact")

    # A dropped connection deletes nothing.
    t.ok(p.cmd("DELE 1").startswith(b"+OK") and p.cmd("DELE 3").startswith(b"+OK"),
         "DELE 1, DELE 3, then drop the connection")
    before = d.read_mbox(U)
    p.drop()
    t.ok(ended(), "dropped session ended")
    t.eq(d.read_mbox(U), before, "a dropped connection deletes nothing")

    # Dropped in the middle of a RETR answer: nothing deleted either.
    p = cl.login(d, U)
    p.cmd("DELE 2")
    p.send(b"RETR 3\r\n")
    p.drop()
    t.ok(ended(), "session dropped during RETR ended")
    t.eq(d.read_mbox(U), before, "a connection dropped during RETR deletes nothing")

    # DELE then RSET then QUIT deletes nothing.
    p = cl.login(d, U)
    p.cmd("DELE 1")
    p.cmd("RSET")
    t.ok(p.quit().startswith(b"+OK"), "QUIT after DELE + RSET")
    t.ok(ended(), "session ended")
    t.eq(d.read_mbox(U), before, "DELE + RSET + QUIT deletes nothing")

    # QUIT pipelined right behind the DELEs.
    p = cl.login(d, U)
    p.send(b"DELE 2\r\nQUIT\r\n")
    t.ok(p.line().startswith(b"+OK"), "pipelined DELE before QUIT")
    t.ok(p.line().startswith(b"+OK"), "pipelined QUIT")
    t.ok(ended(), "session ended")
    t.eq(d.read_mbox(U), SEGS[1] + SEGS[4], "pipelined DELE+QUIT expunged message 2 only")

    # Delete everything: the next session sees an empty maildrop.
    p = cl.login(d, U)
    p.cmd("DELE 1")
    p.cmd("DELE 2")
    t.eq(p.stat(), (0, 0), "STAT 0 0 with everything marked")
    p.must("LIST")
    t.eq(p.multiline(), [], "empty LIST with everything marked")
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    t.ok(ended(), "session ended")
    t.eq(d.read_mbox(U), b"", "every message expunged (empty or removed mbox)")
    p = cl.login(d, U)
    t.eq(p.stat(), (0, 0), "empty maildrop after expunging everything")
    t.ok(p.cmd("RETR 1").startswith(b"-ERR"), "RETR 1 of an empty maildrop")
    t.ok(p.cmd("DELE 1").startswith(b"-ERR"), "DELE 1 of an empty maildrop")
    t.ok(p.quit().startswith(b"+OK"), "QUIT of an empty maildrop")
    t.ok(ended(), "session ended")

    # The pre-auth timer: absolute, whatever the client does.
    start = time.time()
    p = cl.Pop(d)
    t.ok(p.c.closed(30), "a silent client is disconnected by preauth_timeout")
    t.ok(p.c.buf.startswith(b"-ERR"), "with an -ERR line before the close: %r" % p.c.buf)
    t.diag("closed after %.1f s (preauth_timeout = 5)" % (time.time() - start))
    p = cl.Pop(d)
    p.cmd("USER " + U)
    alive = True
    for _ in range(12):
        time.sleep(0.5)
        try:
            r = p.cmd("NOOP")
        except (EOFError, OSError):
            alive = False
            break
        if not r.startswith(b"-ERR") or b"Autologout" in r:
            alive = False
            break
    t.ok(not alive or p.c.closed(10), "a chatty client that never logs in is still disconnected")
    p.drop()
finally:
    d.cleanup()
t.done()
