#!/usr/bin/env python3
"""
t-mbox-diff.py - differential test: for a corpus of hand-made
(tests/data/mbox/) and generated mailboxes, the messages the real daemon
serves must be, byte for byte, what an independent reader - Python's
mailbox.mbox - finds in the file, after the transformation POP3 applies.

The differences between the two readers are the documented rules of
postern (doc/design.md, storage/mbox_scan.c), applied here explicitly:
  - From-quoting: Python does not unquote; postern removes one '>' from
    ">From " lines (mbox_format = mboxo) or from ">...>From " lines
    (mboxrd). Both formats are served and checked.
  - A blank line before a From_ line (or at the end of the file) belongs
    to the separator: Python drops it only if it is "\\n", postern also if
    it is "\\r\\n".
  - The folder-internal pseudo message (UW IMAP, Pine, Dovecot: X-IMAP or
    X-IMAPbase in the first message's header) is hidden by postern.
  - POP3 sends CRLF line ends (a CR right before a LF is dropped, as
    Python's universal reading of a CRLF file would) and ends a message
    with CRLF.
Each message is fetched with RETR over a raw socket (a byte-exact client;
poplib drops CRs), dot-unstuffed, and compared; LIST sizes and the RETR
announcement must equal the octets served.
"""
import glob
import mailbox
import os
import random
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import loadlib as L  # noqa: E402

GENERATED = int(os.environ.get("POSTERN_DIFF_MAILBOXES", "40"))
USER = L.make_users("pthardx", 1)[0]

h.require_root()
t = h.TAP()
CORPUS = sorted(glob.glob(os.path.join(h.TOP_SRCDIR, "tests", "data", "mbox",
                                       "*.mbox")))


def generate(seed):
    """A random mailbox of awkward but legal lines."""
    rnd = random.Random(seed)
    palette = [b"plain text", b"", b"From here on", b">From quoted once",
               b">>From quoted twice", b">>>>>>>>>>>>>>>>>>>>From deep",
               b".", b"..", b".dot start", b"From:", b"from lower",
               b"trailing CR\r", b"\r", b"mid\rCR", b"X-IMAP: 1 2",
               b"tab\tand spaces  ", b"\xc3\xa9t\xc3\xa9 utf-8",
               b"\x00nul byte", b"x" * 3000, b">From", b"> From"]
    out = []
    if rnd.random() < 0.2:
        out.append(b"preamble line\n")
    for i in range(rnd.randint(1, 12)):
        out.append(b"From gen%d@example.org Mon Nov 16 10:%02d:00 2026%s\n" % (
            seed, i % 60, b"\r" if rnd.random() < 0.1 else b""))
        hdr = [b"Subject: generated %d/%d" % (seed, i)]
        if i == 0 and rnd.random() < 0.3:
            hdr.append(rnd.choice([b"X-IMAP: 1763280000 0000000009",
                                   b"X-IMAPbase: 1763280000 9", b"x-imap: lower"]))
        hdr += [b"X-Gen: %d" % rnd.randint(0, 1 << 30)
                for _ in range(rnd.randint(0, 3))]
        body = []
        if rnd.random() < 0.9:
            body.append(b"")
            body += [rnd.choice(palette) for _ in range(rnd.randint(0, 20))]
        eol = b"\r\n" if rnd.random() < 0.15 else b"\n"
        msg = eol.join(hdr + body)
        last = i > 0 and rnd.random() < 0.1
        msg += b"" if last else eol
        sep = rnd.choice([b"\n", b"\n", b"\r\n", b"", b"\n\n"])
        out.append(msg + sep)
    return b"".join(out)


def is_pseudo(py_bytes):
    for line in py_bytes.split(b"\n"):
        if line in (b"", b"\r"):
            return False
        low = line.lower()
        if low.startswith(b"x-imap:") or low.startswith(b"x-imapbase:"):
            return True
    return False


