"""
sechelp.py - helpers for the security tests (t-sec-*.py): find the
process serving a connection, read /proc, run the hook-enabled worker,
and speak postern's IPC framing to drive a helper process directly.
"""
import ctypes
import os
import shlex
import socket
import struct
import time

import harness

HOOK_MARKER = b"XPOSTERN-ATTACK"

# lib/ipc.h
IPC_VERSION = 1
IPC_F_FD = 1
IPC_MAX_PAYLOAD = 256 * 1024
IPC_LOG = 1
IPC_CONFIG = 2
IPC_AUTH_ATTACH = 10
IPC_AUTH_DETACH = 12
IPC_AUTH_GRANTED = 13
IPC_AUTH_KILL = 15
IPC_AUTH_REQUEST = 20
IPC_AUTH_RESULT = 21
IPC_STORE_OPEN = 30
IPC_STORE_OPENED = 31
IPC_STORE_LIST = 32
IPC_STORE_LISTING = 33
IPC_STORE_RETR = 36
IPC_STORE_RETR_AHEAD = 49
IPC_STORE_STAT = 42
IPC_STORE_STATUS = 43
IPC_STORE_ERROR = 45
IPC_STORE_INIT = 46
MECH_USER = 1
AUTH_OK, AUTH_FAIL, AUTH_TEMPFAIL, AUTH_TOO_MANY = 0, 1, 2, 3


def builddir_file(name):
    return os.path.join(harness.TOP_BUILDDIR, name)


def configured(macro):
    """Whether config.h of this build defines macro to 1."""
    with open(builddir_file("config.h")) as f:
        return ("#define %s 1" % macro) in f.read()


SECCOMP = configured("HAVE_SECCOMP")
ASAN = configured("POSTERN_ASAN")


def write_wrapper(path, binary, fail_step=None, env=None):
    """Make path a script that runs binary with POSTERN_TEST_FAIL=fail_step
    and the variables of env: the master starts children with an empty
    environment (descriptors pass through exec)."""
    env = dict(env or {})
    if fail_step is not None:
        env["POSTERN_TEST_FAIL"] = fail_step
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write("#!/bin/sh\n%s exec %s \"$@\"\n"
                % (" ".join("%s=%s" % (k, shlex.quote(v))
                            for k, v in sorted(env.items())), binary))
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


def hook_libexec(parent, fail_step=None, store_fail_step=None):
    """A libexec_dir whose workers are the hook-enabled ones (with
    POSTERN_TEST_FAIL=fail_step when given) and whose postern-store is
    the hook-enabled storage when store_fail_step is given; the other
    roles are the release binaries."""
    d = os.path.join(parent, "libexec")
    os.mkdir(d, 0o755)
    os.symlink(builddir_file("postern-auth"), os.path.join(d, "postern-auth"))
    set_fail_step(d, fail_step)
    set_store_fail_step(d, store_fail_step)
    return d


def set_fail_step(libexec, step):
    """Make both workers (postern-pop3 for plaintext, postern-pop3s for
    TLS) fail confinement step (None: the plain hook workers)."""
    for name in ("postern-pop3", "postern-pop3s"):
        target = os.path.join(libexec, name)
        hooks = builddir_file(name + "-hooks")
        if step is None:
            if os.path.lexists(target):
                os.unlink(target)
            os.symlink(hooks, target)
        else:
            write_wrapper(target, hooks, step)


def set_worker_env(libexec, env):
    """Start both hook-enabled workers with these test variables, e.g.
    {"POSTERN_TEST_IDLE_MS": "2000"} (lib/testhook.h)."""
    for name in ("postern-pop3", "postern-pop3s"):
        write_wrapper(os.path.join(libexec, name), builddir_file(name + "-hooks"),
                      env=env)


def set_store_fail_step(libexec, step):
    """Make storage fail sandbox step (None: the release postern-store)."""
    target = os.path.join(libexec, "postern-store")
    if step is None:
        if os.path.lexists(target):
            os.unlink(target)
        os.symlink(builddir_file("postern-store"), target)
    else:
        write_wrapper(target, builddir_file("postern-store-hooks"), step)


def set_store_probe(libexec, paths):
    """Make storage (the hook-enabled one) try to open each of paths once
    it is confined, and log "test probe: open PATH: ok|ERRNO"."""
    write_wrapper(os.path.join(libexec, "postern-store"),
                  builddir_file("postern-store-hooks"),
                  env={"POSTERN_TEST_PROBE_OPEN": ":".join(paths)})


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def status(pid):
    """/proc/PID/status as a dict of strings."""
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            d[k] = v.strip()
    return d


