#!/usr/bin/env python3
"""
t-client-fetchmail.py - fetchmail (run as the mail user, as people do)
against the real daemon: keep mode fetches everything byte for byte and
records the server's UIDLs; a second run fetches nothing; a run without
keep fetches and deletes only the new message; a run with --all deletes
everything. The mbox on disk is checked after every run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptclifm"
MSGS = cl.client_messages()
NEW = h.message(100, extra=b".new one\n")
MBOX = cl.mbox_of(MSGS)

d = h.Daemon(users=(U,))
d.write_mbox(U, MBOX)
d.start()
sessions = 0
try:
    home = cl.user_dir(d, U, "fetchmail")
    out = os.path.join(home, "out")
    os.mkdir(out)
    deliver = os.path.join(home, "deliver.sh")
    with open(deliver, "w") as f:
        # One file per message, numbered in delivery order.
        f.write('#!/bin/sh\nn=$(ls "%s" | wc -l)\nexec cat > "%s/$(printf %%04d "$n")"\n'
                % (out, out))
    os.chmod(deliver, 0o755)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("set no bouncemail\n"
                "set no syslog\n"
                "set invisible\n"          # no Received: line of its own
                "poll 127.0.0.1 protocol pop3 port %d uidl no envelope\n"
                '  user "%s" there password "%s" is %s here\n'
                '  mda "%s"\n'
                "  no rewrite\n"
                '  sslproto ""\n'          # no opportunistic STLS (cleartext test)
                % (d.port, U, h.TEST_PASSWORD, U, deliver))
    os.chmod(rc, 0o600)
    cl.chown_tree(home, U)
    ids = os.path.join(home, "fetchids")

    p = cl.login(d, U)
    server_uidls = p.uidl()
    p.quit()
    sessions += 1
    cl.wait_ended(d, U, sessions)

    def fetchmail(*args):
        global sessions
        r = cl.run_client(cl.as_user(U, ["fetchmail", "--fetchmailrc", rc, "--idfile", ids,
                                         "--pidfile", os.path.join(home, "pid")]
                                     + list(args), home))
        sessions += 1
        t.ok(cl.wait_ended(d, U, sessions), "fetchmail %s: its session ended" % " ".join(args))
        return r

    def delivered():
        return [open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))]

    # Run 1: keep, everything new.
    r = fetchmail("--keep")
    if not t.eq(r.returncode, 0, "run 1 (--keep): fetchmail exits 0"):
        cl.show(t, r)
    got = delivered()
    t.eq(len(got), len(MSGS), "run 1 delivered every message")
    for i, m in enumerate(MSGS):
        t.eq(got[i] if i < len(got) else None, m, "run 1: message %d byte-exact" % (i + 1))
    t.eq(d.read_mbox(U), MBOX, "run 1 (--keep) left the mbox unchanged")
    idtext = open(ids, "rb").read() if os.path.exists(ids) else b""
    t.ok(all(u in idtext for u in server_uidls.values()),
         "fetchmail's idfile holds every server UIDL")
    t.ok(b"forged-uidl" not in idtext, "a forged X-UIDL header is not the UIDL")

    # Run 2: nothing new.
    r = fetchmail("--keep")
    if not t.eq(r.returncode, 1, "run 2 (--keep): fetchmail reports no new mail (exit 1)"):
        cl.show(t, r)
    t.eq(len(delivered()), len(MSGS), "run 2 delivered nothing")
    t.eq(d.read_mbox(U), MBOX, "run 2 left the mbox unchanged")

    # Run 3: a new message arrives; without keep, only it is fetched and
    # deleted, the old (seen) ones stay.
    cl.append_mbox(d, U, cl.mbox_of([NEW]))
    r = fetchmail("--nokeep")
    if not t.eq(r.returncode, 0, "run 3 (--nokeep): fetchmail exits 0"):
        cl.show(t, r)
    got = delivered()
    t.eq(got[len(MSGS):], [NEW], "run 3 delivered exactly the new message, byte-exact")
    t.eq(d.read_mbox(U), MBOX, "run 3 deleted the new message only: old mbox byte-identical")

    # Run 4: --all without keep fetches everything again and deletes it.
    r = fetchmail("--nokeep", "--all")
    if not t.eq(r.returncode, 0, "run 4 (--all --nokeep): fetchmail exits 0"):
        cl.show(t, r)
    got = delivered()
    t.eq(got[len(MSGS) + 1:], MSGS, "run 4 delivered every old message again, byte-exact")
    t.eq(d.read_mbox(U), b"", "run 4 left an empty mailbox")
    p = cl.login(d, U)
    t.eq(p.stat(), (0, 0), "the server agrees: no messages")
    p.quit()
finally:
    d.cleanup()
t.done()
