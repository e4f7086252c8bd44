#!/usr/bin/env python3
"""
t-sec-procs.py - inspect live postern processes from the outside:
the worker's ids, groups, capabilities, root directory, descriptors,
no_new_privs, seccomp mode and rlimits, for a plaintext connection
(postern-pop3, which has no OpenSSL mapped) and for an implicit-TLS one
waiting for its ClientHello (postern-pop3s, already confined); storage's
ids and groups (group mail only where the mailbox directory needs it);
the auth helper's hardening and exact descriptors; fresh address-space layout
per connection; one process per connection; and the master never reading
client data.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import harness
import sechelp
import tlsutil

harness.require_root()
t = harness.TAP()
USER = "ptsecprocs"
d = tlsutil.tls_daemon((USER,))
d.write_mbox(USER, harness.make_mbox([harness.message(1), harness.message(2)]))
d.start()
unpriv = pwd.getpwnam("postern")
user = pwd.getpwnam(USER)
master = d.proc.pid
ASAN = sechelp.ASAN
FILTER = "2" if sechelp.SECCOMP else "0"    # --without-seccomp: none


def std_err(d):
    """What a child's fd 2 must be: /dev/null, except in sanitizer builds,
    where master_spawn.c keeps the daemon's output pipe so that reports
    from sandboxed children are not lost (see harness.Daemon.start)."""
    return getattr(d, "_output_pipe", None) or "/dev/null"


# master_spawn.c gives every child this and nothing else (sanitizer
# builds also pass their *SAN_OPTIONS through).
CHILD_ENV = ["GLIBC_TUNABLES=glibc.malloc.tcache_count=0"]


def child_env(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = [e.decode() for e in f.read().split(b"\0") if e]
    return [e for e in env if not (ASAN and e.split("=")[0].endswith("SAN_OPTIONS"))]


def ids(st, key):
    return [int(x) for x in st[key].split()]


def libraries(pid, *names):
    """The libraries among names ("/libssl", ...) mapped into pid."""
    with open("/proc/%d/maps" % pid) as f:
        return sorted({line.split()[-1] for line in f
                       if any(n in line for n in names)})


def tls_libraries(pid):
    """OpenSSL's libraries mapped into pid."""
    return libraries(pid, "/libssl", "/libcrypto")


def exe_and_stack(pid):
    exe = os.readlink("/proc/%d/exe" % pid)
    base = stack = None
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if base is None and line.rstrip().endswith(exe):
                base = line.split("-")[0]
            if line.rstrip().endswith("[stack]"):
                stack = line.split("-")[0]
    return base, stack


