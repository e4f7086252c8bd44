#!/usr/bin/env python3
"""
t-uidl.py - UIDL stability through the real daemon: across sessions and
daemon restarts, for byte-identical messages (distinct ids), for forged
X-UIDL headers (ignored), after other messages are deleted or new ones
appended, and when the per-user index is lost, corrupted or unwritable
(regenerated deterministically: the same ids). UIDLs are never written
into the mailbox, and a mailbox rewritten behind the server's back with
other messages is logged as such.
"""
import os
import pwd
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptcliud"

FROM = b"From sender@example.org Sat Nov 21 10:00:00 2026\n"


def seg(msg):
    return FROM + msg + b"\n"


TWIN = h.message(7, extra=b"I have a twin.\n")
MSGS = [
    h.message(1),
    h.message(2, extra=b".dot\n"),
    b"X-UIDL: same-forged-id\n" + h.message(3),
    b"X-UIDL: same-forged-id\n" + h.message(4),
    TWIN,
    TWIN,                 # byte-identical, From_ line included
    h.message(8, size=5000),
]
MBOX = b"".join(seg(m) for m in MSGS)
APPENDED = [h.message(20), TWIN]   # new mail, one more copy of the twin

d = h.Daemon(users=(U,), config={"auth_fail_delay": "0"})
d.write_mbox(U, MBOX)
d.start()
IDX = os.path.join(d.dir, "index", U)
sessions = 0


def uidls(check_mbox=None):
    """One session: the UIDL listing (number -> id); then QUIT."""
    global sessions
    p = cl.login(d, U)
    u = p.uidl()
    p.quit()
    sessions += 1
    cl.wait_ended(d, U, sessions)
    if check_mbox is not None:
        t.eq(d.read_mbox(U), check_mbox, "the session did not change the mbox")
    return u


try:
    u1 = uidls(MBOX)
    t.eq(sorted(u1), list(range(1, len(MSGS) + 1)), "UIDL lists every message")
    t.ok(all(1 <= len(v) <= 70 and all(0x21 <= c <= 0x7e for c in v) for v in u1.values()),
         "every UIDL is 1-70 printable characters")
    t.eq(len(set(u1.values())), len(MSGS), "UIDLs are unique")
    t.ok(u1[5] != u1[6], "byte-identical messages get different UIDLs")
    t.ok(b"same-forged-id" not in u1.values() and u1[3] != u1[4],
         "forged X-UIDL headers are not used")
    t.ok(b"UIDL" not in d.read_mbox(U).replace(b"X-UIDL: same-forged-id", b""),
         "no UIDL was written into the messages")

    t.eq(uidls(MBOX), u1, "same UIDLs in a second session")
    d.stop()
    d.start()
    t.eq(uidls(MBOX), u1, "same UIDLs after a daemon restart")

    # Lost index: the directory disappears between sessions.
    t.ok(os.path.isdir(IDX) and os.listdir(IDX), "the index exists")
    shutil.rmtree(IDX)
    t.eq(uidls(MBOX), u1, "same UIDLs after the index directory was removed")
    # Corrupted index.
    for name in os.listdir(IDX):
        path = os.path.join(IDX, name)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            with open(path, "r+b") as f:
                f.write(b"\xffgarbage" * 64)
    t.eq(uidls(MBOX), u1, "same UIDLs with a corrupted index")
    t.ok(d.wait_log("rebuilding the index", 5) or d.wait_log("not a plausible index", 1),
         "the corrupted index was noticed and rebuilt")
    # Unwritable index directory (another owner): the server runs without.
    nobody = pwd.getpwnam("nobody")
    os.chown(IDX, nobody.pw_uid, nobody.pw_gid)
    t.eq(uidls(MBOX), u1, "same UIDLs with an index directory the user cannot use")
    t.ok(d.wait_log("running without an index", 5), "(the server ran without an index)")
    shutil.rmtree(IDX)

    # New mail appended: old ids unchanged, new ones distinct.
    full = MBOX + b"".join(seg(m) for m in APPENDED)
    cl.append_mbox(d, U, b"".join(seg(m) for m in APPENDED))
    u2 = uidls(full)
    t.eq({k: u2[k] for k in u1}, u1, "appended mail leaves the old UIDLs alone")
    t.eq(len(set(u2.values())), len(u2), "appended mail gets new, unique UIDLs")
    t.ok(u2[9] not in (u1[5], u1[6]), "a third copy of the twin gets a third UIDL")
    shutil.rmtree(IDX)
    t.eq(uidls(full), u2, "the same after losing the index again (deterministic)")

    # Deleting other messages (2 and the first twin) changes no other id.
    p = cl.login(d, U)
    p.must("DELE 2")
    p.must("DELE 5")
    t.ok(p.quit().startswith(b"+OK"), "DELE 2, DELE 5, QUIT")
    sessions += 1
    cl.wait_ended(d, U, sessions)
    keep = [k for k in sorted(u2) if k not in (2, 5)]
    u3 = uidls()
    t.eq([u3[i] for i in sorted(u3)], [u2[k] for k in keep],
         "after deleting others, every survivor keeps its UIDL (the second twin too)")
    p = cl.login(d, U)
    p.must("DELE 1")
    t.ok(p.quit().startswith(b"+OK"), "DELE 1, QUIT")
    sessions += 1
    cl.wait_ended(d, U, sessions)
    u4 = uidls()
    t.eq([u4[i] for i in sorted(u4)], [u2[k] for k in keep[1:]],
         "after deleting the first message, the others keep their UIDLs")
    shutil.rmtree(IDX)
    u5 = uidls()
    t.eq(len(set(u5.values())), len(u5), "lost index after deletions: UIDLs still unique")
    # Without an index, only messages with a twin can be renumbered; all
    # the others must come back as they were.
    same = [i for i in sorted(u5) if u5[i] == u4[i]]
    twins = [i for i in sorted(u4) if u4[i].split(b"-")[0] == u2[6].split(b"-")[0]]
    t.eq([i for i in sorted(u5) if i not in twins], [i for i in same if i not in twins],
         "lost index after deletions: every message without a twin keeps its UIDL")

    # A mailbox replaced behind the server's back: most UIDLs change, and
    # the server says so (the event that makes clients fetch everything).
    other = b"".join(seg(h.message(100 + i)) for i in range(6))
    d.write_mbox(U, other)
    u6 = uidls(other)
    t.ok(not set(u6.values()) & set(u4.values()), "other messages, other UIDLs")
    t.ok(d.wait_log("UIDLs changed", 5),
         "a warning is logged when most UIDLs changed between sessions")
finally:
    d.cleanup()
t.done()
