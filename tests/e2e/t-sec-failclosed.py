#!/usr/bin/env python3
"""
t-sec-failclosed.py - every confinement step fails closed. The
hook-enabled worker is told to fail one step at a time (the ids from
the master, empty_dir check, chroot, chdir, the check that "/" is the
chroot, setgroups, setresgid, setresuid, the proofs that root and gid 0
cannot be regained and that no capability survived, descriptors, each
rlimit, dumpable, no_new_privs, loading the seccomp filter, the proof
that the filter is in force): the client gets no greeting, only a
closed connection, the failure is logged, and so is the session's end
(one line). Real misconfigurations do the
same with the release worker (empty_dir made non-empty, writable or
seeded with a file of unpriv_user; a reload to an unpriv_user with gid
0 or none). Storage's
sandbox steps (Landlock, seccomp, ...) fail closed too. And the release
binaries contain none of the hooks.
"""
import os
import pwd
import signal
import subprocess
import time

import harness
import sechelp

harness.require_root()
t = harness.TAP()
USER = "ptsecfail"
GID0 = "ptsecgidzero"

# Each rlimit the role sets, then the filter's steps (with seccomp only).
RLIMITS = ["core", "fsize", "nproc", "memlock", "msgqueue"] + \
    ([] if sechelp.ASAN else ["as"]) + ["nofile"]   # ASan: no AS cap
STORE_RLIMITS = ["core", "nproc", "memlock", "msgqueue", "nofile"]
SECCOMP_STEPS = [
    ("seccomp", "loading the seccomp filter failed"),
    ("filter_in_force", "the seccomp filter is not in force"),
]
WORKER_STEPS = [
    ("unpriv_user", "unpriv_user: uid or gid 0 or -1 from the master"),
    ("empty_dir", "empty_dir: empty_dir check failed"),
    ("chroot", "privilege drop: chroot failed"),
    ("chdir", "privilege drop: chdir("),
    # Log lines escape '"' (\x22).
    ("chroot_root", "privilege drop: \\x22/\\x22 is not the chroot "
     "directory after chroot"),
    ("setgroups", "privilege drop: setgroups failed"),
    ("setresgid", "privilege drop: setresgid failed"),
    ("setresuid", "privilege drop: setresuid failed"),
    ("regain_root", "privilege drop: root could be regained"),
    ("regain_gid", "privilege drop: gid 0 could be regained"),
    ("caps", "privilege drop: capabilities survived the uid change"),
    ("close_fds", "sandbox: closing descriptors failed"),
] + [("rlimit_" + r, "sandbox: setrlimit(RLIMIT_%s) failed" % r.upper())
     for r in RLIMITS] + [
    ("dumpable", "sandbox: prctl(PR_SET_DUMPABLE, 0) failed"),
    ("no_new_privs", "sandbox: prctl(PR_SET_NO_NEW_PRIVS) failed"),
] + [(step, "sandbox: " + why) for step, why in SECCOMP_STEPS]
STORE_STEPS = [
    ("close_fds", "closing descriptors failed"),
] + [("rlimit_" + r, "setrlimit(RLIMIT_%s) failed" % r.upper())
     for r in STORE_RLIMITS] + [
    ("dumpable", "prctl(PR_SET_DUMPABLE, 0) failed"),
    ("no_new_privs", "prctl(PR_SET_NO_NEW_PRIVS) failed"),
    ("landlock_abi", "landlock_create_ruleset(VERSION) failed"),
    ("landlock_rule", "landlock_add_rule failed"),
    ("landlock", "landlock_restrict_self failed"),
] + SECCOMP_STEPS
FILTER_STEPS = [step for step, _ in SECCOMP_STEPS]


def no_greeting(d):
    """Connect; True if the server closed without sending a byte."""
    c = sechelp.connect(d)
    try:
        closed = c.closed(10)
        return closed and c.buf == b"", c.buf
    finally:
        c.close()


def greeted(d):
    c = sechelp.connect(d)
    try:
        return c.line().startswith(b"+OK")
    except (EOFError, OSError):
        return False
    finally:
        c.close()


