#!/usr/bin/env python3
"""
t-sec-limits.py - slow, silent and greedy clients cannot hold the server:
unauthenticated connections per address (a slowloris), connections per
address and total connections are limited, refused with -ERR [SYS/TEMP]
and logged once per interval; a second session of a user gets -ERR
[IN-USE], also logged once per interval; silent and trickling
clients are cut at the pre-authentication deadline; a flood of pipelined
commands is answered in order with bounded memory; and throughout, a
legitimate client from another address is served.
"""
import os
import socket
import time

import harness
import sechelp as S

harness.require_root()
t = harness.TAP()
U1, U2, U3 = "ptseclim1", "ptseclim2", "ptseclim3"
REFUSAL = b"-ERR [SYS/TEMP] Too many connections; try again later."
d = harness.Daemon(users=(U1, U2, U3), config={
    "auth_fail_delay": "100", "preauth_timeout": "5",
    "max_connections_per_addr": "6", "max_preauth_per_addr": "4"})
for u in (U1, U2, U3):
    d.write_mbox(u, harness.make_mbox([harness.message(1)]))


def greeted(c):
    try:
        return c.line().startswith(b"+OK")
    except (EOFError, OSError):
        return False


def refused(source=None):
    c = S.connect(d, source)
    try:
        line = c.line()
        return line == REFUSAL and c.closed(5)
    except (EOFError, OSError):
        return False
    finally:
        c.close()


def legit(source="127.0.0.2", user=U3):
    """A normal client from another address: login, STAT, QUIT."""
    try:
        c, r = S.login(d, user, source=source)
        ok = r.startswith(b"+OK") and c.cmd("STAT").startswith(b"+OK") and \
            c.cmd("QUIT").startswith(b"+OK")
        c.close()
        return ok
    except (EOFError, OSError, AssertionError):
        return False


