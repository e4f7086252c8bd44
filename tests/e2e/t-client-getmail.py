#!/usr/bin/env python3
"""
t-client-getmail.py - getmail6 (SimplePOP3Retriever, Maildir destination,
run as the mail user) against the real daemon: read_all = false keeps
track of UIDLs, so a second run fetches nothing; a new message is fetched
alone and, with delete = true, everything is deleted (getmail deletes
the messages it had already seen too); read_all = true fetches everything
again. The mbox on disk is checked after every
run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptcligm"
MSGS = cl.client_messages()
NEW = h.message(100, extra=b".\n.new one\n")
MBOX = cl.mbox_of(MSGS)
RETURN_PATH = b"Return-Path: <unknown>\n"   # getmail's own first line

d = h.Daemon(users=(U,))
d.write_mbox(U, MBOX)
d.start()
sessions = 0
try:
    home = cl.user_dir(d, U, "getmail")
    md = os.path.join(home, "Maildir")
    for sub in ("", "/cur", "/new", "/tmp"):
        os.mkdir(md + sub)
    cl.chown_tree(home, U)

    p = cl.login(d, U)
    server_uidls = p.uidl()
    p.quit()
    sessions += 1
    cl.wait_ended(d, U, sessions)

    def getmail(read_all, delete):
        global sessions
        rc = os.path.join(home, "getmailrc")
        with open(rc, "w") as f:
            f.write("[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\n"
                    "port = %d\nusername = %s\npassword = %s\ntimeout = 20\n\n"
                    "[destination]\ntype = Maildir\npath = %s/\n\n"
                    "[options]\nread_all = %s\ndelete = %s\ndelivered_to = false\n"
                    "received = false\nverbose = 1\n"
                    % (d.port, U, h.TEST_PASSWORD, md, read_all, delete))
        cl.chown_tree(home, U)
        r = cl.run_client(cl.as_user(U, ["getmail", "--getmaildir", home, "--rcfile", rc],
                                     home))
        sessions += 1
        t.ok(cl.wait_ended(d, U, sessions),
             "getmail read_all=%s delete=%s: its session ended" % (read_all, delete))
        return r

    def fetched():
        out = []
        for m in cl.maildir_messages(md):
            out.append(m[len(RETURN_PATH):] if m.startswith(RETURN_PATH) else m)
        return sorted(out)

    r = getmail("false", "false")
    if not t.eq(r.returncode, 0, "run 1: getmail exits 0"):
        cl.show(t, r)
    t.eq(fetched(), sorted(MSGS), "run 1 delivered every message byte-exact")
    t.eq(d.read_mbox(U), MBOX, "run 1 (delete = false) left the mbox unchanged")
    seen = b""
    for n in os.listdir(home):
        if n.startswith("oldmail-"):
            seen += open(os.path.join(home, n), "rb").read()
    t.ok(all(u in seen for u in server_uidls.values()), "getmail's oldmail file holds every UIDL")

    r = getmail("false", "false")
    t.eq(r.returncode, 0, "run 2: getmail exits 0")
    t.eq(len(fetched()), len(MSGS), "run 2 fetched nothing new")
    t.eq(d.read_mbox(U), MBOX, "run 2 left the mbox unchanged")

    cl.append_mbox(d, U, cl.mbox_of([NEW]))
    r = getmail("false", "true")
    if not t.eq(r.returncode, 0, "run 3 (a new message, delete = true): getmail exits 0"):
        cl.show(t, r)
    t.eq(fetched(), sorted(MSGS + [NEW]), "run 3 fetched only the new message, byte-exact")
    # getmail's delete = true also deletes the messages it had seen.
    t.eq(d.read_mbox(U), b"", "run 3 deleted every message (seen and new)")
    p = cl.login(d, U)
    t.eq(p.stat(), (0, 0), "the server agrees: no messages")
    p.quit()
    sessions += 1
    cl.wait_ended(d, U, sessions)

    # A fresh mailbox with the same messages: read_all = true fetches them
    # all again, delete = false keeps them.
    d.write_mbox(U, MBOX)
    r = getmail("true", "false")
    if not t.eq(r.returncode, 0, "run 4 (read_all, keep): getmail exits 0"):
        cl.show(t, r)
    t.eq(fetched(), sorted(MSGS + [NEW] + MSGS), "run 4 fetched every message again, byte-exact")
    t.eq(d.read_mbox(U), MBOX, "run 4 left the mbox unchanged")
finally:
    d.cleanup()
t.done()
