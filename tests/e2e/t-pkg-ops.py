#!/usr/bin/env python3
"""
t-pkg-ops.py - operating postern the way its systemd unit does, with no
systemd running: the unit's ExecStart under the unit's capability
bounding set and no_new_privs (setpriv), readiness and reload
notifications on a NOTIFY_SOCKET, socket activation with named
descriptors, SIGHUP reload, SIGTERM graceful stop, the pid file, and
the command-line checks (-t, -n, --version).
"""
import os
import poplib
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pkgtest  # noqa: E402

harness.require_root()
if not pkgtest.have("setpriv"):
    harness.skip_all("setpriv missing (util-linux)")

t = harness.TAP()
USER = "ptpkgops"
POSTERN = os.path.join(pkgtest.BUILD, "postern")
MSGS = [harness.message(i) for i in range(1, 4)]


def unit_argv(d):
    """The unit's ExecStart with its privilege limits, on d's config."""
    argv = pkgtest.unit_exec_start()
    argv[0] = POSTERN
    return pkgtest.setpriv_prefix() + argv + ["-c", d.conf]


def start_unit(d, env=None, fds=(), port=None, probe=True):
    """Start d as the unit would; fds become 3, 4, ... (socket activation)."""
    umask = pkgtest.unit_umask()
    moved = [os.dup(f) for f in fds]

    def child():
        os.umask(umask)
        for i, f in enumerate(moved):
            os.dup2(f, 3 + i)
    argv = unit_argv(d)
    seen = len(d.read_log())	# the log file is appended to by each start
    if fds:
        # LISTEN_PID must be the daemon's own pid: the shell execs it.
        argv = ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"',
                "sh"] + argv
    d.log = open(d.logfile, "ab")
    d.proc = subprocess.Popen(argv, stdout=d.log, stderr=d.log,
                              env=dict(os.environ, **(env or {})),
                              preexec_fn=child,
                              pass_fds=tuple(range(3, 3 + len(fds))))
    for f in moved:
        os.close(f)
    deadline = time.time() + 15
    while time.time() < deadline:
        if d.proc.poll() is not None:
            raise RuntimeError("postern exited: " + d.read_log())
        new = d.read_log()[seen:]
        if not probe and "auth helper started" in new:
            return d
        if re.search(r"notice: postern \S+ started", new):
            try:
                s = socket.create_connection((d.host, port or d.port), 0.5)
                s.close()
                return d
            except OSError:
                pass
        time.sleep(0.05)
    raise RuntimeError("postern did not start: " + d.read_log())


def drop_first(mbox):
    """The mailbox without its first message, as an expunge leaves it."""
    return mbox[mbox.index(b"\n\nFrom ") + 2:]


def login(port, host="127.0.0.1"):
    c = poplib.POP3(host, port, timeout=15)
    c.user(USER)
    c.pass_(harness.TEST_PASSWORD)
    return c


def retr_all(c):
    n = len(c.list()[1])
    return [c.retr(i)[1] for i in range(1, n + 1)]