try:
    warning = "WARNING: built --without-seccomp"
    if sechelp.SECCOMP:
        t.ok(warning not in d.read_log(), "no sandbox warning at start-up")
    else:
        t.ok(warning in d.read_log(),
             "built --without-seccomp: a loud warning at start-up")

    # ---- the worker, before authentication ----
    a = sechelp.connect(d)
    t.ok(a.line().startswith(b"+OK"), "client A greeted")
    w1 = sechelp.worker_pid(d, a)
    t.ok(w1 is not None, "exactly one process serves client A's socket")
    st = sechelp.status(w1)
    t.eq(ids(st, "Uid"), [unpriv.pw_uid] * 4, "worker: all four uids are postern's")
    t.eq(ids(st, "Gid"), [unpriv.pw_gid] * 4, "worker: all four gids are postern's")
    t.eq(st["Groups"], "", "worker: no supplementary groups")
    t.eq(st["NoNewPrivs"], "1", "worker: NoNewPrivs 1")
    t.eq(st["Seccomp"], FILTER, "worker: Seccomp %s (2: filter mode)" % FILTER)
    t.ok(all(int(st[k], 16) == 0 for k in ("CapInh", "CapPrm", "CapEff",
                                           "CapAmb")),
         "worker: no capabilities")
    t.eq(os.readlink("/proc/%d/root" % w1), os.path.realpath(d.empty),
         "worker: its root directory is empty_dir")
    t.eq(os.readlink("/proc/%d/cwd" % w1), os.path.realpath(d.empty),
         "worker: its working directory is empty_dir")
    t.eq(os.stat("/proc/%d/environ" % w1).st_uid, 0,
         "worker: not dumpable (its /proc files belong to root)")
    f = sechelp.fds(w1)
    t.eq(sorted(f), [0, 1, 2, 3, 4, 5],
         "worker: exactly fds 0-5 before authentication")
    t.ok(f[0] == f[1] == "/dev/null" and f[2] == std_err(d),
         "worker: fds 0-1 are /dev/null, 2 is %s" % std_err(d))
    t.ok(all(f[i].startswith("socket:") for i in (3, 4, 5)),
         "worker: fds 3-5 are its master, client and auth sockets")
    t.eq(child_env(w1), CHILD_ENV,
         "worker: its environment is only master_spawn.c's malloc tunable")
    lim = sechelp.limits(w1)
    t.eq(lim["Max open files"], ("7", "7"), "worker: RLIMIT_NOFILE 7")
    t.eq(lim["Max processes"], ("0", "0"), "worker: RLIMIT_NPROC 0")
    t.eq(lim["Max file size"], ("0", "0"), "worker: RLIMIT_FSIZE 0")
    t.eq(lim["Max core file size"], ("0", "0"), "worker: RLIMIT_CORE 0")
    if ASAN:
        t.ok(True, "# SKIP sanitizer build: no RLIMIT_AS (ASan maps terabytes)")
    else:
        t.ok(lim["Max address space"][0] != "unlimited",
             "worker: RLIMIT_AS set (%s)" % lim["Max address space"][0])
    t.eq(os.path.basename(os.readlink("/proc/%d/exe" % w1)), "postern-pop3",
         "worker: runs the postern-pop3 binary (fresh exec)")
    t.eq(tls_libraries(w1), [],
         "worker: a plaintext connection's worker has no OpenSSL mapped")
    t.eq(libraries(w1, "/libseccomp"), [],
         "worker: no libseccomp (its filter was compiled at build time)")

    # ---- the implicit-TLS worker, confined before the handshake ----
    tc = socket.create_connection((d.host, d.tls_port), 15)
    tp = sechelp.server_pids(master, tc, d.tls_port)
    t.eq(len(tp), 1, "exactly one process serves the implicit-TLS connection")
    if tp:
        wt = tp[0]
        # It sends nothing before the client's hello: wait until it has
        # confined itself (the filter is the last step).
        harness.wait_for(lambda: sechelp.status(wt)["Seccomp"] == FILTER and
                         sechelp.status(wt)["NoNewPrivs"] == "1" and
                         os.readlink("/proc/%d/root" % wt) ==
                         os.path.realpath(d.empty))
        t.eq(os.path.basename(os.readlink("/proc/%d/exe" % wt)),
             "postern-pop3s", "TLS worker: runs its own binary, postern-pop3s")
        st = sechelp.status(wt)
        t.eq(st["Seccomp"], FILTER, "TLS worker: Seccomp %s" % FILTER)
        t.eq(st["NoNewPrivs"], "1", "TLS worker: NoNewPrivs 1")
        t.eq(ids(st, "Uid"), [unpriv.pw_uid] * 4,
             "TLS worker: all four uids are postern's")
        t.eq(ids(st, "Gid"), [unpriv.pw_gid] * 4,
             "TLS worker: all four gids are postern's")
        t.eq(st["Groups"], "", "TLS worker: no supplementary groups")
        t.ok(all(int(st[k], 16) == 0 for k in ("CapInh", "CapPrm", "CapEff",
                                               "CapAmb")),
             "TLS worker: no capabilities")
        t.eq(os.readlink("/proc/%d/root" % wt), os.path.realpath(d.empty),
             "TLS worker: its root directory is empty_dir")
        tf = sechelp.fds(wt)
        t.eq(sorted(tf), [0, 1, 2, 3, 4, 5],
             "TLS worker: exactly fds 0-5 (no key, certificate or library "
             "file left open) %r" % tf)
        client = "socket:[%s]" % sechelp._socket_inode(
            d.tls_port, tc.getsockname()[1])
        t.ok(tf.get(0) == tf.get(1) == "/dev/null" and
             tf.get(2) == std_err(d) and tf.get(4) == client and
             all(tf.get(i, "").startswith("socket:") for i in (3, 5)),
             "TLS worker: 0-1 /dev/null, 2 %s, 3 master, 4 the client's "
             "connection, 5 auth" % std_err(d))
        t.eq(sechelp.limits(wt)["Max open files"], ("7", "7"),
             "TLS worker: RLIMIT_NOFILE 7")
        t.eq(os.stat("/proc/%d/environ" % wt).st_uid, 0,
             "TLS worker: not dumpable")
        t.ok(any("libssl" in l for l in tls_libraries(wt)),
             "(control) TLS worker: libssl is mapped there")
    tc.close()

    # ---- a second connection: a different process, a different layout ----
    b = sechelp.connect(d)
    b.line()
    w2 = sechelp.worker_pid(d, b)
    t.ok(w2 is not None and w2 != w1, "client B has its own worker process")
    l1, l2 = exe_and_stack(w1), exe_and_stack(w2)
    t.ok(None not in l1 + l2 and l1[0] != l2[0],
         "executable base differs between workers (%s, %s)" % (l1[0], l2[0]))
    t.ok(None not in l1 + l2 and l1[1] != l2[1],
         "stack differs between workers (%s, %s)" % (l1[1], l2[1]))

    # ---- after authentication: the storage channel, and storage ----
    a.cmd("USER " + USER)
    r = a.cmd("PASS " + harness.TEST_PASSWORD)
    t.ok(r.startswith(b"+OK"), "client A logged in")
    f = sechelp.fds(w1)
    t.eq(sorted(f), [0, 1, 2, 3, 4, 5, 6],
         "worker: one more descriptor after login (the storage channel)")
    t.ok(f[6].startswith("socket:"), "worker: fd 6 is a socket")
    stores = sechelp.role_pids(master, "postern-store")
    t.eq(len(stores), 1, "one storage process")
    if stores:
        sp = stores[0]
        st = sechelp.status(sp)
        t.eq(ids(st, "Uid"), [user.pw_uid] * 4, "storage: runs as the mail user")
        t.eq(ids(st, "Gid"), [user.pw_gid] * 4, "storage: with the user's group")
        t.eq(st["Groups"].split(), [str(harness.mail_gid())],
             "storage: plus only group mail (the spool is root:mail 2775)")
        t.eq(st["NoNewPrivs"], "1", "storage: NoNewPrivs 1")
        t.eq(st["Seccomp"], FILTER, "storage: Seccomp %s" % FILTER)
        t.ok(int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0,
             "storage: no capabilities")
        sf = sechelp.fds(sp)
        t.ok(sf[0] == sf[1] == "/dev/null" and sf[2] == std_err(d) and
             sf[3].startswith("socket:") and sf[4].startswith("socket:"),
             "storage: 0-1 /dev/null, 2 %s, 3 master, 4 worker" % std_err(d))
        others = [v for k, v in sf.items() if k > 4]
        t.ok(all(v.startswith(d.dir) for v in others),
             "storage: any other descriptor is a file of this session (%r)" % others)
        t.ok(sechelp.fds(w1)[4] not in sf.values(),
             "storage: does not hold the client's socket")
        t.eq(child_env(sp), CHILD_ENV,
             "storage: its environment is only the malloc tunable")
        t.eq(libraries(sp, "/libseccomp", "/libssl", "/libcrypto"), [],
             "storage: neither libseccomp nor OpenSSL mapped")
        t.eq(sechelp.limits(sp)["Max core file size"], ("0", "0"),
             "storage: RLIMIT_CORE 0")

    # ---- the auth helper ----
    helpers = sechelp.role_pids(master, "postern-auth")
    t.eq(len(helpers), 1, "one auth helper")
    if helpers:
        hp = helpers[0]
        st = sechelp.status(hp)
        t.eq(ids(st, "Uid"), [0] * 4, "auth helper: root (pam_unix reads shadow)")
        t.eq(sechelp.limits(hp)["Max core file size"], ("0", "0"),
             "auth helper: no core dumps (it holds passwords)")
        t.ok(not any("TCP" in v or v == sechelp.fds(w1)[4]
                     for v in sechelp.fds(hp).values()),
             "auth helper: holds no client socket")
        # Open sessions: A (logged in) and B; the TLS connection closed
        # earlier is detached once the master has seen it end.
        harness.wait_for(lambda: len(sechelp.fds(hp)) == 6, timeout=5)
        hf = sechelp.fds(hp)
        t.eq(sorted(hf)[:4], [0, 1, 2, 3], "auth helper: fds 0-3 open")
        t.ok(hf.get(0) == hf.get(1) == "/dev/null" and
             hf.get(2) == std_err(d) and hf.get(3, "").startswith("socket:"),
             "auth helper: 0-1 /dev/null, 2 %s, 3 its master channel"
             % std_err(d))
        chans = [v for k, v in hf.items() if k > 3]
        t.ok(len(chans) == 2 and all(v.startswith("socket:") for v in chans),
             "auth helper: otherwise exactly one auth channel per open "
             "session (A and B), no file, pipe or PAM leftover (%r)" % hf)

    # ---- one process per connection ----
    more = [sechelp.connect(d) for _ in range(4)]
    pids = []
    for c in more:
        c.line()
        pids.append(sechelp.worker_pid(d, c))
    t.ok(None not in pids and len(set(pids + [w1, w2])) == 6,
         "six connections, six distinct worker processes")
    t.ok(all(sechelp.server_pids(master, c.sock, d.port) == [p]
             for c, p in zip(more, pids)),
         "no other process holds any of these connections")
    t.ok(sechelp.server_pids(master, b.sock, d.port) == [w2],
         "client B's connection is held by its worker only")
    t.diag(subprocess.run(["ps", "-o", "user:10,pid,ppid,args", "--ppid",
                           str(master), "-p", str(master)],
                          stdout=subprocess.PIPE).stdout.decode())
    for c in more:
        c.cmd("QUIT")
        c.close()
    t.eq(a.cmd("QUIT")[:3], b"+OK", "client A quits")
    t.ok(sechelp.wait_gone(w1), "client A's worker exits with its connection")

    # ---- the master never reads client data ----
    strace = shutil.which("strace")
    if strace is None:
        t.ok(True, "# SKIP strace not installed")
    else:
        out = os.path.join(d.dir, "strace.out")
        tr = subprocess.Popen([strace, "-qq", "-yy", "-o", out, "-e",
                               "trace=read,readv,pread64,recvfrom,recvmsg,"
                               "recvmmsg,accept,accept4", "-p", str(master)])
        time.sleep(1.0)
        c, r = sechelp.login(d, USER)
        c.send(b"STAT\r\nLIST\r\nRETR 1\r\nNOOP\r\n")
        c.line()
        c.line()
        c.multiline()
        c.line()
        c.multiline()
        c.line()
        c.cmd("QUIT")
        c.close()
        time.sleep(0.5)
        tr.send_signal(signal.SIGINT)
        tr.wait(10)
        lines = open(out).read().splitlines()
        accepted = [l for l in lines if l.startswith("accept") and "TCP" in l]
        t.ok(accepted, "strace saw the master accept the client (%d)" % len(accepted))
        reads = [l for l in lines if not l.startswith("accept") and
                 "TCP" in l.split(",")[0]]
        t.eq(reads, [], "the master made no read/recv call on a TCP socket")
        t.ok(any(l.startswith("recvmsg") for l in lines),
             "strace saw the master's IPC reads (so the trace worked)")
        t.ok(d.wait_log('session end: rhost=127.0.0.1 user="%s" session=' % USER)
             and "retrieved=1 deleted=0 octets=" in d.read_log(),
             "one line per session end, with its counts")
    b.close()
    a.close()
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    t.diag(d.read_log()[-3000:])
finally:
    d.cleanup()

