#!/usr/bin/env python3
"""
t-malformed.py - odd, truncated and unsafe mailboxes through the daemon.
Each is served without a crash and with the right answer, and is never
changed by a session that deletes nothing (hash before and after):
no leading From_ line, no final newline, NUL bytes, a 1 MB line, CRLF
line ends, a 0-byte file, the UW/Pine folder-internal pseudo message,
over-long From_ and header lines, and pseudo-random garbage (whose
expunge must keep every other message exactly as it was served).
Unsafe mailboxes are refused with -ERR [SYS/PERM] and logged: a
symlink, a file owned by another user, a hard-linked file, a
world-writable file, a directory, a FIFO.
"""
import os
import pwd
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptclimf"
FROM = b"From sender@example.org Sat Nov 21 10:00:00 2026\n"

d = h.Daemon(users=(U,), config={"auth_fail_delay": "0", "lock_timeout": "1"})
d.start()
PATH = d.mbox_path(U)
sessions = 0


def settle():
    global sessions
    sessions += 1
    cl.wait_ended(d, U, sessions)


def serve(name, data, want=None, mode=0o660):
    """Log in on `data`; check sizes against RETR for every message, and
    the messages themselves if `want` (list of message bytes as RETR sends
    them) is given; QUIT; the file must be unchanged. Returns the wire
    bytes of every message."""
    d.write_mbox(U, data, mode)
    before = cl.file_sha(PATH)
    p = cl.Pop(d, U)
    if not t.ok(p.logged_in, "%s: login: %r" % (name, p.login_reply)):
        p.drop()
        settle()
        return None
    n, octets = p.stat()
    sizes = p.list()
    got = []
    for i in range(1, n + 1):
        r, m = p.retr(i)
        got.append(m)
    t.ok(all(m is not None for m in got), "%s: every RETR answered" % name)
    t.eq([len(m or b"") for m in got], [sizes[i] for i in range(1, n + 1)],
         "%s: LIST sizes are the octets RETR sends" % name)
    t.eq(octets, sum(sizes.values()), "%s: STAT octets" % name)
    if want is not None:
        t.eq(got, want, "%s: %d message(s) served right" % (name, len(want)))
    u = p.uidl()
    t.eq(len(set(u.values())), n, "%s: unique UIDLs" % name)
    t.ok(p.quit().startswith(b"+OK"), "%s: QUIT" % name)
    settle()
    t.eq(cl.file_sha(PATH), before, "%s: mailbox unchanged" % name)
    return got


def expunge(name, data, dele, want):
    """DELE the given numbers on `data`, QUIT; the file must become `want`."""
    d.write_mbox(U, data)
    p = cl.login(d, U)
    for n in dele:
        p.must("DELE %d" % n)
    t.ok(p.quit().startswith(b"+OK"), "%s: DELE %s, QUIT" % (name, dele))
    settle()
    t.eq(d.read_mbox(U), want, "%s: exactly the deleted messages are gone" % name)


def refused(name, code=b"-ERR [SYS/PERM]", log=None):
    p = cl.Pop(d, U)
    t.ok(p.login_reply.startswith(code), "%s: refused with %s: %r"
         % (name, code.decode(), p.login_reply))
    p.drop()
    settle()
    if log:
        t.ok(d.wait_log(log, 5), "%s: logged (%s)" % (name, log))


