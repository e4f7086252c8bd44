"""
workloads.py - the benchmark's workloads, each run against every server
in turn (servers interleaved within each repetition, so that machine
noise spreads over all of them), medians quoted. A server that fails a
workload gets FAIL in that cell and the run goes on.
"""
import fcntl
import hashlib
import json
import os
import select
import statistics
import struct
import subprocess
import time

from servers import proc_comm, proc_cpu, proc_pss, proc_status


class BenchFail(Exception):
    pass


class NotApplicable(Exception):
    pass


def parse_kv(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


class Results:
    """results[row][server] = {"value", "samples", "note"} or a failure."""

    def __init__(self):
        self.rows = {}
        self.info = {}

    def put(self, row, server, samples=None, value=None, note=None,
            fail=None, na=None):
        cell = self.rows.setdefault(row, {}).setdefault(server, {})
        if fail is not None:
            cell.clear()
            cell["fail"] = fail
        elif na is not None:
            cell.clear()
            cell["na"] = na
        else:
            if samples is not None:
                cell["samples"] = samples
                value = statistics.median(samples)
            cell["value"] = value
        if note:
            cell["note"] = note

    def get(self, row, server):
        return self.rows.get(row, {}).get(server, {})


class Runner:
    def __init__(self, env, servers, results, cfg, say):
        self.env = env
        self.servers = servers
        self.res = results
        self.cfg = cfg
        self.say = say
        self.sigs = {}

    # --- helpers ----------------------------------------------------------
    def popbench(self, mode, port, args, timeout=600):
        argv = [self.env.tool("popbench"), mode, "127.0.0.1", str(port)]
        argv += [str(a) for a in args]
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchFail("timed out after %d s" % timeout)
        if r.returncode != 0:
            err = r.stderr.decode("utf-8", "replace").strip().splitlines()
            raise BenchFail(err[-1] if err else "popbench exit %d" %
                            r.returncode)
        lines = r.stdout.decode().strip().splitlines()
        return parse_kv(lines[-1] if lines else "")

    def cell(self, row, srv, fn):
        """Run fn() for one cell; failures become FAIL, never abort."""
        try:
            if not srv.alive():
                raise BenchFail("server not running")
            return fn()
        except NotApplicable as e:
            self.res.put(row, srv.name, na=str(e))
        except (BenchFail, OSError, subprocess.SubprocessError) as e:
            self.say("  %s / %s: FAIL: %s" % (row, srv.name, e))
            self.res.put(row, srv.name, fail=str(e))
        return None

    def mailbox(self, user, master, fsync=False, force=False):
        """Put master in place for user unless it is already intact."""
        if not force and self.sigs.get(user) == self.env.mbox_sig(user) \
                and self.sigs.get(user) is not None:
            return
        self.sigs[user] = self.env.install_mbox(user, master, fsync)

    def check_size(self, srv, master):
        if srv.max_mailbox and os.path.getsize(master) > srv.max_mailbox:
            raise NotApplicable("n/a (refuses mailboxes > %d MB)" %
                                (srv.max_mailbox // 1000000))

    def reps(self):
        return range(self.cfg["reps"])

    def warm_cache(self, path):
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass

    # --- 1. session rate ----------------------------------------------------
    def sessions(self):
        c = self.cfg
        for fast in (False, True):
            users = ",".join(c["fast_users" if fast else "session_users"])
            for tls in (False, True):
                for clients in (1, 2):
                    row = "sessions_%s%s_%d" % ("fast_" if fast else "",
                                                "tls" if tls else "plain",
                                                clients)
                    self._sessions(row, users, tls, clients, fast)

    def _sessions(self, row, users, tls, clients, fast):
        samples = {s.name: [] for s in self.servers}
        self.say("sessions/s, %d client(s), %s, %s hash" % (
            clients, "TLS" if tls else "plain",
            "SHA-512 5000 rounds" if fast else "tuned"))
        for srv in self.servers:
            if tls and not srv.has_tls:
                self.res.put(row, srv.name, na=srv.tls_note)
                samples.pop(srv.name)
        for _ in self.reps():
            for srv in self.servers:
                if srv.name not in samples:
                    continue
                port = srv.tls_port if tls else srv.port
                args = ["-u", users, "-d", self.cfg["session_s"], "-c",
                        clients] + (["-t"] if tls else [])

                def one():
                    r = self.popbench("sessions", port, args)
                    samples[srv.name].append(r["rate"])
                    return True
                if self.cell(row, srv, one) is None:
                    samples.pop(srv.name)
        for name, s in samples.items():
            self.res.put(row, name, samples=s)

    def login_small(self):
        """PASS to +OK plus STAT on a 10-message mailbox: per-login cost
        with PAM, next to the PAM cost alone (pamcost)."""
        row = "login_small"
        user = self.cfg["fast_users"][0]
        for srv in self.servers:
            def one():
                s = []
                for _ in range(self.cfg["login_reps"]):
                    r = self.popbench("open", srv.port, ["-u", user])
                    s.append(r["total_s"] * 1000)
                self.res.put(row, srv.name, samples=s)
                return True
            self.cell(row, srv, one)

    # --- 2. RETR throughput ---------------------------------------------------
    @staticmethod
    def verify_dump(dump, meta):
        """Compare RETR output with the generator's digests."""
        msgs = meta["messages"]
        exact = raw = bad = 0
        first_bad = None
        with open(dump, "rb") as f:
            for i, (size, h_orig, h_raw) in enumerate(msgs):
                hdr = f.read(8)
                if len(hdr) < 8:
                    bad += len(msgs) - i
                    first_bad = first_bad or i + 1
                    break
                data = f.read(struct.unpack("<Q", hdr)[0])
                h = hashlib.sha256(data).hexdigest()
                if h == h_orig:
                    exact += 1
                elif h == h_raw:
                    raw += 1
                else:
                    bad += 1
                    first_bad = first_bad or i + 1
            if f.read(1):
                bad += 1
        if bad:
            return False, "FAIL: %d of %d messages differ (first: %d)" % (
                bad, len(msgs), first_bad)
        if raw and exact:
            # identical forms when a message has no From line
            return True, "ok, >From kept (no mboxo unquoting)"
        return True, ("ok, byte-exact" if not raw else
                      "ok, >From kept (no mboxo unquoting)")

    def retr(self, user, master):
        self.mailbox(user, master)
        self.warm_cache(master)
        with open(master + ".json") as f:
            meta = json.load(f)
        count = meta["count"]
        dump = os.path.join(self.env.workdir, "retr.dump")
        self.say("RETR: content check")
        for srv in self.servers:
            def check():
                self.check_size(srv, master)
                srv.cold(user)
                # First login builds any index; untimed.
                self.popbench("open", srv.port, ["-u", user])
                self.popbench("retr", srv.port, ["-u", user, "-P", 8,
                                                 "-D", dump])
                good, text = self.verify_dump(dump, meta)
                self.res.put("retr_check", srv.name, value=text)
                if not good:
                    raise BenchFail(text)
                return True
            self.cell("retr_check", srv, check)
            self.mailbox(user, master)
        try:
            os.unlink(dump)
        except OSError:
            pass
        modes = [("retr_plain_qa", False, ["-q"]),
                 ("retr_plain_ord", False, []),
                 ("retr_plain_pipe", False, ["-q", "-P", 8]),
                 ("retr_tls_qa", True, ["-q"]),
                 ("retr_tls_ord", True, [])]
        for row, tls, extra in modes:
            self.say("RETR: %s" % row)
            samples = {}
            for srv in self.servers:
                if self.res.get("retr_check", srv.name).get("na"):
                    self.res.put(row, srv.name,
                                 na=self.res.get("retr_check", srv.name)["na"])
                elif tls and not srv.has_tls:
                    self.res.put(row, srv.name, na=srv.tls_note)
                else:
                    samples[srv.name] = []
            ordinary = "-q" not in extra
            for rep in self.reps():
                for srv in self.servers:
                    if srv.name not in samples:
                        continue
                    port = srv.tls_port if tls else srv.port
                    args = ["-u", user] + extra + (["-t"] if tls else [])

                    def one():
                        if ordinary and rep == 0:
                            # A Nagle/delayed-ACK stall costs ~40 ms per
                            # message: measure it on a sample, not 2,000.
                            n = min(count, 100)
                            r = self.popbench("retr", port, args + ["-n", n])
                            if r["seconds"] * count / n > 60:
                                self.res.put(row, srv.name,
                                             value=r["mbps"],
                                             note="stalls (%.0f ms per "
                                             "message, first %d messages)" %
                                             (r["seconds"] * 1000 / n, n))
                                return None
                        r = self.popbench("retr", port, args)
                        samples[srv.name].append(r["mbps"])
                        if r.get("cipher", "none") != "none":
                            self.res.info.setdefault("ciphers", {})[
                                srv.name] = r["cipher"]
                        self.mailbox(user, master)
                        return True
                    if self.cell(row, srv, one) is None:
                        samples.pop(srv.name, None)
            for name, s in samples.items():
                if s:
                    self.res.put(row, name, samples=s)
            if ordinary:
                self._stall_check(row, row.replace("_ord", "_qa"))

    def _stall_check(self, row, qa_row):
        """An ordinary client (delayed ACKs, one RETR at a time) that gets
        much less than a quick-ack client is waiting out Nagle's algorithm
        against delayed ACKs at the end of each message."""
        for srv in self.servers:
            o, q = self.res.get(row, srv.name), self.res.get(qa_row, srv.name)
            ov, qv = o.get("value"), q.get("value")
            if "stalls" in o.get("note", "") or not isinstance(ov, float) \
                    or not isinstance(qv, float):
                continue
            if ov < 0.25 * qv:
                o["note"] = "stalls: %.0f%% of the quick-ack client's rate" % (
                    100 * ov / qv)

    # --- 3. cold and warm open ------------------------------------------------
    def open_(self, user, master):
        self.mailbox(user, master)
        self.warm_cache(master)
        cold = {s.name: [] for s in self.servers}
        warm = {s.name: [] for s in self.servers}
        self.say("open: cold and warm, %d messages" % self.cfg["open"][0])
        for _ in self.reps():
            for srv in self.servers:
                if srv.name not in cold:
                    continue

                def one():
                    self.check_size(srv, master)
                    srv.cold(user)
                    r = self.popbench("open", srv.port, ["-u", user])
                    if r["messages"] != self.cfg["open"][0]:
                        raise BenchFail("STAT says %d messages" %
                                        r["messages"])
                    cold[srv.name].append(r["total_s"])
                    r = self.popbench("open", srv.port, ["-u", user])
                    warm[srv.name].append(r["total_s"])
                    self.mailbox(user, master)
                    return True
                if self.cell("open_cold", srv, one) is None:
                    self.res.rows["open_warm"] = self.res.rows.get(
                        "open_warm", {})
                    self.res.rows["open_warm"][srv.name] = dict(
                        self.res.get("open_cold", srv.name))
                    cold.pop(srv.name)
                    warm.pop(srv.name)
        for name in cold:
            self.res.put("open_cold", name, samples=cold[name])
            self.res.put("open_warm", name, samples=warm[name])

    # --- 4. expunge -------------------------------------------------------------
    @staticmethod
    def _first_message_end(path):
        with open(path, "rb") as f:
            head = f.read(64 << 20)
        i = head.find(b"\nFrom ")
        if not head.startswith(b"From ") or i < 0:
            raise BenchFail("generator output has no second message")
        return i + 1

    @staticmethod
    def _strip_bookkeeping(msg):
        """Drop the headers mbox servers add for their own state."""
        head, sep, body = msg.partition(b"\n\n")
        keep = []
        skip = False
        for line in head.split(b"\n"):
            if line[:1] in (b" ", b"\t") and skip:
                continue
            name = line.split(b":", 1)[0].lower()
            skip = name in (b"x-imapbase", b"x-imap", b"x-uid", b"status",
                            b"x-status", b"x-keywords", b"content-length")
            if not skip:
                keep.append(line)
        return b"\n".join(keep) + sep + body

    def locked_wait(self, user, timeout=300):
        """Seconds until the mailbox's fcntl lock is free (a server that
        answers QUIT at its commit point finishes the rewrite after)."""
        t0 = time.time()
        with open(self.env.mbox_path(user), "rb+") as f:
            while True:
                try:
                    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.time() - t0 > timeout:
                        raise BenchFail("mailbox still locked after %d s"
                                        % timeout)
                    time.sleep(0.002)
            fcntl.lockf(f, fcntl.LOCK_UN)
        return time.time() - t0

    def verify_expunge(self, user, master, cut):
        with open(master, "rb") as f:
            f.seek(cut)
            want = f.read()
        with open(self.env.mbox_path(user), "rb") as f:
            got = f.read()
        if got == want:
            return "ok, byte-exact"
        w = want.split(b"\nFrom ")
        g = got.split(b"\nFrom ")
        if len(w) != len(g):
            raise BenchFail("mailbox has %d messages, expected %d" %
                            (len(g), len(w)))
        for i, (a, b) in enumerate(zip(w, g)):
            if a != self._strip_bookkeeping(b):
                raise BenchFail("message %d corrupted" % (i + 1))
        return "ok (server state headers added)"

    def expunge(self, user, master):
        cut = self._first_message_end(master)
        samples = {s.name: [] for s in self.servers}
        done = {s.name: [] for s in self.servers}
        self.say("expunge: DELE 1 + QUIT, %d MB" %
                 (os.path.getsize(master) // 1000000))
        for _ in self.reps():
            for srv in self.servers:
                if srv.name not in samples:
                    continue

                def one():
                    self.check_size(srv, master)
                    self.mailbox(user, master, fsync=True, force=True)
                    srv.cold(user)
                    r = self.popbench("expunge", srv.port, ["-u", user])
                    # Until the rewrite is over (postern answers a large
                    # expunge at its commit point): popbench's exit plus
                    # the wait for the lock, so an upper bound.
                    done[srv.name].append(r["total_s"] +
                                          self.locked_wait(user))
                    self.sigs.pop(user, None)
                    try:
                        text = self.verify_expunge(user, master, cut)
                    except BenchFail as e:
                        self.res.put("expunge_check", srv.name, fail=str(e))
                        raise
                    if "fail" not in self.res.get("expunge_check", srv.name):
                        self.res.put("expunge_check", srv.name, value=text)
                    samples[srv.name].append(r["total_s"])
                    return True
                if self.cell("expunge", srv, one) is None:
                    samples.pop(srv.name)
        for name, s in samples.items():
            self.res.put("expunge", name, samples=s)
            self.res.put("expunge_done", name, samples=done[name])
        for srv in self.servers:
            if not self.res.get("expunge_check", srv.name):
                self.res.rows.setdefault("expunge_check", {})[srv.name] = \
                    dict(self.res.get("expunge", srv.name))

    # --- 5. memory ------------------------------------------------------------
    @staticmethod
    def _readline(p, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 1)
            if r:
                return p.stdout.readline().decode()
            if p.poll() is not None:
                break
        return ""

    def _tree_pss(self, srv):
        pids = srv.pids()
        return sum(proc_pss(p) for p in pids), len(pids)

    def idle(self, user_fmt, n):
        self.say("memory: %d idle authenticated sessions" % n)
        warm_user = user_fmt % 0
        for srv in self.servers:
            def one():
                # Warm-up: start whatever a server starts on demand.
                self.popbench("open", srv.port, ["-u", warm_user])
                time.sleep(0.5)
                base, nbase = self._tree_pss(srv)
                p = subprocess.Popen(
                    [self.env.tool("popbench"), "idle", "127.0.0.1",
                     str(srv.port), "-u", user_fmt, "-n", str(n)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
                try:
                    r = parse_kv(self._readline(p, 600))
                    if r.get("sessions") != n:
                        raise BenchFail("only %s of %d sessions logged in" %
                                        (r.get("sessions"), n))
                    time.sleep(0.5)
                    total, nproc = self._tree_pss(srv)
                finally:
                    try:
                        p.stdin.write(b"\n")
                        p.stdin.flush()
                    except OSError:
                        pass
                    try:
                        p.wait(120)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                self.res.put("pss_total", srv.name, value=total / n,
                             note="%d processes, %.1f MB total" %
                             (nproc, total / 1024))
                self.res.put("pss_incr", srv.name, value=(total - base) / n,
                             note="idle server: %d processes, %.1f MB" %
                             (nbase, base / 1024))
                return True
            if self.cell("pss_total", srv, one) is None:
                self.res.rows.setdefault("pss_incr", {})[srv.name] = dict(
                    self.res.get("pss_total", srv.name))

    def _rss_session(self, srv, user, warm_user):
        """One session that RETRs every message: (VmHWM list, CPU seconds
        of the RETRs alone, popbench's result)."""
        self.popbench("open", srv.port, ["-u", warm_user])
        time.sleep(0.3)
        before = set(srv.pids())
        p = subprocess.Popen(
            [self.env.tool("popbench"), "retr", "127.0.0.1", str(srv.port),
             "-u", user, "-q", "-S", "-W"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        try:
            if not self._readline(p, 900).startswith("stat"):
                raise BenchFail("login failed: %s" % (
                    p.stderr.read().decode(errors="replace").strip()[-200:]
                    if p.poll() is not None else "no answer"))
            new = [q for q in srv.pids() if q not in before]
            cpu0 = {q: proc_cpu(q) for q in new}
            p.stdin.write(b"\n")
            p.stdin.flush()
            r = parse_kv(self._readline(p, 900))
            if "mbps" not in r:
                raise BenchFail("RETR failed")
            new = [q for q in srv.pids() if q not in before]
            cpu = sum(proc_cpu(q) - cpu0.get(q, 0.0) for q in new)
            hwm = [(proc_comm(q), proc_status(q, "VmHWM") or 0)
                   for q in new]
        finally:
            try:
                p.stdin.write(b"\n")
                p.stdin.flush()
            except OSError:
                pass
            try:
                p.wait(300)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return hwm, cpu, r

    def peak_rss(self, user, master, warm_user):
        """Peak RSS of the processes one session starts, and the CPU time
        they spend on the RETRs alone (sampled after STAT and before
        QUIT): CPU per GB moves less than wall-clock throughput when
        the machine is busy. Two sessions: the first opens the mailbox
        cold (no index), the second warm, as most logins are."""
        self.mailbox(user, master)
        self.warm_cache(master)
        size = os.path.getsize(master)
        self.say("memory: peak RSS of one session, RETR of every message "
                 "of a %d MB mailbox" % (size // 1000000))
        for srv in self.servers:
            def one():
                self.check_size(srv, master)
                srv.cold(user)
                runs = []
                for kind in ("cold", "warm"):
                    hwm, cpu, r = self._rss_session(srv, user, warm_user)
                    runs.append((kind, hwm, cpu, r))
                    self.mailbox(user, master)
                peak = max(runs, key=lambda x: sum(h for _, h in x[1]))
                kind, hwm, _, r = peak
                self.res.put("peak_rss", srv.name, value=sum(
                    h for _, h in hwm) / 1024, note="%s session: " % kind +
                    ", ".join("%s %.1f MB" % (c, h / 1024) for c, h in hwm))
                per_gb = {k: cpu / (r["bytes"] / 1e9) for k, _, cpu, r in runs}
                self.res.put("retr_cpu", srv.name, value=per_gb["warm"],
                             note="warm open; after a cold open %.2f; "
                             "%.0f / %.0f MB/s" % (per_gb["cold"],
                                                   runs[0][3]["mbps"],
                                                   runs[1][3]["mbps"]))
                return True
            if self.cell("peak_rss", srv, one) is None:
                self.res.rows.setdefault("retr_cpu", {})[srv.name] = dict(
                    self.res.get("peak_rss", srv.name))
