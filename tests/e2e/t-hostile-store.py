#!/usr/bin/env python3
"""
t-hostile-store.py - a compromised storage process (it runs as the mail
user, so its user controls it) must not be able to hurt the root master.

Regression test for a use-after-free found by clang-tidy's analyzer: a
storage process that wrote a bad frame and exited after its worker was
gone made the master end (and free) the session while reaping it, then
read the freed session. The test replaces postern-store (in a private
libexec_dir) with a script that serves a minimal session, waits for the
worker to leave, then sends garbage and exits at once, several times.
The master must log the bad frame, stay up and keep serving; in
sanitizer builds the harness also checks that no report appeared.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import loadlib as L  # noqa: E402

ROUNDS = 6
FAKE_STORE = r'''#!/usr/bin/python3 -I
# A hostile postern-store: answers OPEN and COMMIT, then, once the worker
# has gone, writes garbage to the master and exits in the same instant.
import os, struct
W, M = 4, 3
def frame(t, p=b""):
    return struct.pack("<IHBB", len(p), t, 1, 0) + p
buf = b""
while True:
    data = os.read(W, 65536)
    if not data:
        break
    buf += data
    while len(buf) >= 8:
        n, t = struct.unpack("<IH", buf[:6])
        if len(buf) < 8 + n:
            break
        buf = buf[8 + n:]
        if t == 30:                              # STORE_OPEN
            os.write(W, frame(31, struct.pack("<IQ", 0, 0)))
        elif t == 44:                            # STORE_COMMIT
            os.write(W, frame(39, struct.pack("<Q", 0)))
        elif t == 42:                            # STORE_STAT
            os.write(W, frame(43, struct.pack("<IQ", 0, 0)))
os.write(M, b"\xff" * 64)
os._exit(0)
'''

h.require_root()
t = h.TAP()
USER = L.make_users("pthardh", 1)[0]
d = h.Daemon(users=())
libexec = os.path.join(d.dir, "libexec")
os.mkdir(libexec, 0o755)
for helper in ("postern-pop3", "postern-pop3s", "postern-auth"):
    os.symlink(os.path.join(h.TOP_BUILDDIR, helper), os.path.join(libexec, helper))
with open(os.path.join(libexec, "postern-store"), "w") as f:
    f.write(FAKE_STORE)
os.chmod(os.path.join(libexec, "postern-store"), 0o755)
d.config["libexec_dir"] = libexec
d.write_config()
d.write_mbox(USER, b"")
d.start()
try:
    master = d.proc.pid
    for i in range(ROUNDS):
        c = L.Client(d, L.source_addr(7, i))
        c.login(USER)
        # Hold the master still while the session ends, so that it finds
        # both exits and the garbage at once, as under load: the worker
        # and the storage are then reaped in one go, with the storage's
        # last frames read while reaping it.
        os.kill(master, signal.SIGSTOP)
        try:
            c.cmd("QUIT")
            c.closed(5)
            time.sleep(0.3)
        finally:
            os.kill(master, signal.SIGCONT)
        c.close()
        end = time.time() + 10
        while (time.time() < end and
               d.read_log().count("bad frame from postern-store") <= i):
            time.sleep(0.05)
    t.ok(d.wait_log("bad frame from postern-store", 5),
         "the master noticed the hostile storage's garbage")
    t.ok(d.proc.poll() is None, "the master is still running")
    c = L.Client(d, L.source_addr(7, 100))
    t.ok(c.line().startswith(b"+OK"), "and still accepts clients")
    c.close()
finally:
    d.cleanup()
t.done()
