#!/usr/bin/env python3
"""
t-sec-store-ipc.py - storage under a fake master and a malicious fake
worker. postern-store is started as the mail user with its channels on
socketpairs; the "worker" then sends requests out of phase, replays
OPEN, forges the master's STORE_INIT naming another user, sends
malformed, oversized, wrongly versioned and unknown frames, and
descriptors. Each ends that storage process (exit 1, logged) without
touching the mailbox; a well-behaved session works.
"""
import os
import pwd
import socket
import struct
import subprocess

import harness
import sechelp as S

harness.require_root()
t = harness.TAP()
USER, OTHER = "ptsecstore", "ptsecstore2"
d = harness.Daemon(users=(USER, OTHER))
box = d.write_mbox(USER, harness.make_mbox([harness.message(1),
                                            harness.message(2)]))
other_box = d.write_mbox(OTHER, harness.make_mbox([harness.message(9)]))
pw = pwd.getpwnam(USER)
index = os.path.join(d.dir, "index", USER)
os.mkdir(index, 0o700)
os.chown(index, pw.pw_uid, pw.pw_gid)


def start_store():
    """(process, master channel, worker channel) of a fresh storage
    process initialised for USER."""
    m_ours, m_theirs = socket.socketpair()
    w_ours, w_theirs = socket.socketpair()
    fm, fw = m_theirs.fileno(), w_theirs.fileno()

    def setup():
        os.dup2(fm, 3)
        os.dup2(fw, 4)

    p = subprocess.Popen([S.builddir_file("postern-store")], env={},
                         close_fds=False, preexec_fn=setup,
                         user=pw.pw_uid, group=pw.pw_gid,
                         extra_groups=[harness.mail_gid()],
                         stdin=subprocess.DEVNULL)
    m_theirs.close()
    w_theirs.close()
    master, worker = S.Channel(m_ours), S.Channel(w_ours)
    master.send(S.frame(S.IPC_CONFIG, S.p_str(S.config_text(
        {"mailbox": d.spool + "/%u"}))))
    master.send(S.frame(S.IPC_STORE_INIT, S.p_u64(7) + S.p_str(USER) +
                        S.p_u32(pw.pw_uid) + S.p_str(box) + S.p_str(index)))
    return p, master, worker


def finish(p, master):
    """(exit status, log text) once the process has ended."""
    try:
        status = p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        status = p.wait()
    logs = []
    while True:
        f = master.recv(timeout=2)
        if f is None:
            break
        if f[0] == S.IPC_LOG:
            logs.append(S.parse_log(f[1])[1])
    return status, "\n".join(logs)


def request(mtype, payload=b""):
    return S.frame(mtype, payload)


before = (open(box, "rb").read(), open(other_box, "rb").read())
try:
    # A well-behaved worker.
    p, master, worker = start_store()
    worker.send(request(S.IPC_STORE_OPEN))
    f = worker.recv()
    t.ok(f is not None and f[0] == S.IPC_STORE_OPENED and
         struct.unpack("=I", f[1][:4])[0] == 2,
         "OPEN: the user's maildrop with 2 messages")
    worker.send(request(S.IPC_STORE_STAT))
    f = worker.recv()
    t.ok(f is not None and f[0] == S.IPC_STORE_STATUS, "STAT answered")
    worker.close()
    status, log = finish(p, master)
    t.eq(status, 0, "storage ends cleanly when the worker goes away")

    open_first = request(S.IPC_STORE_OPEN)
    cases = [
        ("a request before OPEN", [request(S.IPC_STORE_STAT)],
         "before a successful OPEN"),
        ("OPEN replayed", [open_first, open_first], "bad or repeated OPEN"),
        ("the master's STORE_INIT forged by the worker, naming another user",
         [open_first, request(S.IPC_STORE_INIT, S.p_u64(7) + S.p_str(OTHER) +
                              S.p_u32(0) + S.p_str(other_box) + S.p_str(""))],
         "unexpected STORE_INIT"),
        ("the forged STORE_INIT as the first message",
         [request(S.IPC_STORE_INIT, S.p_u64(7) + S.p_str(OTHER) + S.p_u32(0) +
                  S.p_str(other_box) + S.p_str(""))],
         "before a successful OPEN"),
        ("LIST without its argument", [open_first, request(S.IPC_STORE_LIST)],
         "bad STORE_LIST"),
        ("LIST with trailing bytes",
         [open_first, request(S.IPC_STORE_LIST, S.p_u32(1) + b"junk")],
         "bad STORE_LIST"),
        ("RETR with a short payload",
         [open_first, request(S.IPC_STORE_RETR, b"\x01")], "bad RETR"),
        ("RETR_AHEAD with trailing bytes",
         [open_first, request(S.IPC_STORE_RETR_AHEAD, S.p_u32(1) + b"x")],
         "bad RETR_AHEAD"),
        ("an oversized frame", [open_first, S.frame(S.IPC_STORE_STAT, b"",
                                                   length=S.IPC_MAX_PAYLOAD + 1)],
         "bad frame from the worker"),
        ("a wrong protocol version",
         [open_first, S.frame(S.IPC_STORE_STAT, b"", version=2)],
         "bad frame from the worker"),
        ("unknown flags", [open_first, S.frame(S.IPC_STORE_STAT, b"", flags=0x80)],
         "bad frame from the worker"),
        ("an unknown message type", [open_first, request(999)],
         "unexpected UNKNOWN (999)"),
        ("a reply type sent as a request",
         [open_first, request(S.IPC_STORE_OPENED, S.p_u32(0) + S.p_u64(0))],
         "unexpected STORE_OPENED"),
        ("message type 0", [open_first, request(0)], "bad frame from the worker"),
    ]
    for what, frames, logged in cases:
        p, master, worker = start_store()
        for fr in frames:
            try:
                worker.send(fr)
            except OSError:
                break
        status, log = finish(p, master)
        t.ok(status == 1 and logged in log,
             "%s: storage ends the session (status %s, log %r)"
             % (what, status, log[-160:]))
        worker.close()

    for announced in (True, False):
        p, master, worker = start_store()
        worker.send(open_first)
        worker.recv()
        a, b = socket.socketpair()
        worker.send(S.frame(S.IPC_STORE_STAT, b"",
                            flags=S.IPC_F_FD if announced else 0),
                    fds=[a.fileno()])
        a.close()
        b.close()
        status, log = finish(p, master)
        want = "worker sent a descriptor" if announced else \
            "bad frame from the worker"
        t.ok(status == 1 and want in log,
             "a descriptor from the worker (%s) ends the session (%r)"
             % ("announced" if announced else "unannounced", log[-120:]))
        worker.close()

    after = (open(box, "rb").read(), open(other_box, "rb").read())
    t.ok(after == before, "neither mailbox was changed by any of it")
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
finally:
    d.cleanup()
t.done()
