#!/usr/bin/env python3
"""
t-tls-cork.py - a large response over TLS is corked (TCP_CORK) while it
is written and uncorked at its end, so that OpenSSL's 16 KiB records
leave in full segments and yet no answer is ever left to the kernel's
cork timer. The test looks at the worker's own client socket (a copy
taken with pidfd_getfd, as root): corked while a RETR is blocked on a
client that does not read, uncorked once the answer is complete, never
corked for single-line answers; pipelined commands are all answered.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import sechelp  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
if not hasattr(os, "pidfd_open"):
    h.skip_all("no os.pidfd_open (Python >= 3.9)")
USER = "pttls12"
PW = h.TEST_PASSWORD
MSGS = [h.message(1), h.message(2, size=8000000), h.message(3, size=300000)]
FD_CLIENT = 4           # lib/ipc.h


def client_socket_of(pid):
    """A duplicate of the worker's client socket."""
    return socket.socket(fileno=sechelp.dup_fd(pid, FD_CLIENT))


def pidfd_getfd_works():
    try:
        os.close(sechelp.dup_fd(os.getpid(), 0))
        return True
    except OSError:
        return False


def corked(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) != 0


if not pidfd_getfd_works():
    h.skip_all("pidfd_getfd(2) is not available (Linux >= 5.6)")
t = h.TAP()
d = tlsutil.tls_daemon([USER])
d.write_mbox(USER, h.make_mbox(MSGS))
d.start()
ctx = d.ca.client_context()
try:
    before = set(sechelp.role_pids(d.proc.pid, "postern-pop3s"))
    raw = socket.socket()
    # A small receive window: the worker blocks in the middle of RETR 2.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(20)
    raw.connect(("127.0.0.1", d.tls_port))
    local = raw.getsockname()   # wrap_socket takes raw's descriptor
    c = h.RawClient(ctx.wrap_socket(raw, server_hostname="127.0.0.1"))
    t.ok(c.line().startswith(b"+OK"), "greeting over TLS")

    def our_worker_socket():
        """The client socket of the worker serving raw (other connections,
        such as the harness's readiness probe, may have workers too)."""
        for pid in set(sechelp.role_pids(d.proc.pid, "postern-pop3s")) - before:
            try:
                s = client_socket_of(pid)
            except OSError:
                continue    # gone already
            try:
                if s.getpeername() == local:
                    return s
            except OSError:
                pass
            s.close()
        return None

    found = []
    h.wait_for(lambda: found.append(our_worker_socket()) or found[-1] is not None)
    t.ok(found and found[-1] is not None, "found the session's worker")
    ws = found[-1]
    t.ok(c.cmd("USER " + USER).startswith(b"+OK"), "USER")
    t.ok(c.cmd("PASS " + PW).startswith(b"+OK"), "PASS")
    t.ok(not corked(ws), "not corked after single-line answers")

    c.send(b"RETR 2\r\n")
    t.ok(h.wait_for(lambda: corked(ws)),
         "corked while an 8 MB RETR waits for a client that does not read")
    t.ok(c.line().startswith(b"+OK"), "RETR 2 answered")
    t.ok(c.multiline() == h.expected_retr(MSGS[1]), "8 MB message byte-exact")
    t.ok(h.wait_for(lambda: not corked(ws)), "uncorked at the end of the answer")

    # Pipelined: two large answers and small ones in one batch; all of
    # it arrives (the client waits for the last answer, nothing more).
    c.send(b"RETR 3\r\nSTAT\r\nRETR 1\r\nNOOP\r\n")
    t.ok(c.line().startswith(b"+OK"), "pipelined RETR 3")
    t.ok(c.multiline() == h.expected_retr(MSGS[2]), "300 kB message byte-exact")
    t.ok(c.line().startswith(b"+OK 3 "), "pipelined STAT")
    t.ok(c.line().startswith(b"+OK"), "pipelined RETR 1")
    t.ok(c.multiline() == h.expected_retr(MSGS[0]), "small message byte-exact")
    t.eq(c.line(), b"+OK", "pipelined NOOP, the last answer, arrived")
    t.ok(h.wait_for(lambda: not corked(ws)), "uncorked after the batch")
    t.ok(c.cmd("QUIT").startswith(b"+OK"), "QUIT")
    ws.close()
    c.close()
finally:
    d.stop()
    d.cleanup()
t.done()
