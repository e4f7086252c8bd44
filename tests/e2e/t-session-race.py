#!/usr/bin/env python3
"""
t-session-race.py - the master reads the worker's and the auth helper's
channels separately, so frames sent in one order can be read in another.
The worker reports its TLS handshake (WORKER_TLS) before it forwards any
credentials, but when the master was busy the helper's GRANTED for the
same session can be read first; the session must go on (it used to be
ended as "unexpected WORKER_TLS", seen under load in the benchmark).
Made deterministic by stopping the master (SIGSTOP) until the helper
has queued its GRANTED behind the worker's WORKER_TLS.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import sechelp  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
if shutil.which("ss") is None:
    h.skip_all("ss (iproute2) is needed to see the master's socket queues")
t = h.TAP()
USER = "ptrace1"
PW = h.TEST_PASSWORD


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def queued_from(master, peer):
    """Bytes waiting in the master's socket whose other end peer holds."""
    theirs = socket_inodes(peer)
    out = subprocess.run(["ss", "-xpnH"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    total = 0
    for line in out.splitlines():
        f = line.split()
        # u_str ESTAB RECVQ SENDQ LOCAL INODE PEER PEERINODE users:(...)
        if len(f) >= 9 and ("pid=%d," % master) in line and f[7] in theirs:
            total += int(f[2])
    return total


d = tlsutil.tls_daemon([USER])
d.write_mbox(USER, h.make_mbox([h.message(1), h.message(2)]))
d.start()
ctx = d.ca.client_context()
master = d.proc.pid
try:
    helper = []
    # The master starts its auth helper once it listens: wait for it.
    h.wait_for(lambda: helper.extend(sechelp.role_pids(master, "postern-auth"))
               or helper, 30)
    t.eq(len(helper), 1, "found the auth helper")
    before = set(sechelp.role_pids(master, "postern-pop3s"))
    raw = socket.create_connection(("127.0.0.1", d.tls_port), 10)
    new = []

    def confined():
        # The worker drops to the unprivileged user once it has its
        # set-up from the master and the auth helper knows the session.
        new[:] = list(set(sechelp.role_pids(master, "postern-pop3s")) - before)
        if len(new) != 1:
            return False
        with open("/proc/%d/status" % new[0]) as f:
            uid = [l for l in f if l.startswith("Uid:")][0].split()[1]
        return uid != "0"
    t.ok(h.wait_for(confined, 30), "the worker started and confined itself")
    os.kill(master, signal.SIGSTOP)
    try:
        # The handshake, WORKER_TLS, USER and PASS while the master
        # sleeps: WORKER_TLS waits in the worker's channel, and the
        # helper's verdict is queued on its own channel behind it.
        c = h.RawClient(ctx.wrap_socket(raw, server_hostname="127.0.0.1"))
        t.ok(c.line().startswith(b"+OK"), "greeting over TLS (WORKER_TLS sent)")
        t.ok(c.cmd("USER " + USER).startswith(b"+OK"), "USER")
        c.send(("PASS %s\r\n" % PW).encode())
        t.ok(h.wait_for(lambda: queued_from(master, helper[0]) > 0, 30),
             "the helper's verdict waits in the master's socket")
        t.ok(queued_from(master, new[0]) > 0,
             "so does the worker's WORKER_TLS, sent earlier")
    finally:
        os.kill(master, signal.SIGCONT)
    try:
        answer = c.line()
    except EOFError:
        answer = b"(connection closed)"
    t.ok(answer.startswith(b"+OK"),
         "PASS answered +OK: the session goes on (%r)" % answer[:40])
    if not answer.startswith(b"+OK"):
        t.done()    # exits (through the finally below)
    t.ok(c.cmd("STAT").startswith(b"+OK 2 "), "STAT")
    t.ok(c.cmd("QUIT").startswith(b"+OK"), "QUIT")
    c.close()
    t.ok(d.wait_log('session end: rhost=127.0.0.1 user="%s"' % USER),
         "session end logged")
    log = d.read_log()
    t.ok("unexpected" not in log, "no 'unexpected' frame in the log")
    t.ok('user="%s" session=' % USER in log and "tls=yes" in log.split(
        'session end: rhost=127.0.0.1 user="%s"' % USER)[1].split("\n")[0],
        "the session end says tls=yes")
finally:
    d.stop()
    d.cleanup()
t.done()