try:
    d.start()
    time.sleep(0.5)     # the harness's start-up probe is gone

    # ---- a slowloris: unauthenticated connections from one address ----
    silent = [S.connect(d) for _ in range(4)]
    t.ok(all(greeted(c) for c in silent), "4 unauthenticated connections greeted")
    t.ok(refused(), "the 5th unauthenticated one from that address is refused "
         "with -ERR [SYS/TEMP]")
    t.ok(d.wait_log("limit max_preauth_per_addr reached"), "the limit is logged")
    t.ok(all(refused() for _ in range(5)), "further attempts are refused too")
    t.eq(S.log_count(d, "limit max_preauth_per_addr reached"), 1,
         "but logged only once per interval")
    t.ok(legit(), "meanwhile a client from another address is served")

    # ---- per address, authenticated sessions included ----
    a1, r1 = S.login(d, U1, source="127.0.0.3")
    a2, r2 = S.login(d, U2, source="127.0.0.3")
    t.ok(r1.startswith(b"+OK") and r2.startswith(b"+OK"),
         "two sessions logged in from 127.0.0.3")
    loris3 = [S.connect(d, "127.0.0.3") for _ in range(4)]
    t.ok(all(greeted(c) for c in loris3), "plus 4 unauthenticated ones")
    t.ok(refused("127.0.0.3"), "the 7th connection from 127.0.0.3 is refused")
    t.ok(d.wait_log("limit max_connections_per_addr reached"),
         "max_connections_per_addr is logged")

    # ---- sessions per user: one ----
    c, r = S.login(d, U1, source="127.0.0.4")
    t.eq(r, b"-ERR [IN-USE] Mailbox is in use by another session.",
         "a second concurrent session of one user gets [IN-USE]")
    c.close()
    t.ok(d.wait_log('limit sessions_per_user reached; refusing logins with '
                    '[IN-USE] (first: rhost=127.0.0.4 user="%s" session=' % U1),
         "the per-user limit is logged with the address and the user")
    c, r = S.login(d, U1, source="127.0.0.4")
    t.ok(r.startswith(b"-ERR [IN-USE]"), "a third attempt gets [IN-USE] too")
    c.close()
    time.sleep(0.3)
    t.eq(S.log_count(d, "limit sessions_per_user reached"), 1,
         "but the limit is logged only once per interval")

    # ---- the pre-authentication deadline cuts silent clients ----
    start = time.time()
    cut = []
    for c in silent:
        try:
            line = c.line()
        except (EOFError, OSError):
            line = b""
        cut.append(line.startswith(b"-ERR") and c.closed(5))
    took = time.time() - start
    t.ok(all(cut), "silent clients are told -ERR and closed at the deadline")
    t.ok(took < 15, "... within preauth_timeout and a margin (%.1f s)" % took)
    t.ok(all(c.closed(10) for c in loris3),
         "so are the unauthenticated ones from 127.0.0.3")
    t.ok(a1.cmd("NOOP") == b"+OK" and a2.cmd("NOOP") == b"+OK",
         "authenticated sessions are not cut by the pre-auth deadline")
    c = S.connect(d)
    t.ok(greeted(c), "the address's slots are free again")
    c.close()

    # A client trickling bytes does not extend the deadline.
    c = S.connect(d)
    c.line()
    start = time.time()
    closed = False
    while time.time() - start < 20:
        try:
            c.send(b"N")
        except OSError:
            closed = True
            break
        if c.closed(0.5):
            closed = True
            break
    took = time.time() - start
    t.ok(closed and took < 12,
         "a client trickling a byte every 0.5 s is cut at the absolute "
         "deadline (%.1f s)" % took)
    c.close()

    # ---- floods ----
    # Authenticated: 50000 pipelined NOOPs, sent without reading.
    n = 50000
    a1.sock.settimeout(60)
    a1.send(b"NOOP\r\n" * n)
    wpid = S.worker_pid(d, a1)
    time.sleep(0.5)
    t.ok(legit(), "during the flood, another client is served")
    rss = int(S.status(wpid)["VmRSS"].split()[0]) if wpid else -1
    t.ok(0 < rss < 32 * 1024, "the flooded worker's memory stays bounded "
         "(VmRSS %d KiB)" % rss)
    got = 0
    try:
        while got < n:
            if a1.line() != b"+OK":
                break
            got += 1
    except (EOFError, OSError):
        pass
    t.eq(got, n, "every pipelined command is answered, in order")
    t.eq(a1.cmd("QUIT")[:3], b"+OK", "and the session is still usable")
    a2.cmd("QUIT")

    # Unauthenticated: a megabyte of junk, never reading the answers.
    c = S.connect(d)
    c.line()
    c.sock.settimeout(30)
    start = time.time()
    try:
        for _ in range(64):
            c.send(b"JUNK\r\n" * 2800)
    except OSError:
        pass
    t.ok(c.closed(20), "an unauthenticated flooder that never reads is cut")
    t.ok(time.time() - start < 20, "... by the pre-authentication deadline")
    c.close()
    t.ok(legit(), "a client from another address is served afterwards")
    t.ok(legit(source="127.0.0.1", user=U1),
         "and so is one from the flooders' address")
finally:
    d.cleanup()

# ---- IPv6: per-address limits count the /64 ----
d = harness.Daemon(users=(U1,), host="::1", config={
    "max_preauth_per_addr": "2", "auth_fail_delay": "100"})
try:
    d.start()
    time.sleep(0.5)
    held = []
    for _ in range(2):
        s6 = socket.create_connection(("::1", d.port), 10)
        held.append(harness.RawClient(s6))
    t.ok(all(greeted(c) for c in held), "IPv6: two unauthenticated connections")
    s6 = socket.create_connection(("::1", d.port), 10)
    c = harness.RawClient(s6)
    t.ok(c.line() == REFUSAL and c.closed(5), "IPv6: the third is refused")
    t.ok(d.wait_log("limit max_preauth_per_addr reached; refusing "
                    "connections (first: rhost=::1)"),
         "IPv6: logged with the client's address")
    for c in held:
        c.close()
finally:
    d.cleanup()

# ---- the total: max_connections ----
d = harness.Daemon(users=(U1,), config={"max_connections": "2",
                                        "auth_fail_delay": "100"})
try:
    d.start()
    time.sleep(0.5)
    held = [S.connect(d, "127.0.0.5"), S.connect(d, "127.0.0.6")]
    t.ok(all(greeted(c) for c in held), "two connections from two addresses")
    t.ok(refused("127.0.0.7"), "a third, from a third address, is refused "
         "(max_connections 2)")
    t.ok(d.wait_log("limit max_connections reached"), "max_connections is logged")
    for c in held:
        c.close()
    time.sleep(0.5)
    t.ok(legit(source="127.0.0.7", user=U1), "freed slots serve new clients")
finally:
    d.cleanup()
t.done()
