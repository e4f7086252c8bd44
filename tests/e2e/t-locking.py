#!/usr/bin/env python3
"""
t-locking.py - exclusive sessions and the Debian mailbox locks, seen
through the daemon (lock_timeout = 1):
- a second session for the same user gets -ERR [IN-USE], also from a
  second daemon on the same spool and index (the engine's session lock,
  not only the master's one-session-per-uid rule);
- a dot-lock left by a dead process, or older than 10 minutes, is
  broken and the session works;
- a live dot-lock (dotlockfile from liblockfile-bin, procmail's
  lockfile, or a process holding it), a live fcntl lock, or a lock taken
  during the session (QUIT must then fail cleanly) make the server answer
  [SYS/TEMP], never [IN-USE] (RFC 2449 keeps that for another POP3
  session; a delivery holding the lock is RFC 3206's temporary
  condition), and leave the mailbox untouched;
- a dot-lock that is a symlink is never followed.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptclilk"
MSGS = [h.message(i) for i in range(1, 5)]
MBOX = cl.mbox_of(MSGS)
SEGS = cl.mbox_segments(MBOX)
LOCKED = b"-ERR [SYS/TEMP] "  # a lock held by an MDA, not another session

d = h.Daemon(users=(U,), config={"lock_timeout": "1", "auth_fail_delay": "0"})
d.write_mbox(U, MBOX)
d.start()
LOCK = d.mbox_path(U) + ".lock"
sessions = 0


def ended():
    global sessions
    sessions += 1
    return cl.wait_ended(d, U, sessions)


def busy_login(desc):
    """A login that must be refused as busy, leaving the mbox as it was."""
    before = d.read_mbox(U)
    p = cl.Pop(d, U)
    r = p.login_reply
    t.ok(r.startswith(LOCKED), "%s: login refused with [SYS/TEMP]: %r" % (desc, r))
    p.drop()
    ended()
    t.eq(d.read_mbox(U), before, "%s: mailbox untouched" % desc)


def helper(code):
    """A python process that takes a lock, says "locked", then sleeps
    until killed (stdin closed)."""
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)


def wait_ready(proc):
    line = proc.stdout.readline()
    return line.strip() == b"locked"


def finish(proc):
    proc.stdin.close()
    proc.wait(10)


HOLD_DOTLOCK = r'''
import os, sys
fd = os.open(%r, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b"%%d\n" %% os.getpid()); os.close(fd)
print("locked", flush=True); sys.stdin.read()
os.unlink(%r)
''' % (LOCK, LOCK)

HOLD_FCNTL = r'''
import fcntl, sys
f = open(%r, "r+b")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True); sys.stdin.read()
''' % d.mbox_path(U)

try:
    # --- [IN-USE]: a second session of the same user ------------------------
    p1 = cl.login(d, U)
    t.eq(p1.stat()[0], 4, "first session open")
    p2 = cl.Pop(d, U)
    t.ok(p2.login_reply.startswith(b"-ERR [IN-USE]"),
         "second session of the same user: %r" % p2.login_reply)
    p2.drop()
    ended()
    t.eq(p1.stat()[0], 4, "the first session is unaffected")
    t.ok(p1.cmd("DELE 1").startswith(b"+OK"), "first session: DELE 1")

    # A second daemon on the same spool and index directory: its master
    # knows nothing of the first session; the engine's session lock must.
    d2 = h.Daemon(users=(U,), config={"mailbox": d.config["mailbox"],
                                      "index_dir": d.config["index_dir"],
                                      "lock_timeout": "1", "auth_fail_delay": "0"})
    d2.start()
    try:
        q = cl.Pop(d2, U)
        t.ok(q.login_reply.startswith(b"-ERR [IN-USE]"),
             "a session through a second daemon gets [IN-USE]: %r" % q.login_reply)
        q.drop()
    finally:
        d2.cleanup()
    t.ok(p1.quit().startswith(b"+OK"), "first session: QUIT")
    ended()
    t.eq(d.read_mbox(U), b"".join(SEGS[1:]), "only the first session's DELE was applied")
    d.write_mbox(U, MBOX)
    p = cl.login(d, U)
    t.ok(p.logged_in, "after QUIT the user can log in again")
    p.quit()
    ended()

    # --- a stale dot-lock (dead pid) is broken ------------------------------
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(LOCK, "w") as f:
        f.write("%d\n" % dead.pid)
    os.chown(LOCK, 0, h.mail_gid())
    os.chmod(LOCK, 0o644)
    p = cl.Pop(d, U)
    t.ok(p.logged_in, "stale dot-lock of a dead process (pid %d): login works: %r"
         % (dead.pid, p.login_reply))
    if p.logged_in:
        t.eq(p.stat()[0], 4, "stale dot-lock: all messages seen")
        t.ok(p.cmd("DELE 4").startswith(b"+OK"), "stale dot-lock: DELE 4")
        t.ok(p.quit().startswith(b"+OK"), "stale dot-lock: QUIT")
    else:
        p.drop()
    ended()
    t.eq(d.read_mbox(U), b"".join(SEGS[:3]), "stale dot-lock: the expunge happened")
    t.ok(not os.path.lexists(LOCK), "the stale dot-lock is gone")
    d.write_mbox(U, MBOX)

    # --- live locks -----------------------------------------------------------
    proc = helper(HOLD_DOTLOCK)
    t.ok(wait_ready(proc), "a live process holds the dot-lock")
    busy_login("live dot-lock held by a running process")
    t.ok(os.path.exists(LOCK), "a live process's dot-lock is not broken")
    finish(proc)
    t.ok(not os.path.exists(LOCK), "released")

    proc = helper(HOLD_FCNTL)
    t.ok(wait_ready(proc), "a live process holds an fcntl lock on the mbox")
    busy_login("live fcntl lock")
    finish(proc)

    if shutil.which("dotlockfile"):
        # Its own process group, so that the sleep it runs goes too.
        dl = subprocess.Popen(["dotlockfile", "-l", "-p", "-r", "0", LOCK, "sleep", "30"],
                              start_new_session=True)
        deadline = time.time() + 10
        while not os.path.exists(LOCK) and time.time() < deadline:
            time.sleep(0.05)
        t.ok(os.path.exists(LOCK), "dotlockfile -p holds the dot-lock")
        busy_login("dot-lock held by dotlockfile (liblockfile)")
        os.killpg(dl.pid, 9)
        dl.wait()
        if os.path.exists(LOCK):
            os.unlink(LOCK)
    else:
        t.ok(False, "dotlockfile (package liblockfile-bin) is installed")

    # procmail's lockfile(1) writes "0", no pid: fresh, so it must be honoured.
    r = cl.run_client(["lockfile", "-r0", LOCK])
    t.eq(r.returncode, 0, "lockfile(1) took the dot-lock")
    busy_login("fresh dot-lock from procmail's lockfile (no pid)")
    t.ok(os.path.exists(LOCK), "a fresh pid-less dot-lock is not broken")
    os.unlink(LOCK)

    # The same pid-less lock, but 11 minutes old: stale by age.
    r = cl.run_client(["lockfile", "-r0", LOCK])
    old = time.time() - 660
    os.utime(LOCK, (old, old))
    p = cl.Pop(d, U)
    t.ok(p.logged_in, "a pid-less dot-lock older than 10 minutes is broken: %r" % p.login_reply)
    if p.logged_in:
        p.quit()
    else:
        p.drop()
    ended()
    t.ok(not os.path.lexists(LOCK), "the old dot-lock is gone")
    if os.path.lexists(LOCK):
        os.unlink(LOCK)

    p = cl.login(d, U)
    t.eq(p.stat()[0], 4, "every lock released: the session works")
    p.quit()
    ended()

    # --- a lock taken during the session: QUIT cannot commit -----------------
    p = cl.login(d, U)
    p.cmd("DELE 1")
    p.cmd("DELE 2")
    proc = helper(HOLD_DOTLOCK)
    t.ok(wait_ready(proc), "an MDA takes the dot-lock during the session")
    r = p.quit()
    t.ok(r.startswith(LOCKED),
         "QUIT while the mailbox stays locked answers -ERR [SYS/TEMP]: %r" % r)
    ended()
    t.eq(d.read_mbox(U), MBOX, "and deletes nothing")
    finish(proc)
    p = cl.login(d, U)
    t.eq(p.stat()[0], 4, "next session: all 4 messages still there")
    p.quit()
    ended()

    # --- a dot-lock that is a symlink is never followed ----------------------
    target = os.path.join(d.dir, "symlink-target")
    os.symlink(target, LOCK)
    p = cl.Pop(d, U)
    if p.logged_in:
        p.cmd("DELE 1")
        p.quit()
    else:
        t.ok(p.login_reply.startswith(b"-ERR ["), "symlinked dot-lock: refused with a code")
        p.drop()
    ended()
    t.ok(not os.path.exists(target), "nothing was created through a symlinked dot-lock")
    if os.path.islink(LOCK):
        os.unlink(LOCK)
    t.ok(d.read_mbox(U) in (MBOX, b"".join(SEGS[1:])), "the mailbox is intact")
finally:
    d.cleanup()
t.done()
