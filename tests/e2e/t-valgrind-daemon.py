#!/usr/bin/env python3
"""
t-valgrind-daemon.py - the two long-lived processes, the master and the
auth helper, under valgrind memcheck for many logins (and some failed
ones): no memory error in them (or in the PAM children the helper
forks), no definite or indirect leak at exit, and no descriptor left
behind per session.

The master runs under valgrind directly (--trace-children=no: workers
and storage are exec'd natively). It starts the auth helper by path from
libexec_dir, so the test points libexec_dir at a directory where
postern-auth is a script that execs valgrind on the real one, and the
other helpers are links to the real ones.
"""
import os
import poplib
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

# make check: 60 logins (~40 s); tests/soak.sh runs 500. Each login under
# valgrind costs about half a second of CPU (PAM modules loaded per child).
LOGINS = int(os.environ.get("POSTERN_VALGRIND_LOGINS", "60"))
FAILS = 20
THREADS = 4
USERS = ["pthardvg%d" % i for i in range(THREADS)]

h.require_root()
if h.sanitizer_build():
    h.skip_all("valgrind cannot run sanitizer builds (use the release build)")
VALGRIND = shutil.which("valgrind")
if VALGRIND is None:
    h.skip_all("valgrind is not installed (apt-get install valgrind)")

t = h.TAP()
# One user per thread: a mailbox serves one session at a time.
d = h.Daemon(users=USERS, config={"auth_fail_delay": "0"})
MSGS = [h.message(1), h.message(2, size=3000), h.message(3)]
for u in USERS:
    # A cheap hash: yescrypt under valgrind takes seconds per login.
    with h._accounts_lock():
        h.run(["chpasswd", "-c", "SHA512", "-s", "1000"],
              input=("%s:%s\n" % (u, h.TEST_PASSWORD)).encode())
    d.write_mbox(u, h.make_mbox(MSGS))

vgdir = os.path.join(d.dir, "valgrind")
libexec = os.path.join(d.dir, "libexec")
os.mkdir(vgdir)
os.mkdir(libexec, 0o755)
VG = [VALGRIND, "--tool=memcheck", "--leak-check=full",
      "--show-leak-kinds=definite,indirect",
      "--errors-for-leak-kinds=definite,indirect",
      "--suppressions=" + os.path.join(h.TOP_SRCDIR, "tests", "valgrind.supp"),
      "--trace-children=no", "--child-silent-after-fork=no"]
for helper in ("postern-pop3", "postern-pop3s", "postern-store"):
    os.symlink(os.path.join(h.TOP_BUILDDIR, helper), os.path.join(libexec, helper))
wrapper = os.path.join(libexec, "postern-auth")
with open(wrapper, "w") as f:
    # The master gives its children an empty environment: absolute paths.
    f.write("#!/bin/sh\nexec %s --log-file=%s/auth.%%p.log %s\n" % (
        " ".join(VG), vgdir, os.path.join(h.TOP_BUILDDIR, "postern-auth")))
os.chmod(wrapper, 0o755)
d.config["libexec_dir"] = libexec
d.write_config()
d.wrapper = VG + ["--log-file=%s/master.%%p.log" % vgdir]


def login(user, ok=True):
    p = poplib.POP3(d.host, d.port, timeout=120)
    try:
        p.user(user)
        if not ok:
            try:
                p.pass_("wrong password")
            except poplib.error_proto:
                return "refused"
            return "accepted?!"
        p.pass_(h.TEST_PASSWORD)
        n = p.stat()[0]
        p.retr(1 + n // 2)
        p.quit()
        return "ok"
    finally:
        p.close()


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def auth_pid():
    m = re.findall(r"auth helper started, pid (\d+)", d.read_log())
    return int(m[-1]) if m else None


errors = []
results = {"ok": 0, "refused": 0}
lock = threading.Lock()


def worker(user, n, ok):
    for _ in range(n):
        try:
            r = login(user, ok)
        except Exception as e:  # noqa: BLE001 - reported as a test failure
            r = "error: %r" % e
        with lock:
            if r in results:
                results[r] += 1
            else:
                errors.append(r)


d.start()
try:
    master = d.proc.pid
    # Warm-up: the first sessions load PAM modules, NSS and OpenSSL.
    for u in USERS:
        login(u)
    time.sleep(0.5)
    apid = auth_pid()
    fd_master, fd_auth = fds(master), fds(apid)
    started = time.time()
    threads = [threading.Thread(target=worker, args=(u, LOGINS // THREADS, True))
               for u in USERS]
    threads.append(threading.Thread(target=worker, args=(USERS[0], FAILS, False)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.diag("%d logins and %d failed ones in %.1f s under valgrind" % (
        LOGINS, FAILS, time.time() - started))
    t.eq(errors, [], "every session behaved")
    t.eq(results["ok"], LOGINS // THREADS * THREADS, "every login succeeded")
    t.eq(results["refused"], FAILS, "every wrong password was refused")
    t.eq(auth_pid(), apid, "the auth helper was never restarted")
    # Sessions end asynchronously (storage exits after the worker).
    deadline = time.time() + 30
    while time.time() < deadline and (fds(master), fds(apid)) != (fd_master, fd_auth):
        time.sleep(0.2)
    t.eq(fds(master), fd_master, "master: no descriptor left per session")
    t.eq(fds(apid), fd_auth, "auth helper: no descriptor left per session")
finally:
    d.stop()

# The master asks the auth helper to stop as it exits; under valgrind the
# helper needs a moment more to write its summary: wait for it to exit.
deadline = time.time() + 60
while time.time() < deadline and os.path.exists("/proc/%d" % apid):
    time.sleep(0.2)

logs = {}
for name in sorted(os.listdir(vgdir)):
    with open(os.path.join(vgdir, name), errors="replace") as f:
        logs[name] = f.read()
main_logs = {"master.%d.log" % master: "master",
             "auth.%d.log" % apid: "auth helper"}
ERR = re.compile(r"^==\d+== (Invalid (read|write|free)|Conditional jump|"
                 r"Use of uninitialised|Syscall param|Mismatched free|"
                 r"Source and destination overlap|Argument .* fishy)", re.M)
for name, role in main_logs.items():
    text = logs.get(name, "")
    t.ok(text != "", "valgrind log of the %s exists" % role)
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    t.ok(summary is not None and summary.group(1) == "0",
         "%s: valgrind reports 0 errors (memory errors and definite or "
         "indirect leaks) after %d sessions" % (role, LOGINS))
    if summary is None or summary.group(1) != "0":
        t.diag("\n".join(text.splitlines()[-60:]))
    leaks = re.search(r"definitely lost: ([\d,]+) bytes", text)
    t.ok(leaks is None or leaks.group(1) == "0", "%s: nothing definitely lost" % role)
children = [n for n in logs if n not in main_logs]
pam = [n for n in children if n.startswith("auth.")]
bad = [n for n in children if ERR.search(logs[n])]
t.ok(len(pam) >= LOGINS, "valgrind followed %d PAM children of the auth helper"
     % len(pam))
t.eq(bad, [], "no memory error in any PAM child, nor in the master's "
     "children before exec")
for n in bad[:2]:
    t.diag(logs[n][:3000])
d.cleanup()
t.done()
