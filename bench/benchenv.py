"""
benchenv.py - what the benchmark sets up on the machine and removes again:
the ptbench* accounts (real passwords, hashed by pam_unix as passwd
does), the PAM service file, /var/mail/ptbench* mailboxes, a throwaway
self-signed certificate, the C tools (built with cc into the work
directory), and for popa3d its system user, chroot directory and PAM file
(only if they did not exist). Everything created is recorded and undone
by cleanup(), also after a failure or Ctrl-C.
"""
import fcntl
import grp
import os
import pwd
import shutil
import subprocess

PASSWORD = "Bench-pw 1939"
PAM_TEXT = ("# written by postern's benchmark (bench/); removed after the run\n"
            "auth    required pam_unix.so\n"
            "account required pam_unix.so\n")
TOOLS = {
    "popbench": ["popbench.c", "-lssl", "-lcrypto"],
    "popserve": ["popserve.c", "-lssl", "-lcrypto"],
    "minetd": ["minetd.c"],
    "pamcost": ["pamcost.c", "-lpam"],
}
HERE = os.path.dirname(os.path.abspath(__file__))


def run(argv, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(argv, check=True, **kw)


def mail_gid():
    try:
        return grp.getgrnam("mail").gr_gid
    except KeyError:
        return 0


def _accounts_lock():
    """The e2e tests serialize /etc/passwd changes on this lock too."""
    f = open("/run/postern-tests.lock", "a")
    fcntl.lockf(f, fcntl.LOCK_EX)
    return f


class Env:
    def __init__(self, workdir, users, log):
        self.workdir = workdir
        self.users = list(users)
        self.log = log
        self.pam_service = "postern-bench"
        self.password = PASSWORD
        self.created_users = []
        self.created_files = []     # removed at cleanup
        self.created_dirs = []
        self.cert = os.path.join(workdir, "cert.pem")
        self.key = os.path.join(workdir, "key.pem")
        os.environ["POPBENCH_PASSWORD"] = PASSWORD

    # --- tools -----------------------------------------------------------
    def tool(self, name):
        return os.path.join(self.workdir, "bin", name)

    def build_tools(self):
        os.makedirs(os.path.join(self.workdir, "bin"), exist_ok=True)
        for name, spec in TOOLS.items():
            run(["cc", "-O2", "-g", "-Wall", "-Wextra", "-o", self.tool(name),
                 os.path.join(HERE, spec[0])] + spec[1:])

    # --- accounts and PAM --------------------------------------------------
    def setup_accounts(self):
        """Create every account, with its password hashed as SHA-512 crypt
        at the default 5,000 rounds (~5 ms of PAM here): cheap enough that
        PAM does not drown the mailbox work the workloads measure. The
        session-rate accounts are re-hashed by tune_sha512_rounds."""
        self._write_new("/etc/pam.d/" + self.pam_service, PAM_TEXT)
        with _accounts_lock():
            for u in self.users:
                try:
                    pwd.getpwnam(u)
                except KeyError:
                    run(["useradd", "--no-create-home", "--home-dir",
                         "/nonexistent", "--shell", "/usr/sbin/nologin", u])
                self.created_users.append(u)
            run(["chpasswd", "-c", "SHA512"], input="".join(
                "%s:%s\n" % (u, PASSWORD) for u in self.users).encode())
        if not self._exists_user("postern"):
            with _accounts_lock():
                run(["useradd", "--system", "--no-create-home", "--home-dir",
                     "/nonexistent", "--shell", "/usr/sbin/nologin",
                     "postern"])
            self.created_users.append("postern")

    def set_sha512_rounds(self, users, rounds):
        with _accounts_lock():
            run(["chpasswd", "-c", "SHA512", "-s", str(rounds)],
                input="".join("%s:%s\n" % (u, PASSWORD)
                              for u in users).encode())

    def tune_sha512_rounds(self, users, target_ms, pam_ms):
        """Give users a SHA-512 crypt hash whose PAM login costs about
        target_ms on this machine, the same for every server: the
        session rate then measures the servers, not the hash (Debian's
        default, yescrypt, costs 50-150 ms here). pam_ms(user) measures
        one login (the fastest of several: other load only adds). The
        cost is linear in the rounds: two points fix the line, one more
        step corrects what noise did to it. Returns (rounds, ms)."""
        def at(rounds):
            self.set_sha512_rounds(users[:1], rounds)
            return pam_ms(users[0])
        lo, hi = 5000, 40000
        p_lo, p_hi = at(lo), at(hi)
        rounds = hi
        for _ in range(2):
            per_round = max((p_hi - p_lo) / (hi - lo), 1e-6)
            fixed = max(p_lo - per_round * lo, 0.0)
            rounds = int(min(max((target_ms - fixed) / per_round, 1000),
                             10 ** 7))
            got = at(rounds)
            if abs(got - target_ms) <= target_ms * 0.15:
                break
            # Replace the point further from the target and refit.
            if abs(p_lo - target_ms) > abs(p_hi - target_ms):
                lo, p_lo = rounds, got
            else:
                hi, p_hi = rounds, got
            if lo == hi:
                break
        self.set_sha512_rounds(users, rounds)
        return rounds, pam_ms(users[0])

    @staticmethod
    def _exists_user(name):
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    def _write_new(self, path, text):
        """Write path unless it exists; remember to remove it."""
        if os.path.exists(path):
            return False
        with open(path, "w") as f:
            f.write(text)
        self.created_files.append(path)
        return True

    def ensure_popa3d_system(self):
        """popa3d drops to user popa3d in chroot /var/lib/popa3d, and its
        PAM service is compiled in as "popa3d"."""
        if not self._exists_user("popa3d"):
            with _accounts_lock():
                run(["useradd", "--system", "--no-create-home", "--home-dir",
                     "/var/lib/popa3d", "--shell", "/usr/sbin/nologin",
                     "popa3d"])
            self.created_users.append("popa3d")
        if not os.path.isdir("/var/lib/popa3d"):
            os.makedirs("/var/lib/popa3d", 0o755)
            self.created_dirs.append("/var/lib/popa3d")
        self._write_new("/etc/pam.d/popa3d", PAM_TEXT)

    # --- TLS ---------------------------------------------------------------
    def make_cert(self):
        """A throwaway self-signed ECDSA P-256 certificate for localhost."""
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-keyout", self.key, "-out",
             self.cert])
        os.chmod(self.key, 0o600)

    def tls_probe(self, port):
        try:
            r = subprocess.run([self.tool("popbench"), "probe", "127.0.0.1",
                                str(port), "-t", "-T", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=10)
            return r.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    # --- mailboxes -----------------------------------------------------------
    def mbox_path(self, user):
        return "/var/mail/" + user

    def install_mbox(self, user, master, fsync=False):
        """Copy master to /var/mail/USER as an MDA leaves it (USER:mail
        0660). Returns the file's signature, to detect rewrites."""
        path = self.mbox_path(user)
        tmp = path + ".ptbench-tmp"
        with open(master, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            if fsync:
                dst.flush()
                os.fsync(dst.fileno())
        pw = pwd.getpwnam(user)
        os.chown(tmp, pw.pw_uid, mail_gid())
        os.chmod(tmp, 0o660)
        os.rename(tmp, path)
        if fsync:
            fd = os.open("/var/mail", os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        return self.mbox_sig(user)

    def mbox_sig(self, user):
        try:
            st = os.stat(self.mbox_path(user))
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    # --- cleanup -------------------------------------------------------------
    def cleanup(self):
        for u in self.users:
            for suffix in ("", ".lock", ".ptbench-tmp"):
                try:
                    os.unlink(self.mbox_path(u) + suffix)
                except OSError:
                    pass
        for path in self.created_files:
            try:
                os.unlink(path)
            except OSError:
                pass
        for path in self.created_dirs:
            shutil.rmtree(path, ignore_errors=True)
        if self.created_users:
            with _accounts_lock():
                for u in self.created_users:
                    subprocess.run(["userdel", u], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.created_users = []
        self.created_files = []
        self.created_dirs = []
