#!/usr/bin/env python3
"""
t-sec-hooks.py - a hostile worker. With the hook-enabled worker
(postern-pop3-hooks, built for "make check" only), a live, confined worker
is told to attack: open /etc/shadow and another user's mailbox (directly,
through "..", through /proc; before login and after, while it holds its
storage channel), create files, exec, create sockets,
connect, fork, start a thread, signal, ptrace and read the memory of
another worker, regain root, map executable memory; forge storage and
master messages naming another user; send the master malformed and
out-of-phase TLS reports; send the auth helper malformed,
oversized, out-of-phase and replayed requests. Every attempt fails with
an error or kills the worker (SIGSYS); the master logs it and keeps
serving; the other user's mailbox is never read.
"""
import os
import re
import time

import harness
import sechelp

harness.require_root()
if not sechelp.SECCOMP:
    harness.skip_all("built --without-seccomp: the worker has no system call "
                     "filter to attack (such a build is not for production)")
t = harness.TAP()
EVIL, VICTIM = "ptsechook", "ptsecvictim"
d = harness.Daemon(users=(EVIL, VICTIM), config={"auth_fail_delay": "100"})
d.config["libexec_dir"] = sechelp.hook_libexec(d.dir)
d.write_config()
d.write_mbox(EVIL, harness.make_mbox([harness.message(1)]))
secret = harness.message(7, extra=b"X-Secret: the victim's mail\n")
vpath = d.write_mbox(VICTIM, harness.make_mbox([secret]))
# atime older than mtime: any read of the victim's mailbox would update
# it (relatime), so an unchanged atime proves nobody read it.
vst = os.stat(vpath)
os.utime(vpath, (vst.st_mtime - 3600, vst.st_mtime))
atime0 = os.stat(vpath).st_atime
asan = sechelp.ASAN


def attack(c, name, arg=None):
    """Send the hook command; the reply line, or None if the worker died."""
    cmd = "XPOSTERN-ATTACK " + name + (" " + str(arg) if arg is not None else "")
    try:
        return c.cmd(cmd).decode()
    except (EOFError, OSError):
        return None


def sigsys_count():
    return sechelp.log_count(d, "killed by the sandbox (SIGSYS)")