def fds(pid):
    """{fd: link target} of a process."""
    out = {}
    base = "/proc/%d/fd" % pid
    for name in os.listdir(base):
        try:
            out[int(name)] = os.readlink(os.path.join(base, name))
        except OSError:
            pass
    return out


def limits(pid):
    """{name: (soft, hard)} from /proc/PID/limits."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        next(f)
        for line in f:
            name = line[:26].strip()
            parts = line[26:].split()
            out[name] = (parts[0], parts[1])
    return out


def _socket_inode(server_port, client_port):
    """Inode of the server side of an IPv4 loopback TCP connection."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            lport = int(p[1].split(":")[1], 16)
            rport = int(p[2].split(":")[1], 16)
            if lport == server_port and rport == client_port:
                return p[9]
    return None


def server_pids(master_pid, sock, server_port, timeout=5):
    """Every process under the master holding the server side of the
    connection sock (the worker, normally exactly one)."""
    client_port = sock.getsockname()[1]
    deadline = time.time() + timeout
    while time.time() < deadline:
        inode = _socket_inode(server_port, client_port)
        found = []
        if inode is not None:
            want = "socket:[%s]" % inode
            todo = [master_pid]
            seen = set()
            while todo:
                pid = todo.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                try:
                    if want in fds(pid).values():
                        found.append(pid)
                except OSError:
                    pass
                todo += children(pid)
            found = [p for p in found if p != master_pid]
            if found:
                return found
        time.sleep(0.05)
    return []


def worker_pid(d, client):
    pids = server_pids(d.proc.pid, client.sock, d.port)
    return pids[0] if len(pids) == 1 else None


def role_pids(master_pid, name):
    return [p for p in children(master_pid) if comm(p) == name]


def wait_gone(pid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not os.path.exists("/proc/%d" % pid):
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def login(d, user, password=harness.TEST_PASSWORD, source=None):
    """A raw client logged in (TRANSACTION state)."""
    c = connect(d, source)
    assert c.line().startswith(b"+OK")
    c.cmd("USER " + user)
    r = c.cmd("PASS " + password)
    return c, r


def connect(d, source=None, timeout=15):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((d.host, d.port))
    return harness.RawClient(s)


SYS_PIDFD_GETFD = 438   # Linux >= 5.6, every architecture but alpha
_libc = ctypes.CDLL(None, use_errno=True)


def dup_fd(pid, fd):
    """A duplicate of descriptor fd of process pid (pidfd_getfd(2), as
    root); OSError if the kernel cannot."""
    pidfd = os.pidfd_open(pid)
    try:
        r = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if r < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
        return r
    finally:
        os.close(pidfd)


def log_count(d, needle):
    return d.read_log().count(needle)


# ---- IPC framing, for fake masters and fake workers ----

def frame(mtype, payload=b"", flags=0, version=IPC_VERSION, length=None):
    if length is None:
        length = len(payload)
    return struct.pack("=IHBB", length, mtype, version, flags) + payload


def p_str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("=I", len(s)) + s


def p_u8(v):
    return struct.pack("=B", v)


def p_u32(v):
    return struct.pack("=I", v)


def p_u64(v):
    return struct.pack("=Q", v)


class Channel:
    """One end of a socketpair speaking IPC frames."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data, fds=()):
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)

    def recv(self, timeout=10):
        """(type, payload) of the next frame, or None on EOF/timeout."""
        deadline = time.time() + timeout
        while True:
            if len(self.buf) >= 8:
                length, mtype, _, _ = struct.unpack("=IHBB", self.buf[:8])
                if len(self.buf) >= 8 + length:
                    payload = self.buf[8:8 + length]
                    self.buf = self.buf[8 + length:]
                    return mtype, payload
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk, _, _, _ = socket.recv_fds(self.sock, 65536, 4)
            except socket.timeout:
                return None
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def close(self):
        self.sock.close()


def config_text(cfg):
    return "".join("%s = %s\n" % (k, v) for k, v in cfg.items())


def parse_log(payload):
    prio = payload[0]
    n = struct.unpack("=I", payload[1:5])[0]
    return prio, payload[5:5 + n].decode("utf-8", "replace")
