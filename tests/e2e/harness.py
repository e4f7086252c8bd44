"""
harness.py - shared scaffolding for postern's end-to-end tests.

Everything here is real: system users with real passwords (created with
useradd/chpasswd; the tests need root), a PAM service file using pam_unix,
mbox files on disk owned the way Debian owns /var/mail, and the daemon
built in this tree, started in the foreground on a free loopback port.
Output is TAP, counted by automake's tap-driver.
"""
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP_BUILDDIR = os.environ.get("top_builddir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_SRCDIR = os.environ.get("top_srcdir") or TOP_BUILDDIR
PAM_SERVICE = "postern-test"
TEST_PASSWORD = "S3cret-pw with space"


class TAP:
    """Minimal TAP producer: every check is one counted test point."""

    current = None     # the test's TAP, for checks made by Daemon.cleanup

    def __init__(self):
        self.n = 0
        self.failed = 0
        TAP.current = self

    def ok(self, cond, desc):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, desc),
              flush=True)
        if not cond:
            self.failed += 1
        return bool(cond)

    def eq(self, got, want, desc):
        good = got == want
        self.ok(good, desc)
        if not good:
            g, w = repr(got), repr(want)
            print("#   got:  %s" % (g[:400] + ("..." if len(g) > 400 else "")))
            print("#   want: %s" % (w[:400] + ("..." if len(w) > 400 else "")))
        return good

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def skip_all(reason):
    print("1..0 # SKIP %s" % reason)
    sys.exit(0)


def require_root():
    if os.geteuid() != 0:
        skip_all("end-to-end tests need root (real users, PAM, setuid)")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)


def ensure_pam_service():
    with _accounts_lock():
        _ensure_pam_service()


def _ensure_pam_service():
    path = "/etc/pam.d/" + PAM_SERVICE
    text = ("# written by postern's test suite\n"
            "auth    required pam_unix.so\n"
            "account required pam_unix.so\n")
    try:
        if open(path).read() == text:
            return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)


