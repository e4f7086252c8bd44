#!/usr/bin/env python3
"""
t-tls-lazy.py - a plain connection builds its TLS context only on STLS,
from the certificate and key it read as root before the sandbox: the
context is built inside the sandbox, and if it cannot be built, STLS is
refused with -ERR before any "+OK Begin TLS negotiation" and no longer
advertised. Shown by breaking the key file after the master checked it
at start-up: plain sessions still work (they never build a context),
STLS is refused cleanly, implicit TLS fails closed. With the good key,
STLS then works again in new connections.
"""
import os
import shutil
import socket
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
t = h.TAP()
USER = "pttls13"
PW = h.TEST_PASSWORD

d = tlsutil.tls_daemon([USER], extra={"plaintext_auth": "always"})
d.write_mbox(USER, h.make_mbox([h.message(1), h.message(2)]))
d.start()
ctx = d.ca.client_context()
key = d.config["tls_key"]
good = key + ".good"
try:
    shutil.copy2(key, good)

    def capa(c):
        t_ = c.cmd("CAPA")
        return t_, c.multiline()

    # Working key: STLS advertised and working.
    c = h.raw_session("127.0.0.1", d.port)
    c.line()
    r, caps = capa(c)
    t.ok(b"STLS" in caps, "STLS advertised")
    t.eq(c.cmd("STLS"), b"+OK Begin TLS negotiation.", "STLS accepted")
    tc = h.RawClient(ctx.wrap_socket(c.sock, server_hostname="127.0.0.1"))
    t.ok(tc.cmd("USER " + USER).startswith(b"+OK"), "USER inside TLS")
    t.ok(tc.cmd("PASS " + PW).startswith(b"+OK"), "PASS inside TLS")
    t.ok(tc.cmd("QUIT").startswith(b"+OK"), "QUIT")
    tc.close()

    # The key file now holds something that is not a key (the master
    # checked it at start-up; workers read it per connection).
    with open(key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    mark = len(d.read_log())
    c = h.raw_session("127.0.0.1", d.port)
    t.ok(c.line().startswith(b"+OK"), "plain greeting with a broken key")
    r, caps = capa(c)
    t.ok(b"STLS" in caps, "STLS still advertised: the key is parsed only on STLS")
    t.eq(c.cmd("STLS"), b"-ERR STLS is not available on this server.",
         "STLS refused before any +OK (the context is built first)")
    r, caps = capa(c)
    t.ok(b"STLS" not in caps, "STLS no longer advertised in that session")
    t.ok(c.cmd("USER " + USER).startswith(b"+OK"), "the plain session goes on")
    t.ok(c.cmd("PASS " + PW).startswith(b"+OK"), "... and logs in")
    t.ok(c.cmd("STAT").startswith(b"+OK 2 "), "... and works")
    t.ok(c.cmd("QUIT").startswith(b"+OK"), "QUIT")
    c.close()
    t.ok(d.wait_log("TLS unavailable: tls_key") and
         "TLS unavailable: tls_key" in d.read_log()[mark:],
         "the reason is logged")

    # Implicit TLS cannot start at all: the connection is closed.
    s = socket.create_connection(("127.0.0.1", d.tls_port), 10)
    try:
        ctx.wrap_socket(s, server_hostname="127.0.0.1").recv(100)
        ok = False
    except (ssl.SSLError, OSError):
        ok = True
    t.ok(ok, "implicit TLS with a broken key: no handshake")
    s.close()

    shutil.copy2(good, key)
    c = h.raw_session("127.0.0.1", d.port)
    c.line()
    t.eq(c.cmd("STLS"), b"+OK Begin TLS negotiation.",
         "the key repaired: STLS works in a new connection")
    tc = h.RawClient(ctx.wrap_socket(c.sock, server_hostname="127.0.0.1"))
    t.ok(tc.cmd("CAPA").startswith(b"+OK"), "TLS is up")
    tc.multiline()
    t.ok(tc.cmd("QUIT").startswith(b"+OK"), "QUIT inside TLS")
    tc.close()
finally:
    if os.path.exists(good):
        shutil.copy2(good, key)
    d.stop()
    d.cleanup()
t.done()
