"""
loadlib.py - helpers shared by the load, soak and fault tests: many
users with cheap password hashes, clients bound to their own loopback
source address (so per-address limits apply per client, as with real
clients), deliveries through procmail (a real MDA with Debian's fcntl +
dot-lock protocol), and process measurements from /proc.
"""
import email
import mailbox
import os
import re
import shutil
import socket
import subprocess

import harness as h
from sechelp import children  # noqa: F401 (t-faults uses L.children)

PROCMAIL = shutil.which("procmail") or "/usr/bin/procmail"


def make_users(prefix, n):
    """n real accounts prefix000... with the test password, hashed with
    SHA-512 at 1000 rounds: yescrypt's cost would dominate a load test
    (the hash is PAM's business, not postern's)."""
    names = ["%s%03d" % (prefix, i) for i in range(n)]
    with h._accounts_lock():
        for u in names:
            h._ensure_user(u, None, False)
        h.run(["chpasswd", "-c", "SHA512", "-s", "1000"],
              input="".join("%s:%s\n" % (u, h.TEST_PASSWORD)
                            for u in names).encode())
    return names


def source_addr(group, i):
    """A distinct loopback source address: 127.<group>.<i / 250>.<i % 250 + 1>."""
    return "127.%d.%d.%d" % (group, i // 250, i % 250 + 1)


class Client(h.RawClient):
    """A raw POP3 connection from a chosen loopback source address."""

    def __init__(self, d, src, timeout=60):
        s = socket.create_connection((d.host, d.port), timeout,
                                     source_address=(src, 0))
        super().__init__(s)

    def login(self, user):
        greeting = self.line()
        if not greeting.startswith(b"+OK"):
            raise RuntimeError("greeting %r" % greeting)
        if not self.cmd("USER " + user).startswith(b"+OK"):
            raise RuntimeError("USER refused")
        r = self.cmd("PASS " + h.TEST_PASSWORD)
        if not r.startswith(b"+OK"):
            raise RuntimeError("PASS: %r" % r)
        return r

    def retr(self, n):
        """Message n as the client sees it: lines, dot-unstuffed."""
        r = self.cmd("RETR %d" % n)
        if not r.startswith(b"+OK"):
            raise RuntimeError("RETR %d: %r" % (n, r))
        return [l[1:] if l.startswith(b".") else l for l in self.multiline()]

    def listing(self, cmd="LIST"):
        r = self.cmd(cmd)
        if not r.startswith(b"+OK"):
            raise RuntimeError("%s: %r" % (cmd, r))
        return [l.split() for l in self.multiline()]


def load_message(user, tag):
    """A message that names its owner and tag; it has a "From " body line
    (quoted in the mbox, restored by RETR) and a dot line."""
    return (b"From: Load Test <load@example.org>\n"
            b"To: %s@example.org\n"
            b"Subject: load %s\n"
            b"Message-ID: <%s@load.test>\n"
            b"\n"
            b"Body of %s for %s.\n"
            b"From here the body goes on.\n"
            b".a line with a leading dot\n"
            b"end\n" % (user.encode(), tag.encode(), tag.encode(),
                        tag.encode(), user.encode()))


def msgid(lines_or_bytes):
    text = (b"\n".join(lines_or_bytes) if isinstance(lines_or_bytes, list)
            else lines_or_bytes)
    m = re.search(rb"^Message-ID: <([^>]*)>", text, re.M | re.I)
    return m.group(1).decode() if m else None


_RC = None


def deliver(d, user, msg, when="Sun Nov 22 07:00:00 2026"):
    """Deliver msg to user's mailbox in d's spool with procmail (as root,
    in filter mode: its own locking, fcntl + dot-lock, and From-quoting).
    Returns procmail's exit status (0: delivered)."""
    global _RC
    rc = os.path.join(d.dir, "procmailrc")
    if _RC != rc:
        with open(rc, "w") as f:
            f.write("SHELL=/bin/sh\nLOCKTIMEOUT=1024\n:0:\n$MBOX\n")
        _RC = rc
    data = b"From load@example.org %s\n" % when.encode() + msg
    r = subprocess.run([PROCMAIL, "-m", "MBOX=" + d.mbox_path(user), rc],
                       input=data, env={"PATH": "/usr/bin:/bin"},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode


def mbox_ids(path):
    """Message-IDs in an mbox file, in order, as Python's mailbox sees them."""
    if not os.path.exists(path):
        return []
    box = mailbox.mbox(path, create=False)
    try:
        return [(m.get("Message-ID") or "").strip("<>") for m in box]
    finally:
        box.close()


def pss_kb(pid):
    """Proportional set size of a process, in KiB."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def auth_pid(d):
    m = re.findall(r"auth helper started, pid (\d+)", d.read_log())
    return int(m[-1]) if m else None


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def parse_message(data):
    return email.message_from_bytes(data)
