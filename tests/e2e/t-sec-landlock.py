#!/usr/bin/env python3
"""
t-sec-landlock.py - what a live storage process can open once it is
confined. The hook-enabled storage (postern-store-hooks) tries a list of
paths right after sandbox_enter() in a real session: its own mailbox
opens; a world-readable file elsewhere (/etc/passwd, a file beside the
spool, /proc) is refused by Landlock, which allows only the mailbox's
directory and the index directory. This checks the directories the real
session passes, which test-sandbox (with its own directories) cannot.
"""
import os

import harness
import sechelp

harness.require_root()
t = harness.TAP()
USER = "ptseclandlock"
d = harness.Daemon(users=(USER,))
d.config["libexec_dir"] = sechelp.hook_libexec(d.dir)
d.write_config()
mbox = d.write_mbox(USER, harness.make_mbox([harness.message(1)]))
beside = os.path.join(d.dir, "beside-the-spool")
with open(beside, "w") as f:
    f.write("world-readable, outside the mailbox's directory\n")
os.chmod(beside, 0o644)
PATHS = [mbox, "/etc/passwd", beside, "/proc/self/status"]
sechelp.set_store_probe(d.config["libexec_dir"], PATHS)


def probe(log, path):
    needle = "test probe: open %s: " % path
    for line in log.splitlines():
        if needle in line:
            return line.split(needle, 1)[1].strip()
    return None


try:
    d.start()
    c, r = sechelp.login(d, USER)
    t.ok(r.startswith(b"+OK"), "login through the probing storage")
    t.ok(harness.wait_for(lambda: probe(d.read_log(), PATHS[-1]) is not None, 10),
         "storage logged its probes")
    c.cmd("QUIT")
    c.close()
    log = d.read_log()
    t.eq(probe(log, mbox), "ok", "the confined storage opens its mailbox")
    if "Landlock is not available" in log or "Landlock is blocked" in log:
        for p in PATHS[1:]:
            t.ok(True, "# SKIP no Landlock in this kernel: %s not checked" % p)
    else:
        for p, what in [("/etc/passwd", "a world-readable system file"),
                        (beside, "a world-readable file beside the spool"),
                        ("/proc/self/status", "/proc")]:
            t.eq(probe(log, p), "EACCES",
                 "Landlock refuses %s (%s)" % (what, p))
finally:
    d.stop()
t.done()