def unquote(line, fmt):
    if fmt == "mboxo":
        return line[1:] if line.startswith(b">From ") else line
    return line[1:] if re.match(rb">+From ", line) else line


def expected(py_bytes, stop, data, fmt):
    """What RETR should send for a message Python read as py_bytes, which
    ends at offset stop of the file data."""
    # postern also counts a "\r\n" blank line as the separator's.
    if (py_bytes.endswith(b"\n\r\n") or py_bytes == b"\r\n") and \
            (stop == len(data) or data[stop:stop + 5] == b"From "):
        py_bytes = py_bytes[:-2]
    if py_bytes == b"":
        return b""
    lines = py_bytes.split(b"\n")
    had_lf = [True] * (len(lines) - 1) + [False]
    if lines[-1] == b"":
        lines, had_lf = lines[:-1], had_lf[:-1]
    out = []
    for line, lf in zip(lines, had_lf):
        if lf and line.endswith(b"\r"):
            line = line[:-1]
        out.append(unquote(line, fmt) + b"\r\n")
    return b"".join(out)


def python_view(path, data):
    box = mailbox.mbox(path, create=False)
    try:
        keys = sorted(box.keys())
        msgs = [(box.get_bytes(k), box._toc[k][1]) for k in keys]
    finally:
        box.close()
    if msgs and is_pseudo(msgs[0][0]):
        msgs = msgs[1:]
    return msgs


def served(c):
    """Every message as the daemon serves it: (LIST size, announced, bytes)."""
    listing = c.listing("LIST")
    out = []
    for n, size in listing:
        r = c.cmd(b"RETR " + n)
        if not r.startswith(b"+OK"):
            raise RuntimeError("RETR %s: %r" % (n, r))
        lines = [l[1:] if l.startswith(b".") else l for l in c.multiline()]
        m = re.match(rb"\+OK (\d+) octets", r)
        out.append((int(size), int(m.group(1)) if m else -1,
                    b"".join(l + b"\r\n" for l in lines)))
    return out


cases = [(os.path.basename(p), open(p, "rb").read()) for p in CORPUS]
cases += [("generated-%02d" % s, generate(s)) for s in range(GENERATED)]
work = tempfile.mkdtemp(prefix="postern-diff-")
try:
    for fmt in ("mboxo", "mboxrd"):
        d = h.Daemon(users=(), config={"mbox_format": fmt})
        d.start()
        bad = []
        nmsgs = 0
        try:
            for name, data in cases:
                path = os.path.join(work, "box")
                with open(path, "wb") as f:
                    f.write(data)
                want = [(expected(b, stop, data, fmt)) for b, stop in
                        python_view(path, data)]
                d.write_mbox(USER, data)
                c = L.Client(d, "127.0.0.1")
                try:
                    c.login(USER)
                    got = served(c)
                    c.cmd("QUIT")
                finally:
                    c.close()
                nmsgs += len(want)
                if len(got) != len(want):
                    bad.append("%s: %d messages served, Python sees %d"
                               % (name, len(got), len(want)))
                    continue
                for i, ((size, announced, body), w) in enumerate(zip(got, want)):
                    if body != w:
                        bad.append("%s message %d: served %r..., expected %r..."
                                   % (name, i + 1, body[:120], w[:120]))
                    elif size != len(body) or announced != len(body):
                        bad.append("%s message %d: LIST %d, RETR announced %d, "
                                   "sent %d" % (name, i + 1, size, announced,
                                                len(body)))
        finally:
            d.cleanup()
        t.diag("%s: %d mailboxes, %d messages compared" % (fmt, len(cases), nmsgs))
        t.ok(nmsgs > 100, "%s: the corpus has messages (%d)" % (fmt, nmsgs))
        t.eq(bad[:5], [], "%s: every message served is what Python's mailbox "
             "reads, after the documented transformation" % fmt)
finally:
    shutil.rmtree(work, ignore_errors=True)
t.done()