# ---- storage gets group mail only where the mailbox directory needs it:
# mailbox = %h/mbox in a home directory the user owns ----
NOMAIL = "ptsecnomail"
d = harness.Daemon(users=(NOMAIL,), config={"mailbox": "%h/mbox"})
try:
    home = os.path.join(d.dir, "home-" + NOMAIL)
    pw = pwd.getpwnam(NOMAIL)
    os.mkdir(home, 0o700)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    with harness._accounts_lock():
        harness.run(["usermod", "-d", home, NOMAIL])
    box = os.path.join(home, "mbox")
    with open(box, "wb") as f:
        f.write(harness.make_mbox([harness.message(1)]))
    os.chown(box, pw.pw_uid, pw.pw_gid)
    os.chmod(box, 0o600)
    d.start()
    c, r = sechelp.login(d, NOMAIL)
    t.ok(r.startswith(b"+OK") and b"1 message" in r,
         "mailbox = %%h/mbox: logged in, one message (%r)" % r)
    stores = sechelp.role_pids(d.proc.pid, "postern-store")
    t.eq(len(stores), 1, "one storage process")
    if stores:
        st = sechelp.status(stores[0])
        t.eq(st["Groups"], "",
             "storage: no supplementary group (the home needs no group mail)")
        t.eq(ids(st, "Gid"), [pw.pw_gid] * 4, "storage: the user's own group")
    t.eq(c.cmd("QUIT")[:3], b"+OK", "QUIT")
    c.close()
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    t.diag(d.read_log()[-3000:])
finally:
    d.cleanup()
    with harness._accounts_lock():
        harness.run(["usermod", "-d", "/home/" + NOMAIL, NOMAIL])
t.done()
