#!/usr/bin/env python3
"""
t-expunge-large.py - an expunge that rewrites more than
STORE_COMMIT_ACK_MIN (8 MiB) is answered at its commit point, when the
intent journal is durable, and finished after the answer under the
mailbox locks. What a client and an MDA may rely on:

  1. QUIT says +OK; a program that takes the fcntl lock (as MUAs and
     MDAs do) then finds the mailbox rewritten, byte for byte, with no
     journal left;
  2. a login right after that +OK waits for the rewrite and sees the
     messages gone, UIDLs of the others unchanged;
  3. the storage process killed right after the +OK: the next login
     still finds the messages deleted (its recovery finishes the job);
  4. mail delivered by procmail (which takes the fcntl lock of its
     DEFAULT mailbox) while the rewrite runs is kept, after the
     survivors.
"""
import fcntl
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import sechelp as S  # noqa: E402

h.require_root()
t = h.TAP()
USER = "ptbigx"
d = h.Daemon(users=(USER,))
N = 130
SIZE = 100000       # ~13 MB in all: more than 8 MiB behind message 1
# One mbox block per message (From_ line, message, blank line), so that
# the expected mailbox is the original minus whole blocks.
blocks = [b"From sender@example.org Sat Nov 21 %02d:%02d:00 2026\n" %
          (i // 60, i % 60) + h.message(i, SIZE) + b"\n" for i in range(N)]


def write_box():
    d.write_mbox(USER, b"".join(blocks))


def expected(deleted):
    return b"".join(b for i, b in enumerate(blocks) if i not in deleted)


def locked_read():
    """The mailbox read under its fcntl lock, as a MUA would: waits for
    whatever session holds it (bounded by an alarm)."""
    def expired(*_):
        raise TimeoutError("mailbox still locked after 120 s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(120)
    try:
        with open(d.mbox_path(USER), "rb+") as f:
            fcntl.lockf(f, fcntl.LOCK_EX)
            data = f.read()
            fcntl.lockf(f, fcntl.LOCK_UN)
            return data
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def journals():
    idx = os.path.join(d.dir, "index", USER)
    found = os.listdir(idx) if os.path.isdir(idx) else []
    found += os.listdir(d.spool)
    return [f for f in found if "journal" in f]


def login():
    c, r = S.login(d, USER)
    if not r.startswith(b"+OK"):
        raise RuntimeError("login: %r" % r)
    return c


def session(dele):
    c = login()
    for n in dele:
        r = c.cmd("DELE %d" % n)
        if not r.startswith(b"+OK"):
            raise RuntimeError("DELE %d: %r" % (n, r))
    return c


def uidls(c):
    c.send(b"UIDL\r\n")
    if not c.line().startswith(b"+OK"):
        raise RuntimeError("UIDL refused")
    return [l.split()[1] for l in c.multiline()]


d.start()
try:
    # 1. QUIT's +OK, then the mailbox under its lock.
    write_box()
    c = session([])
    before = uidls(c)
    c.cmd("DELE 1")
    r = c.cmd("QUIT")
    c.close()
    t.ok(r.startswith(b"+OK"), "QUIT after DELE 1 of %d messages: %r" %
         (N, r[:40]))
    t.ok(locked_read() == expected({0}), "under the fcntl lock the "
         "mailbox is the expunged one, byte for byte")
    t.ok(h.wait_for(lambda: not journals(), 30), "no journal left")

    # 2. A login right after the +OK waits for the rewrite. The storage
    # process is stopped right after the +OK to make "right after"
    # certain: the new session must wait, not answer [IN-USE].
    c = session([2, 4])
    c.send(b"QUIT\r\n")
    stores = S.role_pids(d.proc.pid, "postern-store")
    r = c.line()
    c.close()
    signalled = []
    for p in stores:
        try:
            os.kill(p, signal.SIGSTOP)
            signalled.append(p)
        except ProcessLookupError:
            pass

    def state(p):
        try:
            with open("/proc/%d/stat" % p) as f:
                return f.read().split(")")[-1].split()[0]
        except OSError:
            return "gone"
    h.wait_for(lambda: all(state(p) in ("T", "Z", "gone")
                           for p in signalled), 5)
    stopped = [p for p in signalled if state(p) == "T"]
    box = {}

    def relogin():
        try:
            c2, r2 = S.login(d, USER)
            box["pass"] = r2
            box["stat"] = c2.cmd("STAT")
            box["uidls"] = uidls(c2)
            c2.cmd("QUIT")
            c2.close()
        except Exception as e:  # reported below
            box["error"] = repr(e)
    th = threading.Thread(target=relogin)
    th.start()
    if stopped:
        t.ok(d.wait_log("waiting for the previous session to finish its "
                        "expunge", 20), "a login while the expunge is "
             "finishing waits for it")
        t.ok("stat" not in box, "and has no answer while it is stopped")
    else:
        t.diag("the storage process had finished before it could be "
               "stopped: the wait was not exercised")
    for p in signalled:
        try:
            os.kill(p, signal.SIGCONT)
        except ProcessLookupError:
            pass
    th.join(60)
    t.ok(r.startswith(b"+OK") and box.get("pass", b"").startswith(b"+OK")
         and box.get("stat", b"").split()[1:2] == [b"%d" % (N - 3)],
         "the next login at once: %r, STAT %r after deleting 2 more" %
         (box.get("pass", box.get("error")), box.get("stat")))
    t.eq(box.get("uidls"),
         [before[i] for i in range(N) if i not in (0, 2, 4)],
         "the survivors keep their UIDLs")
    t.ok(locked_read() == expected({0, 2, 4}), "mailbox byte-exact")

    # 3. Storage killed right after the +OK.
    killed = 0
    for rnd in range(3):
        write_box()
        c = session([2 + rnd])
        c.send(b"QUIT\r\n")
        stores = S.role_pids(d.proc.pid, "postern-store")
        r = c.line()
        for p in stores:
            try:
                os.kill(p, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        c.close()
        t.ok(r.startswith(b"+OK"), "round %d: QUIT +OK" % rnd)
        c = login()
        st = c.cmd("STAT")
        c.cmd("QUIT")
        c.close()
        t.ok(st.split()[1] == b"%d" % (N - 1), "round %d: storage killed "
             "after the +OK; the next login finds the message deleted (%r)"
             % (rnd, st[:30]))
        t.ok(locked_read() == expected({1 + rnd}), "round %d: mailbox "
             "byte-exact" % rnd)
    t.diag("storage processes killed while alive: %d of 3" % killed)

    # 4. procmail delivers while the rewrite runs.
    write_box()
    rc = os.path.join(d.dir, "procmailrc")
    with open(rc, "w") as f:
        f.write("DEFAULT=%s\n" % d.mbox_path(USER))
    new = h.message(999)
    c = session([1])
    r = c.cmd("QUIT")
    c.close()
    p = subprocess.run(["procmail", "-m", rc], input=b"From new@example.org"
                       b" Sat Nov 21 11:00:00 2026\n" + new,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    data = locked_read()
    t.ok(r.startswith(b"+OK") and p.returncode == 0, "QUIT +OK, procmail "
         "delivered (%d %r)" % (p.returncode, p.stderr[-200:]))
    t.ok(data.startswith(expected({0})) and
         data[len(expected({0})):].startswith(b"From new@example.org") and
         new.split(b"\n")[0] in data[len(expected({0})):],
         "the delivery follows the survivors, nothing lost")
finally:
    d.stop()
    d.cleanup()
t.done()