def wait_for(cond, timeout=20, step=0.02):
    """Poll cond() until it is true (True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def _accounts_lock():
    """Tests run in parallel: serialize changes to /etc/passwd and PAM."""
    import fcntl
    f = open("/run/postern-tests.lock", "a")
    fcntl.lockf(f, fcntl.LOCK_EX)
    return f


def ensure_user(name, password=TEST_PASSWORD, system=False):
    """Create (or reset) a real account; returns its passwd entry."""
    with _accounts_lock():
        return _ensure_user(name, password, system)


def _ensure_user(name, password, system):
    try:
        pwd.getpwnam(name)
    except KeyError:
        if system:
            run(["useradd", "--system", "--no-create-home", "--home-dir",
                 "/nonexistent", "--shell", "/usr/sbin/nologin", name])
        else:
            run(["useradd", "--no-create-home", "--home-dir",
                 "/home/" + name, "--shell", "/usr/sbin/nologin", name])
    if password is not None:
        run(["chpasswd"], input=("%s:%s\n" % (name, password)).encode())
    return pwd.getpwnam(name)


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sanitizer_build():
    """Was this tree configured with --enable-asan (or --enable-fuzzing)?"""
    try:
        with open(os.path.join(TOP_BUILDDIR, "config.h")) as f:
            return re.search(r"^#define POSTERN_ASAN 1", f.read(), re.M) is not None
    except OSError:
        return False


# A sanitizer report in the daemon's output: ASan/LSan/UBSan headers and
# summaries, and UBSan's "file:line:col: runtime error:" lines. postern's
# own lines start with a timestamp, so client data cannot forge these.
SANITIZER_REPORT = re.compile(
    rb"^(==\d+==ERROR: \w+Sanitizer|SUMMARY: \w+Sanitizer|"
    rb"\S+:\d+:\d+: runtime error: |\w+Sanitizer:DEADLYSIGNAL)", re.M)


def mail_gid():
    try:
        return grp.getgrnam("mail").gr_gid
    except KeyError:
        return 0


class Daemon:
    """A postern master built in this tree, in the foreground."""

    def __init__(self, config=None, host="127.0.0.1", users=("ptalice",)):
        ensure_pam_service()
        ensure_user("postern", password=None, system=True)
        self.users = {u: ensure_user(u) for u in users}
        self.dir = tempfile.mkdtemp(prefix="postern-e2e-")
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        os.mkdir(self.spool)
        # Like Debian's /var/mail: root:mail 2775.
        os.chown(self.spool, 0, mail_gid())
        os.chmod(self.spool, 0o2775)
        self.empty = os.path.join(self.dir, "empty")
        os.mkdir(self.empty, 0o755)
        os.mkdir(os.path.join(self.dir, "index"), 0o755)
        self.host = host
        self.port = free_port(host)
        self.logfile = os.path.join(self.dir, "postern.log")
        self.conf = os.path.join(self.dir, "postern.conf")
        base = {
            "listen": "%s:%d" % ("[%s]" % host if ":" in host else host,
                                 self.port),
            "mailbox": self.spool + "/%u",
            "index_dir": self.dir + "/index/%u",
            "empty_dir": self.empty,
            "libexec_dir": TOP_BUILDDIR,
            "pid_file": os.path.join(self.dir, "postern.pid"),
            "pam_service": PAM_SERVICE,
            "auth_fail_delay": "300",
        }
        base.update(config or {})
        self.config = base
        self.write_config()
        self.proc = None
        self.wrapper = []   # e.g. ["valgrind", ...]: prefixed to the master

    def write_config(self):
        with open(self.conf, "w") as f:
            for k, v in self.config.items():
                for item in (v if isinstance(v, list) else [v]):
                    f.write("%s = %s\n" % (k, item))

    def mbox_path(self, user):
        return os.path.join(self.spool, user)

    def write_mbox(self, user, data, mode=0o660):
        path = self.mbox_path(user)
        with open(path, "wb") as f:
            f.write(data)
        pw = pwd.getpwnam(user)
        os.chown(path, pw.pw_uid, mail_gid())
        os.chmod(path, mode)
        return path

    def read_mbox(self, user):
        try:
            with open(self.mbox_path(user), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def start(self, extra_args=()):
        self.log = open(self.logfile, "ab")
        # In sanitizer builds the daemon's stdout+stderr go through a
        # pipe that a thread copies to the log file. Every child keeps
        # this stderr there (master_spawn.c), so reports from sandboxed
        # children land here: a pipe, because the worker's RLIMIT_FSIZE
        # of 0 forbids writing to a file; and the copy ends only when the
        # last process holding it has exited, so no late report is lost.
        # Release builds (and a test that makes stderr a journal stream,
        # which must be the log file itself) write straight to the file.
        argv = self.wrapper + [os.path.join(TOP_BUILDDIR, "postern"), "-F",
                               "-d", "-c", self.conf] + list(extra_args)
        if not sanitizer_build() or "JOURNAL_STREAM" in os.environ:
            self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        else:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT)
            self._output_pipe = "pipe:[%d]" % os.fstat(
                self.proc.stdout.fileno()).st_ino
            self._copier = threading.Thread(
                target=self._copy_output, args=(self.proc.stdout, self.log),
                daemon=True)
            self._copier.start()
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postern exited: " + self.read_log())
            try:
                s = socket.create_connection((self.host, self.port), 0.5)
                s.close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("postern did not start: " + self.read_log())

    @staticmethod
    def _copy_output(src, dst):
        while True:
            chunk = src.read1(65536)
            if not chunk:
                break
            dst.write(chunk)
            dst.flush()
        src.close()

    def sanitizer_reports(self):
        """Sanitizer report lines in the daemon's output so far."""
        try:
            with open(self.logfile, "rb") as f:
                text = f.read()
        except OSError:
            return []
        return [text[m.start():text.find(b"\n", m.start())].decode(
            "utf-8", "replace") for m in SANITIZER_REPORT.finditer(text)]

    def read_log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, needle, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.read_log():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        copier = getattr(self, "_copier", None)
        if copier is not None:
            # EOF comes when the last process holding the output exits:
            # in sanitizer builds, every child of this daemon.
            copier.join(10)
            if copier.is_alive():
                # Children of a master that is gone (a test that died
                # with a client still connected, or killed the master):
                # they are ours; end them so that nothing outlives the test.
                for pid in self._pipe_holders():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                copier.join(10)
            if copier.is_alive():
                self._output_held = True
            self._copier = None

    def _pipe_holders(self):
        """Processes other than ours that hold the daemon's output pipe."""
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                fds = os.listdir("/proc/%s/fd" % p)
                if any(os.readlink("/proc/%s/fd/%s" % (p, fd)) == self._output_pipe
                       for fd in fds):
                    pids.append(int(p))
            except OSError:
                continue
        return pids

    def cleanup(self):
        self.stop()
        self.check_sanitizers()
        if os.environ.get("POSTERN_KEEP_TEST_DIR") or getattr(self, "keep", False):
            print("# kept " + self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def check_sanitizers(self):
        """In sanitizer builds: one more test point, "no report from any
        postern process", once every process has closed its output."""
        if (not getattr(self, "log", None) or getattr(self, "_checked", False)
                or not sanitizer_build()):
            return
        self._checked = True
        reports = self.sanitizer_reports()
        if getattr(self, "_output_held", False):
            reports.append("a postern process still held the daemon's "
                           "output 30 s after the master stopped")
        if reports:
            self.keep = True
        tap = TAP.current
        if tap is None:
            if reports:
                raise RuntimeError("sanitizer reports: %s" % reports)
            return
        if not tap.ok(not reports, "no sanitizer report from any postern "
                      "process (%s)" % os.path.basename(self.dir)):
            tap.diag("\n".join(reports[:20]))
            tap.diag("full output (kept): %s" % self.logfile)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def raw_session(host, port, timeout=10):
    """A socket with a line reader, for byte-level protocol tests."""
    s = socket.create_connection((host, port), timeout)
    return RawClient(s)


class RawClient:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        data = text.encode() if isinstance(text, str) else text
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        self.send(data)
        return self.line()

    def multiline(self):
        lines = []
        while True:
            l = self.line()
            if l == b".":
                return lines
            lines.append(l)

    def closed(self, timeout=5):
        """True if the server closed the connection (after any data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.sock.close()


def expected_retr(msg):
    """What a client sees after RETR and dot-unstuffing: CRLF lines."""
    lines = msg.split(b"\n")
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    return [l[:-1] if l.endswith(b"\r") else l for l in lines]


def wire_retr(msg):
    """The message as the wire carries it between "+OK" and ".": CRLF
    line ends, dot-stuffed."""
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in expected_retr(msg))


def make_mbox(messages, sender="sender@example.org"):
    """An mbox (as an MDA writes it) from a list of message bytes."""
    out = b""
    for i, m in enumerate(messages):
        out += b"From %s Sat Nov 21 10:%02d:00 2026\n" % (sender.encode(), i % 60)
        body = b"\n".join(b">" + l if l.startswith(b"From ") else l
                          for l in m.split(b"\n"))
        out += body
        if not body.endswith(b"\n"):
            out += b"\n"
        out += b"\n"
    return out


def message(n, size=0, extra=b""):
    body = b"Line %d of the body.\n" % n
    if size:
        body += (b"x" * 70 + b"\n") * (size // 71)
    return (b"From: Sender <sender@example.org>\n"
            b"To: user@example.org\n"
            b"Subject: test message %d\n"
            b"Message-ID: <%d.test@example.org>\n"
            b"\n" % (n, n)) + extra + body


def ps_roles(master_pid=None):
    """[(user, comm, args)] of every postern process, or only of the
    master master_pid and its children (other tests run in parallel)."""
    out = subprocess.run(["ps", "-eo", "user:32,pid,ppid,comm,args"],
                         check=True, stdout=subprocess.PIPE).stdout.decode()
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split(None, 4)
        if len(parts) != 5 or not parts[3].startswith("postern"):
            continue
        if master_pid is not None and master_pid not in (int(parts[1]),
                                                         int(parts[2])):
            continue
        rows.append((parts[0], parts[3], parts[4]))
    return rows
