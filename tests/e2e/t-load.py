#!/usr/bin/env python3
"""
t-load.py - load on loopback, bounded: many concurrent authenticated
sessions doing LIST/UIDL/RETR/DELE/QUIT on their own mailboxes while
procmail delivers new mail into them; many idle pre-auth connections
held open meanwhile; one client pipelining a long run of commands; then
every mailbox checked message by message, and the master's and auth
helper's memory and descriptors compared before and after.

The short form runs under make check. tests/soak.sh runs the long form
through the environment:
  POSTERN_LOAD_USERS (50)    concurrent sessions, one user each
  POSTERN_LOAD_ROUNDS (3)    sessions per user, one after the other
  POSTERN_LOAD_DELIVERIES (2) procmail deliveries per user during the run
  POSTERN_LOAD_IDLE (200)    idle pre-auth connections held open
  POSTERN_LOAD_PIPELINE (100000) commands one client pipelines
No assertion is about time; durations are reported as diagnostics.
"""
import os
import random
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import loadlib as L  # noqa: E402

USERS = int(os.environ.get("POSTERN_LOAD_USERS", "50"))
ROUNDS = int(os.environ.get("POSTERN_LOAD_ROUNDS", "3"))
DELIVERIES = int(os.environ.get("POSTERN_LOAD_DELIVERIES", "2"))
IDLE = int(os.environ.get("POSTERN_LOAD_IDLE", "200"))
PIPELINE = int(os.environ.get("POSTERN_LOAD_PIPELINE", "100000"))
INITIAL = 4     # messages per mailbox at the start

h.require_root()
if not os.path.exists(L.PROCMAIL):
    h.skip_all("procmail is not installed (apt-get install procmail)")
# Sockets for the idle connections, in this process and in the master.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = IDLE * 3 + USERS * 6 + 1024
if hard != resource.RLIM_INFINITY and hard < want:
    h.skip_all("RLIMIT_NOFILE hard limit %d < %d (raise it to run this size)"
               % (hard, want))
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

t = h.TAP()
users = L.make_users("pthardl", USERS)
PIPE_USER = L.make_users("pthardp", 1)[0]
d = h.Daemon(users=(), config={
    "max_connections": str(max(1000, IDLE + USERS * 2 + 100)),
    "preauth_timeout": "3600",
})
random.seed(7)
# The truth: per user, message tag -> original bytes; what the sessions
# deleted; what procmail delivered.
truth = {u: {} for u in users}
deleted = {u: set() for u in users}
delivered = {u: set() for u in users}
for u in users:
    msgs = []
    for i in range(INITIAL):
        tag = "%s-i%d" % (u, i)
        m = L.load_message(u, tag)
        truth[u][tag] = m
        msgs.append(m)
    d.write_mbox(u, h.make_mbox(msgs))
pipe_msgs = [h.message(i) for i in range(1, 4)]
d.write_mbox(PIPE_USER, h.make_mbox(pipe_msgs))

errors = []
elock = threading.Lock()


def fail(what):
    with elock:
        errors.append(what)


def session(u, idx, rnd):
    """One session: list, check every message byte for byte, delete the
    first one still listed, quit (expunge)."""
    c = L.Client(d, L.source_addr(2, idx))
    try:
        c.login(u)
        listed = c.listing("LIST")
        uidls = c.listing("UIDL")
        if len(listed) != len(uidls):
            fail("%s: LIST and UIDL disagree" % u)
        if not listed:
            c.cmd("QUIT")
            return
        for n, size in listed:
            lines = c.retr(int(n))
            tag = L.msgid(lines)
            tag = tag.split("@")[0] if tag else None
            orig = truth[u].get(tag)
            if orig is None:
                fail("%s: RETR %s gave an unknown message %r" % (u, n, tag))
            elif lines != h.expected_retr(orig):
                fail("%s: RETR %s (%s) is not byte-exact" % (u, n, tag))
            elif sum(len(l) + 2 for l in lines) != int(size):
                fail("%s: LIST %s size %s != RETR octets" % (u, n, size))
        first = c.retr(int(listed[0][0]))
        tag = L.msgid(first).split("@")[0]
        r = c.cmd("DELE %d" % int(listed[0][0]))
        if not r.startswith(b"+OK"):
            fail("%s: DELE: %r" % (u, r))
            return
        r = c.cmd("QUIT")
        if r.startswith(b"+OK"):
            with elock:
                deleted[u].add(tag)
        else:
            fail("%s: QUIT (expunge): %r" % (u, r))
    finally:
        c.close()


