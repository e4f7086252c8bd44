#!/usr/bin/env python3
"""
t-sec-auth.py - the auth helper under a fake master and fake workers
(socketpairs, postern's IPC framing): malformed, oversized, out-of-phase,
replayed and descriptor-carrying requests end only the offending session
while the helper and other sessions keep working; the attempt cap; user
enumeration by timing (medians, generous margins) with PAM's own delay
suppressed; per-address throttling (escalation, cap, repeated wrong
password not counted, other addresses never slowed, a right guess from a
throttled address waits too); no password is left in the helper's memory
after right, wrong, malformed, out-of-phase and split attempts (a scan
of /proc/PID/mem). Then the same texts through the daemon.
"""
import os
import socket
import statistics
import struct
import subprocess
import threading
import time

import harness
import sechelp as S

harness.require_root()
t = harness.TAP()
USER = "ptsecauth"
pw = harness.ensure_user(USER)
harness.ensure_pam_service()


class FakeMaster:
    """Starts postern-auth with fd 3 on a socketpair and reads what it
    sends to the master in a thread."""

    def __init__(self, **cfg):
        conf = {"pam_service": harness.PAM_SERVICE, "auth_fail_delay": "200",
                "auth_max_attempts": "3", "auth_throttle_max": "0"}
        conf.update({k: str(v) for k, v in cfg.items()})
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = theirs.fileno()
        self.proc = subprocess.Popen(
            [S.builddir_file("postern-auth")], close_fds=False, env={},
            preexec_fn=lambda: os.dup2(fd, 3), stdin=subprocess.DEVNULL)
        theirs.close()
        self.ch = S.Channel(ours)
        self.ch.send(S.frame(S.IPC_CONFIG, S.p_str(S.config_text(conf))))
        self.logs, self.grants, self.kills = [], [], []
        self.lock = threading.Lock()
        self.next_id = 100
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            f = self.ch.recv(timeout=3600)
            if f is None:
                return
            mtype, payload = f
            with self.lock:
                if mtype == S.IPC_LOG:
                    self.logs.append(S.parse_log(payload)[1])
                elif mtype == S.IPC_AUTH_GRANTED:
                    self.grants.append((time.time(), payload))
                elif mtype == S.IPC_AUTH_KILL:
                    sid = struct.unpack("=Q", payload[:8])[0]
                    self.kills.append((sid, payload[12:].decode()))

    def attach(self, rhost="192.0.2.1"):
        """A fake worker's auth channel for a new session."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.next_id += 1
        sid = self.next_id
        self.ch.send(S.frame(S.IPC_AUTH_ATTACH, S.p_u64(sid) + S.p_str(rhost),
                             flags=S.IPC_F_FD), fds=[theirs.fileno()])
        theirs.close()
        return sid, S.Channel(mine)

    def killed(self, sid, timeout=5):
        deadline = time.time() + timeout
        while True:
            with self.lock:
                for k in self.kills:
                    if k[0] == sid:
                        return k[1]
            if time.time() >= deadline:
                return None
            time.sleep(0.02)

    def logged(self, needle, timeout=5):
        deadline = time.time() + timeout
        while True:
            with self.lock:
                if any(needle in line for line in self.logs):
                    return True
            if time.time() >= deadline:
                return False
            time.sleep(0.02)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.ch.close()


def request(user, password, mech=S.MECH_USER):
    return S.frame(S.IPC_AUTH_REQUEST, S.p_u8(mech) + S.p_u8(0) + S.p_str("") +
                   S.p_str(user) + S.p_str(password))


def attempt(w, user, password, timeout=30):
    """(result, seconds) of one attempt on a fake worker channel."""
    start = time.monotonic()
    w.send(request(user, password))
    f = w.recv(timeout)
    took = time.monotonic() - start
    if f is None or f[0] != S.IPC_AUTH_RESULT:
        return None, took
    return f[1][0], took


def one_shot(m, rhost, user, password):
    sid, w = m.attach(rhost)
    r = attempt(w, user, password)
    w.close()
    return r


# ---------------- protocol and phases ----------------
m = FakeMaster()
try:
    keep_sid, keep = m.attach("192.0.2.200")   # a bystander session

    # The helper loads the PAM modules once (a pam_start handle it keeps)
    # so that each per-attempt child inherits them.
    def helper_maps():
        with open("/proc/%d/maps" % m.proc.pid) as f:
            return f.read()
    loaded = False
    for _ in range(100):
        if "pam_unix.so" in helper_maps():
            loaded = True
            break
        time.sleep(0.05)
    t.ok(loaded, "the helper has pam_unix loaded before any attempt")

    sid, w = m.attach()
    r, took = attempt(w, USER, "wrong")
    t.eq(r, S.AUTH_FAIL, "a wrong password: FAIL")
    sid, w = m.attach()
    r, took = attempt(w, USER, harness.TEST_PASSWORD)
    t.eq(r, S.AUTH_OK, "the right password: OK")
    time.sleep(0.2)
    with m.lock:
        g = m.grants[-1][1] if m.grants else b""
    t.ok(struct.unpack("=Q", g[:8])[0] == sid and USER.encode() in g and
         struct.pack("=I", pw.pw_uid) in g,
         "the identity (user, uid) goes to the master, not the worker")
    w.send(request(USER, harness.TEST_PASSWORD))
    t.eq(m.killed(sid), "request out of phase",
         "a replayed request after success ends the session")
    t.ok(w.recv(5) is None, "... and the helper closes that worker's channel")

    cases = [
        ("malformed (truncated payload)",
         S.frame(S.IPC_AUTH_REQUEST, b"\x01\x00\x00"), "malformed request"),
        ("unknown message type", S.frame(999, b""), "malformed request"),
        ("a reply type sent as a request", S.frame(S.IPC_AUTH_RESULT, b"\x00"),
         "malformed request"),
        ("trailing bytes",
         S.frame(S.IPC_AUTH_REQUEST, request(USER, "x")[8:] + b"junk"),
         "malformed request"),
        ("oversized frame header",
         S.frame(S.IPC_AUTH_REQUEST, b"", length=S.IPC_MAX_PAYLOAD + 1),
         "bad frame"),
        ("wrong protocol version", S.frame(S.IPC_AUTH_REQUEST, b"", version=9),
         "bad frame"),
        ("an over-long password",
         request(USER, "p" * 5000), "malformed request"),
        ("an invalid mechanism", request(USER, "x", mech=77), "malformed request"),
    ]
    for what, data, why in cases:
        sid, w = m.attach()
        w.send(data)
        t.eq(m.killed(sid), why, "%s ends the session (%s)" % (what, why))
        w.close()

    sid, w = m.attach()
    a, b = socket.socketpair()
    w.send(request(USER, "x"), fds=[a.fileno()])
    t.eq(m.killed(sid), "bad frame",
         "a request carrying an unannounced descriptor ends the session")
    a.close()
    b.close()

    sid, w = m.attach()
    w.send(request(USER, "one") + request(USER, "two"))
    t.eq(m.killed(sid), "request out of phase",
         "a second request while the first is pending ends the session")

    sid, w = m.attach()
    results = [attempt(w, USER, "bad%d" % i)[0] for i in range(3)]
    t.eq(results, [S.AUTH_FAIL, S.AUTH_FAIL, S.AUTH_TOO_MANY],
         "three failures: the third says TOO_MANY (the worker closes)")
    w.send(request(USER, harness.TEST_PASSWORD))
    t.eq(m.killed(sid), "request after the last allowed attempt",
         "a fourth attempt ends the session, even with the right password")

    t.ok(m.logged("worker violated the auth protocol"),
         "violations are logged by the helper")
    t.ok(m.proc.poll() is None, "the helper survived every violation")
    r, _ = attempt(keep, USER, harness.TEST_PASSWORD)
    t.eq(r, S.AUTH_OK, "the bystander session still works")
    sid, w = m.attach()
    m.ch.send(S.frame(S.IPC_AUTH_DETACH, S.p_u64(sid)))
    t.ok(w.recv(5) is None, "DETACH closes that session's channel")
finally:
    m.stop()

# ---------------- passwords in memory ----------------
# After right, wrong, malformed and out-of-phase attempts, and one split
# across a verdict (its first part moved down in the helper's buffer when
# the rest arrives), no copy of any of those passwords is left anywhere
# in the helper's memory. A partial frame still waiting is found: the
# scan sees the buffers it must.
MEMUSER = "ptsecmem"
tag = os.urandom(8).hex()
RIGHT, WRONG, MALFORMED, PHASE, REPLAY, SPLIT, WAITING = (
    "%s-%s-postern-memscan" % (kind, tag) for kind in
    ("right", "wrong", "malformed", "phase", "replay", "split", "waiting"))
harness.ensure_user(MEMUSER, password=RIGHT)


def helper_memory_has(pid, needles):
    """Which of needles (bytes) are somewhere in pid's readable memory.
    Mappings of 256 MiB and more are reservations (sanitizer shadow),
    not data; they are skipped."""
    found = set()
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if fields[1][0] != "r" or hi - lo >= 256 << 20 or \
                    line.endswith("[vsyscall]"):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            found.update(n for n in needles if n in data)
    return found


m = FakeMaster()
try:
    held = []      # channels kept open: nothing is wiped by closing them
    sid, w = m.attach()
    t.eq(attempt(w, MEMUSER, RIGHT)[0], S.AUTH_OK, "memory: a right password")
    w.send(request(MEMUSER, REPLAY))
    t.eq(m.killed(sid), "request out of phase",
         "memory: a request replayed after success")
    sid, w = m.attach()
    held.append(w)
    t.eq(attempt(w, MEMUSER, WRONG)[0], S.AUTH_FAIL, "memory: a wrong password")
    sid, w = m.attach()
    w.send(S.frame(S.IPC_AUTH_REQUEST, request(MEMUSER, MALFORMED)[8:] + b"\0"))
    t.eq(m.killed(sid), "malformed request",
         "memory: a malformed request (one byte too many)")
    sid, w = m.attach()
    w.send(request(MEMUSER, "first") + request(MEMUSER, PHASE))
    t.eq(m.killed(sid), "request out of phase",
         "memory: a second request while PAM runs the first")
    # The first frame longer than the second's first part: that part's
    # old copy lies wholly in the part of the buffer it is moved out of.
    sid, w = m.attach()
    held.append(w)
    second = request(MEMUSER, SPLIT)
    w.send(request("n" * 300, "x") + second[:-1])
    first = w.recv(30)
    w.send(second[-1:])
    last = w.recv(30)
    t.ok(first is not None and last is not None and
         first[1][:1] == last[1][:1] == bytes([S.AUTH_FAIL]),
         "memory: a request split across the previous one's verdict")
    sid, w = m.attach()
    held.append(w)
    w.send(request(MEMUSER, WAITING)[:-1])
    time.sleep(0.5)
    found = helper_memory_has(m.proc.pid, [x.encode() for x in (
        RIGHT, WRONG, MALFORMED, PHASE, REPLAY, SPLIT[:-1], WAITING[:-1])])
    t.ok(WAITING[:-1].encode() in found,
         "memory: (control) the scan finds a partial frame still waiting")
    found.discard(WAITING[:-1].encode())
    t.eq(sorted(x.decode() for x in found), [],
         "memory: no password of a finished attempt is left in the helper")
    for w in held:
        w.close()
finally:
    m.stop()

# ---------------- timing: user enumeration ----------------
# 1000 ms: above what PAM takes even on a loaded test machine.
m = FakeMaster(auth_fail_delay=1000)
try:
    wrong, unknown, implausible = [], [], []
    for i in range(5):
        # distinct addresses: this part measures the uniform delay only
        wrong.append(one_shot(m, "198.51.100.%d" % i, USER, "wrong-%d" % i))
        unknown.append(one_shot(m, "198.51.100.%d" % (50 + i),
                                "ptsecnosuchuser%d" % i, "wrong"))
        implausible.append(one_shot(m, "198.51.100.%d" % (100 + i),
                                    "../../etc", "wrong"))
    for name, rows in (("wrong password", wrong), ("unknown user", unknown),
                       ("implausible name", implausible)):
        t.ok(all(r == S.AUTH_FAIL for r, _ in rows), "%s: always FAIL" % name)
    mw = statistics.median(x for _, x in wrong)
    mu = statistics.median(x for _, x in unknown)
    mi = statistics.median(x for _, x in implausible)
    t.diag("medians: wrong password %.3f s, unknown user %.3f s, "
           "implausible %.3f s" % (mw, mu, mi))
    t.ok(min(mw, mu, mi) >= 0.99, "no failure is answered before auth_fail_delay")
    t.ok(abs(mw - mu) < 0.15,
         "wrong password and unknown user take the same time (%.3f vs %.3f)"
         % (mw, mu))
    t.ok(abs(mw - mi) < 0.15, "so does an implausible name")
    t.ok(max(mw, mu) < 2.0,
         "PAM's own failure delay (pam_unix: 2 s on top) is suppressed")
finally:
    m.stop()

# PAM slower than the uniform delay (auth_fail_delay 0): an unknown user
# is held for a recent real check's duration, so the medians still agree.
m = FakeMaster(auth_fail_delay=0)
try:
    wrong, unknown = [], []
    for i in range(7):
        wrong.append(one_shot(m, "203.0.113.%d" % i, USER, "wrong-%d" % i)[1])
        unknown.append(one_shot(m, "203.0.113.%d" % (50 + i),
                                "ptsecnosuchuser%d" % i, "wrong")[1])
    mw, mu = statistics.median(wrong), statistics.median(unknown)
    t.diag("auth_fail_delay 0: medians wrong password %.3f s, unknown user "
           "%.3f s" % (mw, mu))
    t.ok(abs(mw - mu) < max(0.2, 0.5 * mw),
         "even with PAM slower than the delay, unknown users are not faster")
finally:
    m.stop()

# ---------------- throttling ----------------
m = FakeMaster(auth_fail_delay=200, auth_throttle_max=4000, auth_max_attempts=10)
try:
    bad = "192.0.2.66"
    times = [one_shot(m, bad, USER, "guess-%d" % i)[1] for i in range(6)]
    t.diag("attempt times from one address: " +
           ", ".join("%.2f" % x for x in times))
    t.ok(m.logged("throttling: rhost=192.0.2.66 failures=3:") and
         not m.logged("throttling: rhost=192.0.2.66 failures=2:", timeout=0),
         "the first three failures cost no penalty; the fourth attempt will")
    t.ok(times[3] >= 0.2 + 1.0 - 0.05, "the 4th waits 1 s more")
    t.ok(times[4] >= 0.2 + 2.0 - 0.05, "the 5th waits 2 s more")
    t.ok(times[5] >= 0.2 + 4.0 - 0.05 and times[5] < 0.2 + 4.0 + 3.0,
         "the 6th waits 4 s more: the cap (auth_throttle_max 4000)")
    t.ok(m.logged("throttling: rhost=192.0.2.66 failures=5:"),
         "throttling is logged with the address")

    r, took = one_shot(m, "192.0.2.77", USER, harness.TEST_PASSWORD)
    # The penalty at 192.0.2.66 is now the cap, 4 s: anything well below
    # that was not throttled (PAM itself may be slow on a loaded host).
    t.ok(r == S.AUTH_OK and took < 3.0,
         "a right password from another address is not slowed (%.2f s)" % took)
    r, took = one_shot(m, "192.0.2.77", USER, "some-wrong")
    t.ok(r == S.AUTH_FAIL and took < 3.0,
         "nor is a wrong one from another address (%.2f s)" % took)

    sid, w = m.attach(bad)
    start = time.time()
    r, took = attempt(w, USER, harness.TEST_PASSWORD)
    t.ok(r == S.AUTH_OK and took >= 4.0 - 0.05,
         "a right password from the throttled address waits the penalty "
         "too (%.2f s): an early answer would reveal a right guess" % took)
    late = []
    for _ in range(100):        # the reader thread may lag a little
        with m.lock:
            late = [g for g in m.grants if g[0] >= start + 3.9]
        if late:
            break
        time.sleep(0.02)
    with m.lock:
        early = [g for g in m.grants if start <= g[0] < start + 3.9]
    t.ok(late and not early, "... and the master hears of it only then")

    stale = "192.0.2.88"
    times = [one_shot(m, stale, USER, "the-old-password")[1] for i in range(6)]
    t.ok(not m.logged("throttling: rhost=%s" % stale, timeout=0.5),
         "the same wrong password six times is counted once: no throttling")
    t.ok(all(x < 3.0 for x in times[3:]),
         "... and no growing penalty on the 4th to 6th retry (%s)"
         % ", ".join("%.2f" % x for x in times))
finally:
    m.stop()

# ---------------- through the daemon: identical texts ----------------
d = harness.Daemon(users=(USER,), config={"auth_fail_delay": "100"})
try:
    d.start()
    replies = []
    for user, password in ((USER, "wrong"), ("ptsecnosuchuser", "wrong"),
                           ("bad/name", "wrong")):
        c = S.connect(d)
        c.line()
        u = c.cmd("USER " + user)
        p = c.cmd("PASS " + password)
        replies.append((u, p))
        c.close()
    t.ok(len(set(replies)) == 1 and replies[0] ==
         (b"+OK", b"-ERR [AUTH] Authentication failed."),
         "USER and PASS answers are identical for a wrong password, an "
         "unknown user and an implausible name (%r)" % (replies,))
    t.ok(d.wait_log('login failed: rhost=127.0.0.1 user="ptsecnosuchuser" '
                    'mech=USER tls=no session='),
         "failures are logged in the documented format")

    # The attempt cap: the third failure closes the connection.
    c = S.connect(d)
    c.line()
    answers = []
    for i in range(3):
        c.cmd("USER " + USER)
        answers.append(c.cmd("PASS wrong-%d" % i))
    t.ok(answers == [b"-ERR [AUTH] Authentication failed."] * 3 and
         c.closed(5), "after auth_max_attempts failures the worker closes")
    c.close()
finally:
    d.cleanup()

# Throttling end to end: the helper keys on the address the master saw.
d = harness.Daemon(users=(USER,), config={
    "auth_fail_delay": "100", "auth_max_attempts": "10",
    "auth_throttle_max": "3000"})
try:
    d.start()
    c = S.connect(d, "127.0.0.8")
    c.line()
    times = []
    for i in range(5):
        c.cmd("USER " + USER)
        start = time.monotonic()
        c.cmd("PASS wrong-%d" % i)
        times.append(time.monotonic() - start)
    c.close()
    t.ok(d.wait_log("throttling: rhost=127.0.0.8 failures=3:"),
         "through the daemon, failures from 127.0.0.8 are throttled")
    t.ok(times[3] >= 1.0 and times[4] >= 2.0,
         "the 4th and 5th attempts wait 1 s and 2 s more (%s)"
         % ", ".join("%.2f" % x for x in times))
    c, r = S.login(d, USER, source="127.0.0.9")
    t.ok(r.startswith(b"+OK"), "meanwhile 127.0.0.9 logs in")
    t.ok(not d.wait_log("throttling: rhost=127.0.0.9", timeout=0.2),
         "and is not throttled")
    c.cmd("QUIT")
    c.close()
finally:
    d.cleanup()
t.done()
