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
import pwd
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


def client_messages():
    """The messages every real client must fetch byte for byte: dot lines
    (stuffing), a body line starting "From " (quoted in the mbox), a long
    line, a large body, 8-bit text, a forged X-UIDL header (clients must
    use the server's UIDL), and two byte-identical messages."""
    return [
        h.message(1),
        h.message(2, extra=b".a dot line\n..two dots\n.\n. space\n"),
        h.message(3, extra=b"From the start of a line\nFrom again\n"),
        h.message(4, extra=b"y" * 3000 + b"\n"),
        h.message(5, size=40000),
        h.message(6, extra="8-bit: gr\u00fc\u00dfe, \u65e5\u672c\n".encode()),
        b"X-UIDL: forged-uidl\n" + h.message(7),
        h.message(8),
        h.message(8),
    ]


def mbox_of(messages):
    return h.make_mbox(messages)


def append_mbox(d, user, data):
    """Append as an MDA would (the tests' own write, under no lock: no
    session is open when it is used)."""
    with open(d.mbox_path(user), "ab") as f:
        f.write(data)


def as_user(user, cmd, home):
    return ["runuser", "-u", user, "--", "env", "HOME=" + home,
            "PATH=/usr/bin:/bin"] + list(cmd)


def user_dir(d, user, name):
    """A directory owned by `user` (clients refuse to run as root or to
    deliver as root, and check the modes of their files)."""
    path = os.path.join(d.dir, name)
    os.makedirs(path, exist_ok=True)
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o700)
    return path


def chown_tree(path, user):
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    os.lchown(path, pw.pw_uid, pw.pw_gid)


def maildir_messages(path):
    """The messages under a Maildir's new/ and cur/, sorted by content
    (delivery order is the client's business, not the server's)."""
    out = []
    for sub in ("new", "cur"):
        p = os.path.join(path, sub)
        if os.path.isdir(p):
            out += [os.path.join(p, n) for n in os.listdir(p)]
    res = []
    for f in out:
        with open(f, "rb") as fh:
            res.append(fh.read())
    return sorted(res)