def user_worker(u, idx, rounds):
    for rnd in range(rounds):
        try:
            session(u, idx, rnd)
        except Exception as e:  # noqa: BLE001 - counted as a failure
            fail("%s round %d: %r" % (u, rnd, e))
        time.sleep(random.random() * 0.2)


def deliverer(stop_at):
    """procmail deliveries spread over the run, to random users."""
    plan = [(u, k) for u in users for k in range(DELIVERIES)]
    random.shuffle(plan)
    for j, (u, k) in enumerate(plan):
        tag = "%s-d%d" % (u, k)
        m = L.load_message(u, tag)
        with elock:
            truth[u][tag] = m
        rc = L.deliver(d, u, m, when="Sun Nov 22 08:%02d:%02d 2026" % (k % 60, j % 60))
        if rc == 0:
            with elock:
                delivered[u].add(tag)
        else:
            fail("procmail to %s exited %d" % (u, rc))
        # Spread deliveries over the expected duration of the sessions.
        time.sleep(max(0.0, min(0.05, (stop_at - time.time()) / max(1, len(plan) - j))))


def pipeline_client():
    """PIPELINE commands in a row (NOOP and LIST 1 alternating) written by
    one thread while another reads; every answer must come, in order."""
    c = L.Client(d, L.source_addr(4, 1), timeout=300)
    c.login(PIPE_USER)
    size1 = int(c.cmd("LIST 1").split()[2])
    want = {0: b"+OK", 1: b"+OK 1 %d" % size1}
    cmds = [b"NOOP\r\n", b"LIST 1\r\n"]

    def writer():
        batch = []
        for i in range(PIPELINE):
            batch.append(cmds[i % 2])
            if len(batch) == 1000:
                c.send(b"".join(batch))
                batch = []
        c.send(b"".join(batch))

    w = threading.Thread(target=writer)
    started = time.time()
    w.start()
    bad = 0
    for i in range(PIPELINE):
        line = c.line()
        if line != want[i % 2]:
            bad += 1
            if bad < 5:
                fail("pipeline answer %d: %r" % (i, line))
    w.join()
    quit_ok = c.cmd("QUIT").startswith(b"+OK")
    c.close()
    return bad, quit_ok, time.time() - started