def more_logged(needle, before, timeout=10):
    """Wait until needle is in the log more than `before` times."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sechelp.log_count(d, needle) > before:
            return True
        time.sleep(0.05)
    return False


def session_of(pattern):
    """The session id in the last log line matching pattern (a regex
    around the marker SESSION), or None."""
    ids = re.findall(pattern.replace("SESSION", r"session=(\d+)"), d.read_log())
    return ids[-1] if ids else None


def end_lines(sid, daemon=None):
    """The "session end" lines of session sid."""
    return [l for l in (daemon or d).read_log().splitlines()
            if "session end: " in l and " session=%s " % sid in l]


def one_end_line(sid, reason, timeout=10, daemon=None):
    """Wait for session sid's session-end line; true if there is exactly
    one and it gives reason."""
    harness.wait_for(lambda: end_lines(sid, daemon), timeout)
    time.sleep(0.2)     # a second line would follow at once
    lines = end_lines(sid, daemon)
    return len(lines) == 1 and ('reason="%s"' % reason) in lines[0], lines


def fresh():
    c = sechelp.connect(d)
    c.line()
    return c


# A worker that stops enforcing its own pre-authentication deadline is
# killed by the master's backstop: preauth_timeout + PAM's 30 s + the
# failure delay + the throttling cap + 10 s, here 45 s. It runs on a
# daemon of its own, from the start, while the rest of the test runs.
BACKSTOP_S = 5 + 30 + 10
d2 = harness.Daemon(users=(EVIL,), config={
    "preauth_timeout": "5", "auth_fail_delay": "0", "auth_throttle_max": "0"})
d2.config["libexec_dir"] = sechelp.hook_libexec(d2.dir)
d2.write_config()
stalled = None
try:
    d2.start()
    stalled = sechelp.connect(d2)
    stalled.line()
    stalled.send(b"XPOSTERN-ATTACK stall\r\n")
    stalled_at = time.time()
    d.start()
    deadline = time.time() + 10
    while time.time() < deadline and \
            not sechelp.role_pids(d.proc.pid, "postern-auth"):
        time.sleep(0.05)
    auth_pid = sechelp.role_pids(d.proc.pid, "postern-auth")

    # ---- attempts that fail with an error: the worker survives ----
    c = fresh()
    errno_cases = [
        ("open", "/etc/shadow", "EACCES"),
        ("open", vpath, "EACCES"),
        ("open", "../../../../../../etc/shadow", "EACCES"),
        ("open", "../../../../../.." + vpath, "EACCES"),
        ("open", "/proc/self/root/etc/shadow", "EACCES"),
        ("open", "/proc/1/root" + vpath, "EACCES"),
        ("openat", vpath, "EACCES"),
        ("openat2", vpath, "EACCES"),
        ("creat", None, "EACCES"),
        ("stat", vpath, "EACCES"),
    ]
    for name, arg, want in errno_cases:
        r = attack(c, name, arg)
        t.ok(r is not None and r.startswith("+OK %s rv=-1 errno=%s" % (name, want)),
             "%s %s fails with %s (%r)" % (name, arg or "", want, r))
    if not asan:
        r = attack(c, "malloc", 400)
        t.ok(r is not None and "rv=-1 errno=ENOMEM" in r,
             "a 400 MiB allocation fails: RLIMIT_AS (%r)" % r)
    t.eq(c.cmd("CAPA")[:3], b"+OK", "the worker still works after those")
    c.cmd("QUIT")
    c.close()

    # ---- attempts that kill the worker ----
    victim = fresh()
    vpid = sechelp.worker_pid(d, victim)
    t.ok(vpid is not None, "a second worker to attack (pid %s)" % vpid)
    deadly = ["mkdir", "exec", "socket", "socket-unix", "connect", "fork",
              "thread", ("kill", vpid), ("kill0", vpid), ("tgkill", vpid),
              ("ptrace", vpid), ("vmread", vpid), ("kill", 1), "setuid",
              "dumpable", "mmap-exec", "mprotect-exec"]
    for item in deadly:
        name, arg = item if isinstance(item, tuple) else (item, None)
        before = sigsys_count()
        c = fresh()
        pid = sechelp.worker_pid(d, c)
        r = attack(c, name, arg)
        closed = r is None or c.closed(5)
        t.ok(r is None and closed, "%s%s kills the worker (got %r)"
             % (name, " %s" % arg if arg else "", r))
        deadline = time.time() + 5
        while time.time() < deadline and sigsys_count() <= before:
            time.sleep(0.05)
        t.ok(sigsys_count() > before, "the master logged the SIGSYS death (%s)" % name)
        sid = session_of(r"SESSION rhost=\S+: postern-pop3\[%d\] killed by the sandbox" % pid)
        ok, lines = one_end_line(sid, "killed by the sandbox (SIGSYS)")
        t.ok(sid is not None and ok,
             "exactly one session-end line for it, reason SIGSYS (%s)" % lines)
        c.close()
    t.ok(os.path.exists("/proc/%d" % vpid) and victim.cmd("CAPA")[:3] == b"+OK",
         "the attacked worker is alive and serving")
    victim.multiline()
    t.ok(os.path.exists("/proc/1"), "init is alive")

    # ---- IPC attacks on the auth helper ----
    for name, why in [("auth-malformed", "malformed request"),
                      ("auth-unknown", "malformed request"),
                      ("auth-oversized", "bad frame"),
                      ("auth-twice", "request out of phase")]:
        c = fresh()
        r = attack(c, name)
        closed = c.closed(10)
        t.ok(closed, "%s: the session is ended (%r)" % (name, r))
        t.ok(d.wait_log("worker violated the auth protocol: " + why),
             "%s: the auth helper logs '%s'" % (name, why))
        sid = session_of(r"SESSION rhost=\S+: worker violated the auth protocol: " + why)
        ok, lines = one_end_line(sid, "ended by the auth helper: " + why)
        t.ok(sid is not None and ok,
             "%s: exactly one session-end line, the helper's reason (%s)"
             % (name, lines))
        c.close()
    t.ok(d.wait_log("ended at the auth helper's request"),
         "the master ends sessions at the auth helper's request")

    # ---- after authentication: forge, replay, oversize towards storage ----
    for name, arg, logged in [
            ("store-forge", VICTIM, "unexpected STORE_INIT"),
            ("store-replay", None, "bad or repeated OPEN"),
            ("store-oversized", None, "bad frame from the worker"),
            ("store-unknown", None, "unexpected UNKNOWN (999)")]:
        c, r = sechelp.login(d, EVIL)
        t.ok(r.startswith(b"+OK"), "%s: attacker logged in as itself" % name)
        r = attack(c, name, arg)
        t.ok(r is not None and "store-closed=yes" in r,
             "%s: storage ends the session instead of answering (%r)" % (name, r))
        t.ok(d.wait_log(logged), "%s: storage logs '%s'" % (name, logged))
        c.close()

    # ---- after login, holding its storage channel: still no files ----
    c, r = sechelp.login(d, EVIL)
    t.ok(r.startswith(b"+OK") and c.cmd("STAT").startswith(b"+OK"),
         "logged in as itself, storage answering")
    for name, arg in [("open", vpath), ("open", "../../../../../.." + vpath),
                      ("open", "/proc/self/root" + vpath),
                      ("open", "/proc/1/root" + vpath), ("openat", vpath),
                      ("openat2", vpath), ("stat", vpath),
                      ("open", "/etc/shadow")]:
        r = attack(c, name, arg)
        t.ok(r is not None and r.startswith("+OK %s rv=-1 errno=EACCES" % name),
             "after login: %s %s fails with EACCES (%r)" % (name, arg, r))
    t.ok(c.cmd("STAT").startswith(b"+OK") and c.cmd("QUIT").startswith(b"+OK"),
         "after login: the session still works, and ends normally")
    c.close()

    c, r = sechelp.login(d, EVIL)
    r = attack(c, "auth-replay", VICTIM)
    t.ok(c.closed(10), "a replayed AUTH_REQUEST after login ends the session")
    t.ok(d.wait_log("request out of phase"), "... logged as out of phase")
    c.close()

    c = fresh()
    r = attack(c, "master-forge", VICTIM)
    t.ok(c.closed(10), "a forged AUTH_GRANTED to the master ends the session")
    t.ok(d.wait_log("unexpected AUTH_GRANTED from postern-pop3"),
         "... and the master logs it")
    c.close()

    # WORKER_TLS is decoded strictly and accepted once, before login:
    # names no handshake gives, or a second report, end the session.
    for arg, what in [("TLSv1.3" * 10, "an over-long version"),
                      ("TLS v1.3", "a version no handshake gives")]:
        before = sechelp.log_count(d, "unexpected WORKER_TLS from postern-pop3")
        c = fresh()
        r = attack(c, "master-tls", arg)
        t.ok(c.closed(10), "a WORKER_TLS with %s ends the session" % what)
        t.ok(more_logged("unexpected WORKER_TLS from postern-pop3", before),
             "... and the master logs it")
        c.close()
    c = fresh()
    r = attack(c, "master-tls", "TLSv1.3")
    t.ok(r is not None and r.startswith("+OK master-tls rv=0"),
         "one well-formed WORKER_TLS before login is taken (%r)" % r)
    before = sechelp.log_count(d, "unexpected WORKER_TLS from postern-pop3")
    attack(c, "master-tls", "TLSv1.3")
    t.ok(c.closed(10), "a second WORKER_TLS ends the session")
    t.ok(more_logged("unexpected WORKER_TLS from postern-pop3", before),
         "... and the master logs it")
    c.close()
    c, r = sechelp.login(d, EVIL)
    r = attack(c, "master-tls", "TLSv1.3")
    t.ok(c.closed(10), "a WORKER_TLS after login ends the session")
    c.close()

    # WORKER_STATS is the session-end line: taken once, a second one
    # (a forged extra line) ends the session without a second line.
    c, r = sechelp.login(d, EVIL)
    pid = sechelp.worker_pid(d, c)
    r = attack(c, "master-stats", "forged-one")
    t.ok(r is not None and r.startswith("+OK master-stats rv=0"),
         "a worker's first WORKER_STATS is taken (%r)" % r)
    t.ok(d.wait_log('reason="forged-one"'), "... as its session-end line")
    sid = session_of(r'session end: [^\n]* SESSION [^\n]*reason="forged-one"')
    before = sechelp.log_count(d, "unexpected WORKER_STATS from postern-pop3")
    attack(c, "master-stats", "forged-two")
    t.ok(c.closed(10), "a second WORKER_STATS ends the session")
    t.ok(more_logged("unexpected WORKER_STATS from postern-pop3", before),
         "... and the master logs it")
    t.ok(sechelp.wait_gone(pid), "... its worker is gone")
    time.sleep(0.2)
    lines = end_lines(sid)
    t.ok(sid is not None and len(lines) == 1 and "forged-one" in lines[0],
         "still exactly one session-end line for it (%s)" % lines)
    t.ok('reason="forged-two"' not in d.read_log(),
         "the second report was not logged")
    c.close()

    # ---- nobody read the victim's mailbox; the daemon keeps serving ----
    time.sleep(0.3)
    t.eq(os.stat(vpath).st_atime, atime0,
         "the victim's mailbox was never read (atime unchanged)")
    log = d.read_log()
    t.ok(not re.search(r"login ok: [^\n]*user=\"%s\"" % VICTIM, log),
         "no session was ever granted for the victim")
    t.ok(len(auth_pid) == 1 and
         sechelp.role_pids(d.proc.pid, "postern-auth") == auth_pid,
         "the auth helper was never restarted")
    c, r = sechelp.login(d, VICTIM)
    t.ok(r.startswith(b"+OK"), "the victim logs in normally afterwards")
    t.ok(c.cmd("RETR 1").startswith(b"+OK") and
         b"X-Secret: the victim's mail" in b"\n".join(c.multiline()),
         "and reads its own mail")
    c.cmd("QUIT")
    t.ok(os.stat(vpath).st_atime != atime0,
         "(control) a real read does change the mailbox's atime")
    t.ok(d.proc.poll() is None, "the master is still running")

    # ---- the stalled worker meets the master's backstop ----
    left = stalled_at + BACKSTOP_S + 15 - time.time()
    t.ok(d2.wait_log("pre-authentication deadline passed; killing worker",
                     max(left, 1)),
         "a worker that stalls before login is killed at the master's "
         "deadline")
    t.ok(stalled.closed(10), "... and its client is disconnected")
    sid = None
    for line in d2.read_log().splitlines():
        m = re.search(r"session=(\d+) rhost=\S+: pre-authentication deadline", line)
        if m:
            sid = m.group(1)
    ok, lines = one_end_line(sid, "pre-authentication deadline passed",
                             daemon=d2)
    t.ok(sid is not None and ok,
         "exactly one session-end line for it, the deadline as reason (%s)"
         % lines)
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    t.diag(d.read_log()[-4000:])
    t.diag(d2.read_log()[-2000:])
finally:
    if stalled is not None:
        stalled.close()
    d.cleanup()
    d2.cleanup()
t.done()