class Notify:
    """The service manager's end of NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.got = []

    def wait(self, state, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, m in enumerate(self.got):
                if state in m.split("\n"):
                    del self.got[:i + 1]
                    return m
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                self.got.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        return None


def connect_refused(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), 2)
    except OSError:
        return True
    try:
        s.settimeout(3)
        return s.recv(100) == b""
    except OSError:
        return True
    finally:
        s.close()


# --- the command line ------------------------------------------------
r = subprocess.run([POSTERN, "--version"], stdout=subprocess.PIPE)
t.ok(r.returncode == 0 and r.stdout.decode().startswith("postern "),
     "--version prints the version")
r = subprocess.run([POSTERN, "-x"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
t.eq(r.returncode, 2, "a bad option exits with status 2")

d = harness.Daemon(users=(USER,))
try:
    mbox = harness.make_mbox(MSGS)
    d.write_mbox(USER, mbox)
    r = subprocess.run([POSTERN, "-t", "-c", d.conf], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    t.eq(r.returncode, 0, "postern -t accepts the test configuration (ExecStartPre)")
    with open(d.conf, "a") as f:
        f.write("no_such_key = 1\n")
    r = subprocess.run([POSTERN, "-t", "-c", d.conf], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    t.ok(r.returncode == 1 and b"unknown key" in r.stderr,
         "postern -t refuses an unknown key, naming it (status 1)")
    d.write_config()
    r = subprocess.run([POSTERN, "-n", "-c", d.conf], stdout=subprocess.PIPE)
    t.ok(r.returncode == 0 and ("listen = 127.0.0.1:%d" % d.port).encode() in r.stdout,
         "postern -n prints the effective configuration")

    # --- pid file: a symlink planted at its path is not followed ------
    victim = os.path.join(d.dir, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    pid_dir = os.path.join(d.dir, "run", "postern")
    d.config["pid_file"] = os.path.join(pid_dir, "postern.pid")
    d.write_config()
    os.makedirs(pid_dir)
    os.symlink(victim, d.config["pid_file"])

    # --- start as the unit does, with notifications -------------------
    n = Notify(os.path.join(d.dir, "notify"))
    start_unit(d, env={"NOTIFY_SOCKET": n.path})
    t.ok(n.wait("READY=1") is not None, "READY=1 sent once listening")
    t.eq(open(victim).read(), "precious\n", "pid file: the symlink is not followed")
    t.ok(d.wait_log("pid file"), "pid file: the refusal is logged")
    c = login(d.port)
    t.eq(retr_all(c), [harness.expected_retr(m) for m in MSGS],
         "under the unit's capability set and no_new_privs, mail is served")
    c.quit()
    d.stop()
    t.ok(os.path.islink(d.config["pid_file"]), "pid file: the symlink is left alone")

    # A pid file someone else made and holds locked (a directory they
    # could write to) must not keep postern from starting: it is not
    # postern's, so it is replaced, not obeyed.
    if os.path.lexists(d.config["pid_file"]):
        os.unlink(d.config["pid_file"])
    os.makedirs(os.path.dirname(d.config["pid_file"]), exist_ok=True)
    with open(d.config["pid_file"], "w") as f:
        f.write("1\n")
    os.chown(d.config["pid_file"], 65534, 65534)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         "os.setgid(65534); os.setuid(65534)\n"
         "f = open(sys.argv[1], 'r')\n"
         "fcntl.flock(f, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n", d.config["pid_file"]],
        stdout=subprocess.PIPE)
    t.eq(holder.stdout.readline().strip(), b"locked",
         "pid file: a file owned by nobody is held locked by nobody")
    start_unit(d)
    try:
        st = os.stat(d.config["pid_file"])
        pid = int(open(d.config["pid_file"]).read())
    except (OSError, ValueError):
        st, pid = None, None
    t.ok(pid == d.proc.pid and st is not None and st.st_uid == 0,
         "pid file: ... postern starts anyway, with a root-owned file of "
         "its own (pid %r of %r, uid %r)" % (pid, d.proc.pid,
                                             st.st_uid if st else None))
    holder.kill()
    holder.wait()
    d.stop()

    # Stale pid file from a killed master: replaced, then removed at exit.
    if os.path.lexists(d.config["pid_file"]):
        os.unlink(d.config["pid_file"])
    os.rmdir(pid_dir)
    start_unit(d)
    try:
        pid = int(open(d.config["pid_file"]).read())
    except (OSError, ValueError):
        pid = None
    t.eq(pid, d.proc.pid, "pid file: directory created, the master's pid written")
    d.proc.kill()
    d.proc.wait()
    t.ok(os.path.exists(d.config["pid_file"]), "pid file: left behind by SIGKILL")
    n = Notify(os.path.join(d.dir, "notify2"))
    start_unit(d, env={"NOTIFY_SOCKET": n.path})
    n.wait("READY=1")
    t.eq(int(open(d.config["pid_file"]).read()), d.proc.pid,
         "pid file: a stale one is replaced")

    # A second master on another port but the same pid file finds it
    # locked by the live one: it refuses to start, and neither takes
    # the file over nor removes it when it exits.
    conf2 = d.conf + ".second"
    with open(d.conf) as f, open(conf2, "w") as g:
        g.write(f.read().replace("listen = 127.0.0.1:%d" % d.port,
                                 "listen = 127.0.0.1:%d" % harness.free_port()))
    second = subprocess.Popen(unit_argv(d)[:-1] + [conf2],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out = second.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        second.kill()
        out = second.communicate()[0]
    t.ok(second.returncode == 1 and
         ("pid file %s is locked by a running postern (pid %d); not starting"
          % (d.config["pid_file"], d.proc.pid)).encode() in out,
         "pid file: a second master refuses to start, naming the live one "
         "(status %s, %r)" % (second.returncode, out[-300:]))
    t.eq(open(d.config["pid_file"]).read(), "%d\n" % d.proc.pid,
         "pid file: still the live master's after the second one exited")
    t.ok(d.proc.poll() is None and login(d.port).quit().startswith(b"+OK"),
         "pid file: the live master keeps serving")

    # --- SIGHUP: reload, and a bad file keeps the old configuration ---
    d.config["plaintext_auth"] = "never"
    d.write_config()
    d.proc.send_signal(signal.SIGHUP)
    m = n.wait("RELOADING=1")
    t.ok(m is not None and "MONOTONIC_USEC=" in m, "RELOADING=1 with MONOTONIC_USEC")
    t.ok(n.wait("READY=1") is not None, "READY=1 after the reload")
    t.ok(d.wait_log("configuration reloaded"), "reload logged")
    try:
        login(d.port)
        reloaded = False
    except poplib.error_proto:
        reloaded = True
    t.ok(reloaded, "the reloaded configuration applies (no plaintext USER/PASS)")
    with open(d.conf, "a") as f:
        f.write("idle_timeout = 5\n")
    d.proc.send_signal(signal.SIGHUP)
    t.ok(n.wait("RELOADING=1") is not None and n.wait("READY=1") is not None,
         "a failed reload also ends with READY=1")
    t.ok(d.wait_log("reload failed, keeping the old configuration"),
         "a bad file is refused at reload, with the reason")
    t.ok(d.proc.poll() is None, "the daemon keeps running after a bad reload")
    del d.config["plaintext_auth"]
    d.write_config()
    d.proc.send_signal(signal.SIGHUP)
    n.wait("READY=1")

    # --- SIGTERM: graceful stop ---------------------------------------
    # A logged-in session gets its answer, is then told and closed
    # without its DELE applied; a client that has not logged in is told
    # and closed; nobody waits for the 30 s grace (t-stop.py: a command
    # under way at SIGTERM).
    mbox_before = d.read_mbox(USER)
    busy = harness.RawClient(socket.create_connection(("127.0.0.1", d.port), 10))
    busy.line()
    busy.cmd("USER " + USER)
    t.ok(busy.cmd("PASS " + harness.TEST_PASSWORD).startswith(b"+OK"),
         "a client is logged in")
    t.ok(busy.cmd("DELE 1").startswith(b"+OK"), "... marks message 1 deleted")
    t.ok(busy.cmd("RETR 2").startswith(b"+OK"), "... and starts RETR 2")
    idle = socket.create_connection(("127.0.0.1", d.port), 10)
    t.ok(idle.recv(100).startswith(b"+OK"), "a second client is connected, not logged in")
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    t.ok(n.wait("STOPPING=1") is not None, "STOPPING=1 on SIGTERM")
    t.ok(d.wait_log("stopping: no new connections"), "stop logged")
    idle.settimeout(10)
    said = b""
    try:
        while True:
            chunk = idle.recv(1000)
            if not chunk:
                break
            said += chunk
    except OSError:
        pass
    t.ok(said.startswith(b"-ERR [SYS/TEMP] Server stopping"),
         "the client that had not logged in is told (%r) ..." % said[:60])
    idle.close()
    t.ok(connect_refused(d.port), "no new connections are accepted")
    lines = busy.multiline()
    t.eq(b"".join(l + b"\r\n" for l in lines),
         harness.wire_retr(MSGS[1]),
         "the RETR answer is complete, byte-exact")
    t.ok(busy.line().startswith(b"-ERR [SYS/TEMP] Server stopping; no messages were deleted."),
         "then the logged-in client is told the server is stopping")
    t.ok(busy.closed(10), "... and disconnected")
    try:
        rc = d.proc.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq(rc, 0, "the master exits (status 0)")
    t.ok(time.time() - t0 < 20,
         "... without waiting out the 30 s grace for idle sessions")
    t.ok(not os.path.exists(d.config["pid_file"]), "pid file removed at exit")
    t.eq(d.read_mbox(USER), mbox_before,
         "the session stopped between commands deleted nothing")
    t.ok(d.wait_log('reason="server stopping"'), "its session end says why")
    d.proc = None

    # --- the worker dies just after QUIT: never a partial expunge -----
    start_unit(d)
    outcomes = set()
    for i in range(3):
        d.write_mbox(USER, mbox)
        c = login(d.port)
        c.stat()
        c.dele(1)
        workers = subprocess.run(["pgrep", "-P", str(d.proc.pid), "-x", "postern-pop3"],
                                 stdout=subprocess.PIPE).stdout.split()
        c.sock.sendall(b"QUIT\r\n")
        for w in workers:
            try:
                os.kill(int(w), signal.SIGKILL)
            except ProcessLookupError:
                pass
        c.close()
        # Storage ends on its own; wait until the session is gone.
        d.wait_log("session=", 1)
        deadline = time.time() + 15
        while time.time() < deadline and subprocess.run(
                ["pgrep", "-P", str(d.proc.pid), "-x", "postern-store"],
                stdout=subprocess.PIPE).stdout:
            time.sleep(0.05)
        after = d.read_mbox(USER)
        outcomes.add("unchanged" if after == mbox else
                     "expunged" if after == drop_first(mbox) else "other")
    t.ok("other" not in outcomes,
         "worker killed at QUIT: the mailbox is whole or cleanly expunged (%s)"
         % ",".join(sorted(outcomes)))
    d.stop()

    # --- socket activation -------------------------------------------
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    plain.listen(16)
    tls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tls.bind(("127.0.0.1", 0))
    tls.listen(16)
    pport = plain.getsockname()[1]
    d.write_mbox(USER, mbox)
    # The connection that makes systemd start the service is waiting
    # before the master runs.
    early = harness.raw_session("127.0.0.1", pport, timeout=20)
    start_unit(d, env={"LISTEN_FDS": "2", "LISTEN_FDNAMES": "pop3:pop3s"},
               fds=(plain.fileno(), tls.fileno()), port=pport, probe=False)
    plain.close()
    tls.close()
    try:
        ok = early.line().startswith(b"+OK") and \
            early.cmd("USER " + USER).startswith(b"+OK") and \
            early.cmd("PASS " + harness.TEST_PASSWORD).startswith(b"+OK")
        early.cmd("QUIT")
    except (OSError, EOFError):
        ok = False
    early.close()
    t.ok(ok, "socket activation: the connection that triggered the start is served")
    t.ok(d.wait_log("listening on 127.0.0.1:%d (from systemd)" % pport),
         "socket activation: the pop3 socket is adopted")
    t.ok(d.wait_log("needs tls_cert and tls_key; not serving it"),
         "socket activation: pop3s without a certificate is refused, with the reason")
    t.ok(connect_refused(d.port), "socket activation: the listen key is not used")
    c = login(pport)
    t.eq(retr_all(c), [harness.expected_retr(m) for m in MSGS],
         "socket activation: mail is served on the passed socket")
    c.quit()
    d.stop()
finally:
    d.cleanup()
t.done()