d.start()
try:
    master = d.proc.pid
    time.sleep(0.5)
    apid = L.auth_pid(d)
    base = {"master fds": L.fd_count(master), "auth fds": L.fd_count(apid)}

    # Idle pre-auth connections, 5 per source address; each must get its
    # greeting (accepted, worker started) and stay open throughout.
    idle = []
    t0 = time.time()
    for i in range(IDLE):
        try:
            c = L.Client(d, L.source_addr(3, i // 5), timeout=120)
            g = c.line()
            idle.append((c, g))
        except Exception as e:  # noqa: BLE001
            fail("idle connection %d: %r" % (i, e))
    t.eq(sum(1 for _, g in idle if g.startswith(b"+OK")), IDLE,
         "%d idle pre-auth connections each got a greeting" % IDLE)
    t.diag("%d idle connections opened in %.1f s" % (IDLE, time.time() - t0))

    # A legitimate client still logs in while they are held.
    c = L.Client(d, L.source_addr(4, 2))
    t0 = time.time()
    c.login(users[0])
    t.ok(c.cmd("STAT").startswith(b"+OK"), "a client logs in while %d idle "
         "connections are held" % IDLE)
    t.diag("login took %.2f s with the idle connections held" % (time.time() - t0))
    c.cmd("QUIT")
    c.close()

    # Warm-up: one round of all sessions at once, with the idle
    # connections held, so that PAM, NSS and the allocators of the
    # long-lived processes reach their working size at the load's
    # concurrency before the first measurement.
    warm = [threading.Thread(target=user_worker, args=(u, i, 1))
            for i, u in enumerate(users)]
    for th in warm:
        th.start()
    for th in warm:
        th.join()
    time.sleep(0.5)
    before = {"master pss": L.pss_kb(master), "auth pss": L.pss_kb(apid),
              "master fds": L.fd_count(master), "auth fds": L.fd_count(apid)}

    # The load: sessions, deliveries and the pipelining client at once.
    t0 = time.time()
    threads = [threading.Thread(target=user_worker, args=(u, i, ROUNDS))
               for i, u in enumerate(users)]
    threads.append(threading.Thread(target=deliverer, args=(time.time() + 10,)))
    result = {}
    threads.append(threading.Thread(
        target=lambda: result.update(pipe=pipeline_client())))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.diag("%d users x %d sessions, %d deliveries, %d pipelined commands: "
           "%.1f s" % (USERS, ROUNDS, USERS * DELIVERIES, PIPELINE,
                       time.time() - t0))
    t.eq(errors[:10], [], "every session, delivery and answer was right")
    bad, quit_ok, secs = result.get("pipe", (PIPELINE, False, 0))
    t.eq(bad, 0, "%d pipelined commands answered, all in order" % PIPELINE)
    t.ok(quit_ok, "the pipelining client quits normally")
    t.diag("pipeline: %d commands in %.1f s" % (PIPELINE, secs))

    # Long-lived processes, in the same state as after the warm-up (the
    # idle connections still held): flat, with a generous margin, since
    # the allocator may keep freed pages but a per-session leak would not
    # fit; and exactly the same descriptors.
    deadline = time.time() + 30
    while time.time() < deadline and L.fd_count(master) != before["master fds"]:
        time.sleep(0.2)
    after = {"master pss": L.pss_kb(master), "auth pss": L.pss_kb(apid),
             "master fds": L.fd_count(master), "auth fds": L.fd_count(apid)}
    t.diag("before: %r" % before)
    t.diag("after:  %r" % after)
    sessions = USERS * ROUNDS + 1
    for who in ("master", "auth"):
        b, a = before[who + " pss"], after[who + " pss"]
        # ASan holds freed memory in quarantine (up to 256 MB): sizes say
        # nothing there, and LeakSanitizer checks both processes instead.
        if not h.sanitizer_build():
            t.ok(a <= b + max(4096, b // 2), "%s memory flat over %d sessions "
                 "(PSS %d KiB -> %d KiB)" % (who, sessions, b, a))
        t.eq(after[who + " fds"], before[who + " fds"],
             "%s: same descriptors after the load" % who)

    still = 0
    for c, _ in idle:
        try:
            still += not c.closed(0.01)
        except Exception:  # noqa: BLE001
            pass
        c.close()
    t.eq(still, IDLE, "the idle connections were held open through the load")
    deadline = time.time() + 30
    while time.time() < deadline and (L.fd_count(master), L.fd_count(apid)) != \
            (base["master fds"], base["auth fds"]):
        time.sleep(0.2)
    t.eq((L.fd_count(master), L.fd_count(apid)),
         (base["master fds"], base["auth fds"]),
         "master and auth helper: back to their descriptors before the "
         "idle connections")

    # Every mailbox: initial + delivered - deleted, each exactly once.
    wrong = []
    for u in users:
        ids = [i.split("@")[0] for i in L.mbox_ids(d.mbox_path(u))]
        want = sorted((set(truth[u]) - deleted[u]) & (
            {"%s-i%d" % (u, i) for i in range(INITIAL)} | delivered[u]))
        if sorted(ids) != want:
            wrong.append((u, sorted(ids), want))
    t.eq(wrong[:3], [], "every mailbox holds exactly its expected messages "
         "(none lost, none duplicated, deleted ones gone)")
    t.eq(sum(len(v) for v in delivered.values()), USERS * DELIVERIES,
         "every procmail delivery succeeded")
    # Every session deletes one message if there is one: the first
    # INITIAL rounds always find one, later ones only delivered mail.
    t.ok(sum(len(v) for v in deleted.values()) >= USERS * min(ROUNDS, INITIAL),
         "sessions expunged messages (%d)" % sum(len(v) for v in deleted.values()))

    t.eq(L.auth_pid(d), apid, "the auth helper was never restarted")
finally:
    d.cleanup()
t.done()
