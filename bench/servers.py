"""
servers.py - the three POP3 servers the benchmark compares, each started
in the foreground on its own loopback ports with its own configuration
and state under the run's work directory, never touching the system's
own configuration or services:

  postern   built in this tree (libexec_dir points at the build tree)
  Dovecot   Debian's dovecot-pop3d, passdb PAM, mbox in /var/mail
  popa3d    Debian's binary unpacked with dpkg -x, run inetd-style by
            bench/minetd (its -D mode binds 0.0.0.0:110, unconfigurable)

All three authenticate through PAM with the same pam_unix stack and read
the same /var/mail/USER files (popa3d's spool path is compiled in).
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

SPOOL = "/var/mail"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_tree(root):
    """root and every descendant pid (from /proc/*/stat)."""
    children = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        pid, ppid = int(path.split("/")[2]), int(rest[1])
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def proc_status(pid, key):
    """A kB value from /proc/PID/status (VmHWM, VmRSS) or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu(pid):
    """User + system CPU seconds of pid so far (0 if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return 0.0
    rest = data[data.rfind(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def proc_pss(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


class Server:
    name = "?"
    max_mailbox = None        # bytes a server refuses to open beyond
    tls_note = None           # why TLS is n/a, if it is

    def __init__(self, env):
        self.env = env
        self.proc = None
        self.port = free_port()
        self.tls_port = free_port()
        self.log = None

    @property
    def has_tls(self):
        return self.tls_note is None

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            return []
        return proc_tree(self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                for pid in reversed(proc_tree(self.proc.pid)):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait()
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None

    def cold(self, user):
        """Forget any index of user's mailbox (the next login is cold)."""

    def log_tail(self, n=20):
        try:
            with open(self.logfile, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except (OSError, AttributeError):
            return ""

    def _spawn(self, argv, port):
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if not wait_port(port, self.proc):
            self.stop()
            raise RuntimeError("%s did not start:\n%s" %
                               (self.name, self.log_tail()))


def _user_dir(base, user):
    """base/user owned by user (for per-user state a server keeps)."""
    pw = pwd.getpwnam(user)
    path = os.path.join(base, user)
    os.makedirs(path, exist_ok=True)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o700)
    return path


def _clear_dir(path):
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass


class Postern(Server):
    name = "postern"

    def __init__(self, env, builddir, wrap_store=None, wrap_worker=None):
        super().__init__(env)
        self.builddir = builddir
        self.libexec = builddir
        self.dir = os.path.join(env.workdir, "postern")
        self.index = os.path.join(self.dir, "index")
        self.empty = os.path.join(self.dir, "empty")
        self.logfile = os.path.join(self.dir, "postern.log")
        for d in (self.dir, self.index, self.empty):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        for u in env.users:
            _user_dir(self.index, u)
        if wrap_store or wrap_worker:
            self._wrap({"postern-store": wrap_store,
                        "postern-pop3": wrap_worker,
                        "postern-pop3s": wrap_worker})

    def _wrap(self, cmds):
        """A libexec directory where the programs named in cmds run under
        their command (a profiler: "perf stat -o FILE", "valgrind
        --tool=callgrind ..."); the others are symlinks to the build."""
        self.libexec = os.path.join(self.dir, "libexec")
        os.makedirs(self.libexec, exist_ok=True)
        os.chmod(self.libexec, 0o755)
        for prog in ("postern-pop3", "postern-pop3s", "postern-auth",
                     "postern-store"):
            path = os.path.join(self.libexec, prog)
            if not cmds.get(prog):
                if not os.path.lexists(path):
                    os.symlink(os.path.join(self.builddir, prog), path)
                continue
            with open(path, "w") as f:
                f.write("#!/bin/sh\n# written by bench/ (--wrap-*)\n"
                        "exec %s %s \"$@\"\n" % (
                            cmds[prog], os.path.join(self.builddir, prog)))
            os.chmod(path, 0o755)

    def version(self):
        try:
            out = subprocess.run([os.path.join(self.builddir, "postern"),
                                  "-V"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=10)
            return out.stdout.decode().strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "postern (unknown version)"

    def _config(self, tls):
        conf = {
            "listen": "127.0.0.1:%d" % self.port,
            "mailbox": SPOOL + "/%u",
            "index_dir": self.index + "/%u",
            "empty_dir": self.empty,
            "libexec_dir": self.libexec,
            "pid_file": os.path.join(self.dir, "postern.pid"),
            "pam_service": self.env.pam_service,
            "max_connections": "2000",
            "max_connections_per_addr": "2000",
        }
        if tls:
            conf.update({"listen_tls": "127.0.0.1:%d" % self.tls_port,
                         "tls_cert": self.env.cert,
                         "tls_key": self.env.key})
        path = os.path.join(self.dir, "postern.conf")
        with open(path, "w") as f:
            f.write("# generated by postern's benchmark (bench/)\n")
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        return path

    def start(self):
        argv = [os.path.join(self.builddir, "postern"), "-F", "-c"]
        try:
            self._spawn(argv + [self._config(True)], self.port)
        except RuntimeError:
            self.tls_note = "n/a (postern TLS not merged)"
            self._spawn(argv + [self._config(False)], self.port)
            return
        if not self.env.tls_probe(self.tls_port):
            self.tls_note = "n/a (postern TLS not merged)"

    def cold(self, user):
        _clear_dir(os.path.join(self.index, user))


class Dovecot(Server):
    name = "Dovecot"

    def __init__(self, env):
        super().__init__(env)
        self.dir = os.path.join(env.workdir, "dovecot")
        self.index = os.path.join(self.dir, "index")
        self.mail = os.path.join(self.dir, "mail")
        self.logfile = os.path.join(self.dir, "dovecot.log")
        for d in (self.dir, self.index, self.mail,
                  os.path.join(self.dir, "run"),
                  os.path.join(self.dir, "state")):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        for u in env.users:
            _user_dir(self.index, u)
            _user_dir(self.mail, u)

    def version(self):
        try:
            out = subprocess.run(["dovecot", "--version"],
                                 stdout=subprocess.PIPE, timeout=10)
            return "Dovecot " + out.stdout.decode().split()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "Dovecot (unknown version)"

    def start(self):
        d = self.dir
        conf = os.path.join(d, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""# generated by postern's benchmark (bench/): a private instance
# Stock Dovecot settings except what this set-up needs, and
# pop3_no_flag_updates (postern and popa3d write no Status headers either).
base_dir = {d}/run
state_dir = {d}/state
instance_name = ptbench-dovecot
protocols = pop3
listen = 127.0.0.1
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = mbox:{d}/mail/%u:INBOX={spool}/%u:INDEX={d}/index/%u
mail_home = {d}/mail/%u
mail_privileged_group = mail
pop3_no_flag_updates = yes
default_process_limit = 1000
default_client_limit = 4000
passdb {{
  driver = pam
  args = {pam}
}}
userdb {{
  driver = passwd
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
""".format(d=d, cert=self.env.cert, key=self.env.key, spool=SPOOL,
           pam=self.env.pam_service, port=self.port, tls_port=self.tls_port))
        self._spawn(["dovecot", "-F", "-c", conf], self.port)

    def cold(self, user):
        _clear_dir(os.path.join(self.index, user))


class Popa3d(Server):
    name = "popa3d"
    # Debian's build: MAX_MAILBOX_OPEN_BYTES in params.h (README.Debian).
    max_mailbox = 200000000
    tls_note = "n/a (popa3d has no TLS)"

    def __init__(self, env):
        super().__init__(env)
        self.dir = os.path.join(env.workdir, "popa3d")
        self.logfile = os.path.join(self.dir, "minetd.log")
        os.makedirs(self.dir, exist_ok=True)
        self.binary = os.path.join(self.dir, "root/usr/sbin/popa3d")
        self.deb = None

    def fetch(self):
        """apt-get download + dpkg -x: the package itself conflicts with
        dovecot-pop3d, so it is never installed."""
        if os.path.exists(self.binary):
            return
        subprocess.run(["apt-get", "download", "-q", "popa3d"],
                       cwd=self.dir, check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
        debs = glob.glob(os.path.join(self.dir, "popa3d_*.deb"))
        if not debs:
            raise RuntimeError("apt-get download popa3d gave no .deb")
        self.deb = debs[0]
        subprocess.run(["dpkg", "-x", self.deb,
                        os.path.join(self.dir, "root")], check=True)

    def version(self):
        if self.deb:
            return "popa3d " + os.path.basename(self.deb).split("_")[1]
        return "popa3d"

    def start(self):
        self.fetch()
        self.env.ensure_popa3d_system()
        self._spawn([self.env.tool("minetd"), str(self.port), self.binary],
                    self.port)