def binary_has(name, needle):
    with open(os.path.join(harness.TOP_BUILDDIR, name), "rb") as f:
        return needle in f.read()


d = harness.Daemon(users=(USER,), config={"auth_fail_delay": "100"})
libexec = sechelp.hook_libexec(d.dir)
d.config["libexec_dir"] = libexec
d.write_config()
d.write_mbox(USER, harness.make_mbox([harness.message(1)]))
try:
    d.start()
    t.ok(greeted(d), "the hook worker greets when no step is failed")
    def end_lines():
        return [l for l in d.read_log().splitlines() if "session end: " in l]
    for step, why in WORKER_STEPS:
        if step in FILTER_STEPS and not sechelp.SECCOMP:
            t.ok(True, "# SKIP built --without-seccomp: no %s step" % step)
            continue
        sechelp.set_fail_step(libexec, step)
        needle = "confinement failed (%s" % why
        before = sechelp.log_count(d, needle)
        ends = len(end_lines())
        ok, got = no_greeting(d)
        t.ok(ok, "%s fails: connection closed without a greeting (got %r)"
             % (step, got))
        t.ok(harness.wait_for(lambda: sechelp.log_count(d, needle) > before, 10),
             "%s fails: logged \"%s\"" % (step, why))
        # A probe's session ("disconnected") may be logged late: only
        # the lines of sessions that failed count.
        harness.wait_for(lambda: any("worker failed" in l
                                     for l in end_lines()[ends:]), 10)
        time.sleep(0.2)
        new = [l for l in end_lines()[ends:] if 'reason="disconnected"' not in l]
        t.ok(len(new) == 1 and 'reason="worker failed (exit status 1)"' in new[0],
             "%s fails: one session-end line, the worker's failure (%s)"
             % (step, new))
    sechelp.set_fail_step(libexec, None)
    t.ok(greeted(d), "back to normal: greeting again")

    for step, why in STORE_STEPS:
        if step in FILTER_STEPS and not sechelp.SECCOMP:
            t.ok(True, "# SKIP built --without-seccomp: no %s step" % step)
            continue
        sechelp.set_store_fail_step(libexec, step)
        needle = "sandbox: %s; ending the session" % why
        before = sechelp.log_count(d, needle)
        c, r = sechelp.login(d, USER)
        t.ok(r.startswith(b"-ERR [SYS/TEMP]") or c.closed(5),
             "storage %s fails: the login ends in -ERR [SYS/TEMP] (%r)"
             % (step, r))
        t.ok(harness.wait_for(lambda: sechelp.log_count(d, needle) > before, 10),
             "storage %s fails: logged \"%s\"" % (step, why))
        c.close()
    # A kernel without Landlock is not a failure: storage goes on with
    # its uid and seccomp, and says so.
    sechelp.set_store_fail_step(libexec, "landlock_unavailable")
    c, r = sechelp.login(d, USER)
    t.ok(r.startswith(b"+OK"), "storage without Landlock in the kernel "
         "still serves (%r)" % r)
    t.ok(d.wait_log("Landlock is not available in this kernel"),
         "... and logs that it runs without Landlock")
    c.close()
    sechelp.set_store_fail_step(libexec, None)
    c, r = sechelp.login(d, USER)
    t.ok(r.startswith(b"+OK"), "back to normal: storage serves the login")
    c.cmd("QUIT")
    c.close()

    # ---- real misconfigurations, release worker ----
    os.unlink(os.path.join(libexec, "postern-pop3"))
    os.symlink(sechelp.builddir_file("postern-pop3"),
               os.path.join(libexec, "postern-pop3"))
    t.ok(greeted(d), "release worker greets")
    planted = os.path.join(d.empty, "planted")
    with open(planted, "w"):
        pass
    ok, got = no_greeting(d)
    t.ok(ok, "a file in empty_dir: no greeting")
    t.ok(d.wait_log("empty_dir: empty_dir is not empty"), "... logged")
    unpriv = pwd.getpwnam("postern")
    os.chown(planted, unpriv.pw_uid, unpriv.pw_gid)
    ok, got = no_greeting(d)
    t.ok(ok, "a file of unpriv_user in empty_dir: no greeting")
    t.ok(d.wait_log("unpriv_user owns files in empty_dir"), "... logged")
    os.unlink(planted)
    os.chmod(d.empty, 0o777)
    ok, got = no_greeting(d)
    t.ok(ok, "a world-writable empty_dir: no greeting")
    t.ok(d.wait_log("empty_dir must be owned by root and not writable"), "... logged")
    os.chmod(d.empty, 0o755)
    t.ok(greeted(d), "fixed: greeting again")

    # An unprivileged account that is not: gid 0 (uid 0 takes the same
    # check). The master looks the account up at start-up and at every
    # reload and refuses it both times; sessions keep the old account.
    # (The worker's own check of what the master sends is the
    # "unpriv_user" step above.)
    with harness._accounts_lock():
        subprocess.run(["userdel", GID0], stderr=subprocess.DEVNULL)
        subprocess.run(["groupdel", GID0], stderr=subprocess.DEVNULL)
        subprocess.run(["useradd", "--system", "--no-create-home", "-g", "0",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", GID0], check=True)
    d.config["unpriv_user"] = GID0
    d.write_config()
    r = subprocess.run([sechelp.builddir_file("postern"), "-t", "-c", d.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t.ok(r.returncode != 0 and b"has uid or gid 0" in r.stdout,
         "postern -t refuses an unpriv_user with gid 0")
    d.proc.send_signal(signal.SIGHUP)
    t.ok(d.wait_log("reload failed, keeping the old configuration: "
                    "unpriv_user %s has uid or gid 0" % GID0),
         "a reload to an unpriv_user with gid 0 is refused")
    t.ok(greeted(d), "... new sessions still start, as the old account")
    d.config["unpriv_user"] = "ptnosuchuser"
    d.write_config()
    d.proc.send_signal(signal.SIGHUP)
    t.ok(d.wait_log("reload failed, keeping the old configuration: "
                    "unpriv_user ptnosuchuser does not exist"),
         "a reload to an account that does not exist is refused")
    t.ok(greeted(d), "... new sessions still start, as the old account")
    d.config["unpriv_user"] = "root"
    d.write_config()
    r = subprocess.run([sechelp.builddir_file("postern"), "-t", "-c", d.conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t.ok(r.returncode != 0 and b"unpriv_user must be an unprivileged account"
         in r.stdout, "postern -t refuses unpriv_user = root")
    t.ok(d.proc.poll() is None, "the master survived all of it")
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    t.diag(d.read_log()[-3000:])
finally:
    d.cleanup()
    # Do not leave an account with gid 0 behind.
    with harness._accounts_lock():
        subprocess.run(["userdel", GID0], stderr=subprocess.DEVNULL)

# ---- the release binaries carry no hook ----
have_hooks = sechelp.configured("POSTERN_TEST_HOOKS")
for name in ("postern-pop3-hooks", "postern-pop3s-hooks"):
    t.ok(binary_has(name, sechelp.HOOK_MARKER) and
         binary_has(name, b"POSTERN_TEST_FAIL") and
         binary_has(name, b"POSTERN_TEST_IDLE_MS"),
         "(control) %s contains the hook markers" % name)
t.ok(binary_has("postern-store-hooks", b"POSTERN_TEST_PROBE_OPEN"),
     "(control) postern-store-hooks contains the open probe")
for name in ("postern-pop3", "postern-pop3s", "postern-store", "postern",
             "postern-auth"):
    if have_hooks:
        t.ok(True, "# SKIP configured --enable-test-hooks: %s is not a "
             "release build" % name)
        continue
    t.ok(not binary_has(name, sechelp.HOOK_MARKER) and
         not binary_has(name, b"POSTERN_TEST_FAIL") and
         not binary_has(name, b"POSTERN_TEST_IDLE_MS") and
         not binary_has(name, b"POSTERN_TEST_PROBE_OPEN"),
         "release %s contains no test hook (nor the idle override or "
         "the open probe)" % name)
t.done()
