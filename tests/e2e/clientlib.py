"""
clientlib.py - helpers shared by the client-compatibility and mailbox
end-to-end tests (t-transaction, t-client-*, t-delivery, t-locking,
t-uidl, t-malformed): a small POP3 session object on top of
harness.RawClient that undoes dot-stuffing, an mbox splitter to compare
the file on disk with what the tests wrote, and waits on the daemon log
instead of sleeps.
"""
import hashlib
import os
import subprocess
import time

import harness as h


def sha(data):
    return hashlib.sha256(data).hexdigest()


def file_sha(path):
    try:
        with open(path, "rb") as f:
            return sha(f.read())
    except FileNotFoundError:
        return None


def mbox_segments(data):
    """Split an mbox into its raw segments, each starting with its From_
    line and running up to the next one (the separating blank line
    included). Only the tests' own mboxes are split this way: their
    bodies never hold an unquoted "From " line."""
    segs = []
    start = None
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        if data.startswith(b"From ", pos) and (pos == 0 or data[pos - 1:pos] == b"\n"):
            if start is not None:
                segs.append(data[start:pos])
            start = pos
        pos = end
    if start is not None:
        segs.append(data[start:])
    return segs


def segment_message(seg):
    """The message an MDA stored in one segment (mboxo unquoting)."""
    body = seg.split(b"\n", 1)[1] if b"\n" in seg else b""
    if body.endswith(b"\n\n"):
        body = body[:-1]
    lines = body.split(b"\n")
    out = []
    for l in lines:
        if l.startswith(b">From "):
            l = l[1:]
        out.append(l)
    return b"\n".join(out)


def wire(msg):
    """A message as RETR sends it after unstuffing: CRLF lines, final CRLF."""
    return b"".join(l + b"\r\n" for l in h.expected_retr(msg))


def top_lines(msg, n):
    """What TOP msg n must answer (unstuffed lines)."""
    lines = h.expected_retr(msg)
    try:
        blank = lines.index(b"")
    except ValueError:
        return lines
    return lines[:blank + 1 + n]


class PopError(Exception):
    pass


class Pop:
    """A logged-in (or not) POP3 session speaking raw bytes."""

    def __init__(self, d, user=None, password=h.TEST_PASSWORD, timeout=20):
        self.c = h.raw_session(d.host, d.port, timeout)
        self.greeting = self.c.line()
        self.login_reply = None
        if user is not None:
            self.c.cmd("USER " + user)
            self.login_reply = self.c.cmd("PASS " + password)

    @property
    def logged_in(self):
        return self.login_reply is not None and self.login_reply.startswith(b"+OK")

    def cmd(self, text):
        return self.c.cmd(text)

    def send(self, data):
        self.c.send(data)

    def line(self):
        return self.c.line()

    def multiline(self):
        """The lines of a multi-line answer, dot-stuffing undone."""
        return [l[1:] if l.startswith(b".") else l for l in self.c.multiline()]

    def must(self, text):
        r = self.cmd(text)
        if not r.startswith(b"+OK"):
            raise PopError("%s: %r" % (text, r))
        return r

    def stat(self):
        r = self.must("STAT").split()
        return int(r[1]), int(r[2])

    def list(self):
        self.must("LIST")
        return {int(a): int(b) for a, b in (l.split() for l in self.multiline())}

    def uidl(self):
        self.must("UIDL")
        return {int(a): b for a, b in (l.split(b" ", 1) for l in self.multiline())}

    def retr(self, n):
        """(first line, message bytes as sent on the wire after unstuffing)."""
        r = self.cmd("RETR %d" % n)
        if not r.startswith(b"+OK"):
            return r, None
        return r, b"".join(l + b"\r\n" for l in self.multiline())

    def top(self, n, lines):
        r = self.cmd("TOP %d %d" % (n, lines))
        if not r.startswith(b"+OK"):
            return r, None
        return r, self.multiline()

    def quit(self):
        r = self.cmd("QUIT")
        self.c.closed(10)
        self.c.close()
        return r

    def drop(self):
        """Close the socket without QUIT (a dropped connection)."""
        self.c.close()


def ended_count(d, user):
    return d.read_log().count('session end: rhost=127.0.0.1 user="%s"' % user)


def wait_ended(d, user, count, timeout=20):
    """Wait until the master logged `count` ended sessions of `user`:
    the storage process is then gone and its commit, if any, is done."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ended_count(d, user) >= count:
            return True
        time.sleep(0.05)
    return False


def login(d, user, timeout=20):
    """A logged-in session; raises PopError with the server's answer."""
    p = Pop(d, user, timeout=timeout)
    if not p.logged_in:
        p.drop()
        raise PopError("login %s: %r" % (user, p.login_reply))
    return p


def user_home(d, user):
    """A private directory for a client run as root on behalf of `user`."""
    path = os.path.join(d.dir, "client-" + user)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def run_client(cmd, timeout=45, **kw):
    """Run a client program; returns CompletedProcess (never raises)."""
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, -999, e.stdout or b"",
                                           (e.stderr or b"") + b"\n(timed out)")


def show(t, proc):
    """Put a client's output into the TAP diagnostics."""
    out = (proc.stdout or b"").decode("utf-8", "replace")
    err = (proc.stderr or b"").decode("utf-8", "replace")
    t.diag("exit %s" % proc.returncode)
    for line in (out + err).splitlines()[-30:]:
        t.diag("  " + line)