try:
    m1, m2 = h.message(1), h.message(2, extra=b".dot\n")
    pre = b"Subject: orphan text\n\nbefore any From_ line\n\n"
    serve("no leading From_ line (preamble)", pre + FROM + m1 + b"\n" + FROM + m2,
          [cl.wire(m1), cl.wire(m2)])
    expunge("preamble kept by the expunge", pre + FROM + m1 + b"\n" + FROM + m2, [1],
            pre + FROM + m2)
    serve("only text, no From_ line at all", b"Subject: x\n\njust text\n", [])
    serve("last message without a final newline",
          FROM + m1 + b"\n" + FROM + m2 + b"no newline at the end",
          [cl.wire(m1), cl.wire(m2 + b"no newline at the end")])
    nul = h.message(3, extra=b"a NUL \x00 inside\n\x00\n")
    serve("NUL bytes", FROM + nul, [cl.wire(nul)])
    big = h.message(4, extra=b"z" * (1 << 20) + b"\n")
    serve("a 1 MB line", FROM + big + b"\n" + FROM + m1, [cl.wire(big), cl.wire(m1)])
    crlf = (FROM + m1 + b"\n" + FROM + m2).replace(b"\n", b"\r\n")
    serve("CRLF line ends", crlf, [cl.wire(m1), cl.wire(m2)])
    serve("a 0-byte mailbox", b"", [])
    serve("only a From_ line", FROM, None)
    pseudo = (b"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n"
              b"Date: Sat, 21 Nov 2026 10:00:00 +0000\n"
              b"From: Mail System Internal Data <MAILER-DAEMON@example.org>\n"
              b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
              b"Message-ID: <1@example.org>\n"
              b"X-IMAP: 1700000000 0000000002\n"
              b"Status: RO\n\n"
              b"This text is part of the internal format of your mail folder.\n\n")
    serve("UW folder-internal pseudo message (hidden)", pseudo + FROM + m1 + b"\n" + FROM + m2,
          [cl.wire(m1), cl.wire(m2)])
    expunge("pseudo message kept by the expunge", pseudo + FROM + m1 + b"\n" + FROM + m2,
            [1, 2], pseudo)
    longfrom = b"From " + b"f" * 5000 + b"@example.org Sat Nov 21 10:00:00 2026\n"
    longhdr = b"X-Long: " + b"h" * 20000 + b"\n" + m1
    serve("over-long From_ line and header", longfrom + longhdr + b"\n" + FROM + longhdr,
          [cl.wire(longhdr), cl.wire(longhdr)])

    # Pseudo-random garbage: consistent answers, and an expunge that keeps
    # every other message exactly as it was served.
    rnd = random.Random(3)
    pieces = [b"From ", b">From ", b".", b"..", b"\r", b"\n", b"\r\n", b"\x00", b"\xff",
              b" ", b"Subject: x", b"\n\n", b"X-IMAP: 1 2\n", b"From x\n"]
    junk = bytearray()
    while len(junk) < 200000:
        if rnd.random() < 0.3:
            junk += rnd.choice(pieces)
        else:
            junk += bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
    junk = bytes(junk)
    got = serve("200 KB of pseudo-random garbage", junk)
    if got is not None and len(got) >= 3:
        p = cl.login(d, U)
        p.must("DELE 1")
        p.must("DELE %d" % len(got))
        t.ok(p.quit().startswith(b"+OK"), "garbage: DELE first and last, QUIT")
        settle()
        p = cl.login(d, U)
        n = p.stat()[0]
        after = [p.retr(i)[1] for i in range(1, n + 1)]
        p.quit()
        settle()
        t.eq(after, got[1:-1], "garbage: every other message served exactly as before")
    else:
        t.ok(False, "the garbage mailbox holds at least 3 messages")

    # --- unsafe mailboxes --------------------------------------------------
    target = os.path.join(d.dir, "elsewhere")
    with open(target, "wb") as f:
        f.write(FROM + m1)
    os.chown(target, pwd.getpwnam(U).pw_uid, h.mail_gid())
    tsha = cl.file_sha(target)
    os.unlink(PATH)
    os.symlink(target, PATH)
    refused("mailbox is a symlink", log="symbolic link")
    t.eq(cl.file_sha(target), tsha, "symlink: its target is untouched")
    os.unlink(PATH)

    d.write_mbox(U, FROM + m1)
    nobody = pwd.getpwnam("nobody")
    os.chown(PATH, nobody.pw_uid, h.mail_gid())
    before = cl.file_sha(PATH)
    refused("mailbox owned by another user", log="not owned by the user")
    t.eq(cl.file_sha(PATH), before, "another user's mailbox: untouched")
    os.unlink(PATH)

    d.write_mbox(U, FROM + m1)
    link = os.path.join(d.dir, "hardlink")
    os.link(PATH, link)
    before = cl.file_sha(PATH)
    refused("hard-linked mailbox", log="more than one link")
    t.eq(cl.file_sha(PATH), before, "hard-linked mailbox: untouched")
    os.unlink(link)

    d.write_mbox(U, FROM + m1, mode=0o666)
    refused("world-writable mailbox", log="world-writable")
    os.unlink(PATH)

    os.mkdir(PATH)
    refused("mailbox is a directory")
    os.rmdir(PATH)
    os.mkfifo(PATH)
    os.chown(PATH, pwd.getpwnam(U).pw_uid, h.mail_gid())
    os.chmod(PATH, 0o660)
    refused("mailbox is a FIFO (no hang)", log="not a regular file")
    os.unlink(PATH)

    serve("a normal mailbox afterwards: the daemon still serves", FROM + m1, [cl.wire(m1)])
finally:
    d.cleanup()
t.done()
