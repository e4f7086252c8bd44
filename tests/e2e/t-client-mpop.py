#!/usr/bin/env python3
"""
t-client-mpop.py - mpop (run as the mail user) against the real daemon,
with UIDL-based "only new mail": keep mode fetches everything byte for
byte into a Maildir, a second run fetches nothing, a new message is
fetched alone, then --keep=off deletes what it fetches. Also mpop's
mbox delivery (From_ lines and its quoting). The mbox on disk is checked
after every run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptclimp"
MSGS = cl.client_messages()
NEW = h.message(100, extra=b"..new one\n")
MBOX = cl.mbox_of(MSGS)

d = h.Daemon(users=(U,))
d.write_mbox(U, MBOX)
d.start()
sessions = 0
try:
    home = cl.user_dir(d, U, "mpop")
    md = os.path.join(home, "Maildir")
    for sub in ("", "/cur", "/new", "/tmp"):
        os.mkdir(md + sub)
    uidls_file = os.path.join(home, "uidls")
    cl.chown_tree(home, U)

    p = cl.login(d, U)
    server_uidls = p.uidl()
    p.quit()
    sessions += 1
    cl.wait_ended(d, U, sessions)

    def mpop(*args, delivery="maildir," + md):
        global sessions
        cmd = ["mpop", "--host=127.0.0.1", "--port=%d" % d.port, "--auth=user",
               "--user=" + U, "--passwordeval=echo '%s'" % h.TEST_PASSWORD,
               "--tls=off", "--received-header=off", "--uidls-file=" + uidls_file,
               "--delivery=" + delivery, "--timeout=20"] + list(args)
        r = cl.run_client(cl.as_user(U, cmd, home))
        sessions += 1
        t.ok(cl.wait_ended(d, U, sessions), "mpop %s: its session ended" % " ".join(args))
        return r

    r = mpop("--keep=on", "--only-new=on")
    if not t.eq(r.returncode, 0, "run 1 (keep, only new): mpop exits 0"):
        cl.show(t, r)
    t.eq(cl.maildir_messages(md), sorted(MSGS), "run 1 delivered every message byte-exact")
    t.eq(d.read_mbox(U), MBOX, "run 1 left the mbox unchanged")
    text = open(uidls_file, "rb").read() if os.path.exists(uidls_file) else b""
    t.ok(all(u in text for u in server_uidls.values()), "mpop's UIDL file holds every server UIDL")

    r = mpop("--keep=on", "--only-new=on")
    if not t.eq(r.returncode, 0, "run 2: mpop exits 0"):
        cl.show(t, r)
    t.eq(len(cl.maildir_messages(md)), len(MSGS), "run 2 fetched nothing new")
    t.eq(d.read_mbox(U), MBOX, "run 2 left the mbox unchanged")

    cl.append_mbox(d, U, cl.mbox_of([NEW]))
    r = mpop("--keep=on", "--only-new=on")
    t.eq(r.returncode, 0, "run 3 (a new message): mpop exits 0")
    t.eq(cl.maildir_messages(md), sorted(MSGS + [NEW]), "run 3 fetched only the new message")
    t.eq(d.read_mbox(U), MBOX + cl.mbox_of([NEW]), "run 3 left the mbox unchanged")

    # keep=off with only-new: mpop deletes what it fetched before and what
    # it fetches now.
    r = mpop("--keep=off", "--only-new=on")
    if not t.eq(r.returncode, 0, "run 4 (keep=off): mpop exits 0"):
        cl.show(t, r)
    t.eq(len(cl.maildir_messages(md)), len(MSGS) + 1, "run 4 delivered nothing twice")
    t.eq(d.read_mbox(U), b"", "run 4 deleted every (already fetched) message")

    # mbox delivery: mpop writes From_ lines and quotes body "From " lines.
    d.write_mbox(U, MBOX)
    mbox_out = os.path.join(home, "mbox")
    r = mpop("--keep=on", "--only-new=off", delivery="mbox," + mbox_out)
    if not t.eq(r.returncode, 0, "mbox delivery: mpop exits 0"):
        cl.show(t, r)
    got = open(mbox_out, "rb").read() if os.path.exists(mbox_out) else b""
    segs = cl.mbox_segments(got)
    t.eq(len(segs), len(MSGS), "mbox delivery wrote one From_ segment per message")
    # mpop quotes with mboxrd (">From" gets one more ">"); unquote likewise.
    def unquote_rd(seg):
        body = seg.split(b"\n", 1)[1]
        if body.endswith(b"\n\n"):
            body = body[:-1]
        lines = []
        for l in body.split(b"\n"):
            s = l.lstrip(b">")
            if s.startswith(b"From ") and len(s) < len(l):
                l = l[1:]
            lines.append(l)
        return b"\n".join(lines)
    t.eq([unquote_rd(s) for s in segs], MSGS, "mbox delivery: every message byte-exact")
    t.eq(d.read_mbox(U), MBOX, "mbox delivery with keep left the server mbox unchanged")
finally:
    d.cleanup()
t.done()
