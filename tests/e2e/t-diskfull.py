#!/usr/bin/env python3
"""
t-diskfull.py - the file system gives out during the expunge: the
client gets -ERR [SYS/TEMP], the mailbox is byte for byte what it was,
and once there is room again the next session expunges normally.

The spool and the index directory (where the expunge journal goes when
there is one) are small tmpfs mounts of their own, so they can be
filled and remounted read-only without touching the rest of the system.

  1. index file system full when QUIT writes the journal;
  2. index file system read-only: storage works without the index;
  3. no index: the journal goes to the spool, and the spool is full;
  4. spool read-only when a session starts: [SYS/TEMP], not [SYS/PERM].
"""
import os
import pwd
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import loadlib as L  # noqa: E402

h.require_root()
users = L.make_users("pthardd", 3)
UA, UB, UC = users
d = h.Daemon(users=())
idxfs = os.path.join(d.dir, "idxfs")
os.mkdir(idxfs, 0o755)
mounts = []


def mount_tmpfs(path, size, mode, gid=0):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%s,mode=%s,gid=%d" % (size, mode, gid),
                        "pthard-tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        h.skip_all("cannot mount a tmpfs here (%s)" % r.stderr.decode().strip())
    mounts.append(path)


def remount(path, mode):
    # The client has its QUIT answer before the last session's storage
    # process has closed its files and exited; on a loaded machine a
    # read-only remount right after can still find a file open for
    # writing ("busy"). Retry for a while rather than fail on timing.
    deadline = time.time() + 15
    while True:
        r = subprocess.run(["mount", "-o", "remount," + mode, path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = r.stderr.decode().strip()
        if r.returncode == 0 or "busy" not in err or time.time() > deadline:
            return r.returncode == 0, err
        time.sleep(0.1)


mount_tmpfs(idxfs, "512k", "0755")
# Like /var/mail: root:mail 2775.
mount_tmpfs(d.spool, "2m", "2775", h.mail_gid())
t = h.TAP()
d.config["index_dir"] = idxfs + "/%u"
d.write_config()
# UC has no usable index: its index directory belongs to someone else,
# so the master runs its sessions without one (journal in the spool).
os.mkdir(os.path.join(idxfs, UC), 0o700)
os.chown(os.path.join(idxfs, UC), pwd.getpwnam("nobody").pw_uid, 0)


def mbox_blocks(user, n):
    out = []
    for i in range(n):
        m = L.load_message(user, "%s-%d" % (user, i)) + b"z" * 20000 + b"\n"
        body = b"".join(b">" + l if l.startswith(b"From ") else l
                        for l in m.splitlines(True))
        out.append(b"From load@example.org Sun Nov 22 10:00:%02d 2026\n" % i
                   + body + b"\n")
    return out


def fill(path):
    """Fill the file system at path; returns the filler file."""
    f = os.path.join(path, ".filler")
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return f


def session(user, idx, dele=None):
    """Log in, DELE dele (if any), run between() and QUIT; returns the
    QUIT answer."""
    c = L.Client(d, L.source_addr(6, idx))
    c.login(user)
    if dele:
        r = c.cmd("DELE %d" % dele)
        if not r.startswith(b"+OK"):
            raise RuntimeError("DELE: %r" % r)
    return c


def quit_(c):
    try:
        r = c.cmd("QUIT")
    finally:
        c.close()
    return r


def stat(user, idx):
    c = L.Client(d, L.source_addr(6, idx))
    c.login(user)
    n = int(c.cmd("STAT").split()[1])
    quit_(c)
    return n


d.start()
try:
    # 1. Index file system full when the journal is written.
    bl = mbox_blocks(UA, 4)
    d.write_mbox(UA, b"".join(bl))
    t.eq(stat(UA, 1), 4, "full index fs: first session sees 4 messages")
    c = session(UA, 2, dele=1)
    filler = fill(idxfs)
    r = quit_(c)
    t.ok(r.startswith(b"-ERR [SYS/TEMP]"), "full index fs: QUIT answers "
         "-ERR [SYS/TEMP] (%r)" % r)
    t.ok(d.read_mbox(UA) == b"".join(bl), "full index fs: mailbox unchanged")
    os.unlink(filler)
    t.eq(stat(UA, 3), 4, "full index fs: the deletion was not applied")
    t.ok(quit_(session(UA, 4, dele=1)).startswith(b"+OK"),
         "full index fs: with room again, QUIT expunges")
    t.ok(d.read_mbox(UA) == b"".join(bl[1:]), "full index fs: exactly "
         "message 1 is gone")

    # 2. Index file system read-only. (Linux refuses to remount a file
    # system read-only while a file on it is open for writing, and a
    # session holds its lock file open, so this happens between
    # sessions.) Storage must work without the index, journal included.
    bl = mbox_blocks(UB, 3)
    d.write_mbox(UB, b"".join(bl))
    t.eq(stat(UB, 5), 3, "read-only index fs: a first session writes the index")
    ok, err = remount(idxfs, "ro")
    t.ok(ok, "read-only index fs: remounted (%s)" % (err or "ok"))
    r = quit_(session(UB, 6, dele=2))
    remount(idxfs, "rw")
    t.ok(r.startswith(b"+OK"), "read-only index fs: QUIT expunges without "
         "the index (%r)" % r)
    t.ok(d.read_mbox(UB) == bl[0] + bl[2], "read-only index fs: exactly "
         "message 2 is gone")
    t.ok(d.wait_log("working without an index", 1),
         "read-only index fs: storage said it worked without the index")

    # 3. No index: the journal goes to the spool, which is full.
    bl = mbox_blocks(UC, 3)
    d.write_mbox(UC, b"".join(bl))
    c = session(UC, 7, dele=3)
    filler = fill(d.spool)
    r = quit_(c)
    os.unlink(filler)
    t.ok(d.wait_log("running without an index", 1),
         "full spool: the session ran without an index")
    t.ok(r.startswith(b"-ERR [SYS/TEMP]"), "full spool: QUIT answers "
         "-ERR [SYS/TEMP] (%r)" % r)
    t.ok(d.read_mbox(UC) == b"".join(bl), "full spool: mailbox unchanged")
    # The session lock file (".NAME.postern-session") stays by design.
    leftovers = [f for f in os.listdir(d.spool) if f not in users
                 and not f.endswith(".postern-session")]
    t.eq(leftovers, [], "full spool: no journal, dot-lock or temporary "
         "file left behind")
    t.ok(quit_(session(UC, 8, dele=3)).startswith(b"+OK"),
         "full spool: with room again, QUIT expunges")
    t.ok(d.read_mbox(UC) == b"".join(bl[:2]), "full spool: exactly message 3 "
         "is gone")

    # 4. Spool read-only when the session starts.
    before = d.read_mbox(UA)
    ok, err = remount(d.spool, "ro")
    t.ok(ok, "read-only spool: remounted (%s)" % (err or "ok"))
    c = L.Client(d, L.source_addr(6, 9))
    c.line()
    c.cmd("USER " + UA)
    r = c.cmd("PASS " + h.TEST_PASSWORD)
    c.close()
    remount(d.spool, "rw")
    t.ok(r.startswith(b"-ERR [SYS/TEMP]"), "read-only spool: login answers "
         "-ERR [SYS/TEMP] (%r)" % r)
    t.ok(d.read_mbox(UA) == before, "read-only spool: mailbox unchanged")
    t.eq(stat(UA, 10), 3, "read-only spool: writable again, the mailbox opens")
finally:
    d.stop()
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", m])
    d.cleanup()
t.done()
