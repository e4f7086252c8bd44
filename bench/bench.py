#!/usr/bin/env python3
"""
bench.py - postern's benchmark driver: postern, Dovecot and popa3d side by
side in one run, on the same generated mailboxes, with this machine's
limits measured alongside. Normally started by bench/run.sh, which
installs the packages and builds postern first. Run as root.

  bench.py --builddir DIR [--quick] [--keep] [--servers a,b] [--reps N]
"""
import argparse
import datetime
import fcntl
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_mbox                                     # noqa: E402
import limits                                       # noqa: E402
import report                                       # noqa: E402
from benchenv import Env                            # noqa: E402
from servers import Dovecot, Popa3d, Postern        # noqa: E402
from workloads import Results, Runner               # noqa: E402

# (messages, mean size in bytes) of each generated mailbox. The RETR and
# open mailboxes stay under 200,000,000 bytes: Debian's popa3d refuses
# anything larger (MAX_MAILBOX_OPEN_BYTES).
FULL = {
    "small": (10, 5000), "retr": (2000, 95000), "open": (100000, 1600),
    "expunge": (5000, 100000), "big": (10000, 100000),
    "session_s": 3, "idle": 200, "reps": 3, "login_reps": 10,
    "pam_reps": 20, "iperf_s": 3, "speed_s": 2,
}
QUICK = {
    "small": (10, 5000), "retr": (300, 95000), "open": (20000, 1600),
    "expunge": (500, 100000), "big": (1000, 100000),
    "session_s": 1.5, "idle": 20, "reps": 1, "login_reps": 5,
    "pam_reps": 5, "iperf_s": 1, "speed_s": 1,
}
SEEDS = {"small": 11, "retr": 12, "open": 13, "expunge": 14, "big": 15}
USERS = {"retr": "ptbench_r", "open": "ptbench_o", "expunge": "ptbench_x",
         "big": "ptbench_m"}
# Session-rate accounts: SHA-512 crypt with its rounds tuned so that one
# PAM login costs about PAM_TARGET_MS (the "PAM crypt ~10 ms"),
# and SHA-512 at the default 5,000 rounds.
SESSION_USERS = ["ptbench_s1", "ptbench_s2"]
PAM_TARGET_MS = 10
FAST_USERS = ["ptbench_f1", "ptbench_f2"]
IDLE_FMT = "ptbench_i%03d"


def say(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/etc/debian_version") as f:
            deb = "Debian " + f.read().strip()
    except OSError:
        deb = platform.platform()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%s, %d cores, %.0f GiB RAM, %s, kernel %s" % (
        cpu, os.cpu_count(), mem, deb, platform.release())


def git_describe():
    try:
        r = subprocess.run(["git", "-C", HERE, "describe", "--always",
                            "--dirty"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=10)
        return r.stdout.decode().strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def generate(workdir, cfg):
    masters = {}
    for name in ("small", "retr", "open", "expunge", "big"):
        count, mean = cfg[name]
        path = os.path.join(workdir, "master-%s.mbox" % name)
        t = time.monotonic()
        total, _ = gen_mbox.generate(path, count, mean, SEEDS[name],
                                     sidecar=name in ("small", "retr"))
        say("generated %s: %d messages, %.1f MB (%.1f s)" % (
            name, count, total / 1e6, time.monotonic() - t))
        masters[name] = path
    return masters


def write_msgfile(workdir, mean):
    """One typical message in RETR form, for the in-memory sender."""
    g = gen_mbox.Generator(99)
    path = os.path.join(workdir, "ceiling-msg.txt")
    with open(path, "wb") as f:
        f.write(g.message(0, mean).replace(b"\n", b"\r\n"))
    return path


def on_signal(sig, frame):
    raise KeyboardInterrupt("signal %d" % sig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builddir", required=True,
                    help="postern build tree (postern, postern-pop3, ...)")
    ap.add_argument("--quick", action="store_true",
                    help="small mailboxes, one repetition (~2 min)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, mailboxes)")
    ap.add_argument("--servers", default="postern,Dovecot,popa3d")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--workloads",
                    default="sessions,retr,open,expunge,memory,limits")
    ap.add_argument("--results", default=os.path.join(HERE, "results"),
                    help="directory for the table and JSON of this run")
    ap.add_argument("--wrap-store", metavar="CMD",
                    help="run postern-store under CMD (a profiler; see "
                    "bench/PROFILING.md)")
    ap.add_argument("--wrap-worker", metavar="CMD",
                    help="run the workers (postern-pop3, postern-pop3s) under CMD")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (real users, PAM, /var/mail)")
    cfg = dict(QUICK if a.quick else FULL)
    if a.reps:
        cfg["reps"] = a.reps
    cfg["session_users"] = SESSION_USERS
    cfg["fast_users"] = FAST_USERS
    want = set(a.workloads.split(","))
    names = [n.strip().lower() for n in a.servers.split(",")]
    started = time.monotonic()
    stamp = datetime.datetime.now()
    load0 = os.getloadavg()

    # Two runs would share /var/mail/ptbench_* and the PAM file.
    lock = open("/run/postern-bench.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit("bench.py: another benchmark run holds "
                 "/run/postern-bench.lock")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    workdir = tempfile.mkdtemp(prefix="postern-bench-", dir="/var/tmp")
    os.chmod(workdir, 0o755)
    idle_users = [IDLE_FMT % i for i in range(cfg["idle"])]
    env = Env(workdir, SESSION_USERS + FAST_USERS + list(USERS.values()) +
              idle_users, say)
    servers = []
    results = Results()
    say("work directory %s" % workdir)
    try:
        env.build_tools()
        env.make_cert()
        say("creating %d ptbench* accounts" % len(env.users))
        env.setup_accounts()
        if want & {"sessions", "limits"}:
            rounds, ms = env.tune_sha512_rounds(
                SESSION_USERS, PAM_TARGET_MS,
                lambda u: limits.pam_cost(env, u, max(cfg["pam_reps"], 9),
                                          stat="min_ms"))
            cfg["session_hash"] = "SHA-512, %d rounds" % rounds
            cfg["session_pam_ms"] = ms
            say("session accounts: %s, PAM login alone %.1f ms" % (
                cfg["session_hash"], ms))
        masters = generate(workdir, cfg)
        cfg["sizes_mb"] = {k: os.path.getsize(v) // 1000000
                           for k, v in masters.items()}
        for u in SESSION_USERS + FAST_USERS + idle_users:
            env.install_mbox(u, masters["small"])
        classes = {"postern": lambda: Postern(
            env, os.path.abspath(a.builddir), a.wrap_store, a.wrap_worker),
            "dovecot": lambda: Dovecot(env), "popa3d": lambda: Popa3d(env)}
        for n in names:
            srv = classes[n]()
            try:
                srv.start()
                say("started %s on 127.0.0.1:%d%s" % (
                    srv.name, srv.port, "" if not srv.has_tls else
                    " and TLS :%d" % srv.tls_port))
            except Exception as e:
                say("could not start %s: %s" % (srv.name, e))
            servers.append(srv)
        results.info["versions"] = {s.name: s.version() for s in servers}
        run = Runner(env, servers, results, cfg, say)
        if "sessions" in want:
            run.sessions()
            run.login_small()
        if "retr" in want:
            run.retr(USERS["retr"], masters["retr"])
        if "open" in want:
            run.open_(USERS["open"], masters["open"])
        if "expunge" in want:
            run.expunge(USERS["expunge"], masters["expunge"])
        if "memory" in want:
            run.idle(IDLE_FMT, cfg["idle"])
            run.peak_rss(USERS["big"], masters["big"], FAST_USERS[0])
        lim = {}
        if "limits" in want:
            lim = limits.measure(env, cfg, masters,
                                 write_msgfile(workdir, cfg["retr"][1]),
                                 results.info.get("ciphers", {}), say)
        for srv in servers:
            srv.stop()
        elapsed = time.monotonic() - started
        text = "\n".join([
            "postern benchmark, %s%s" % (stamp.strftime("%Y-%m-%d %H:%M"),
                                         " (--quick)" if a.quick else ""),
            "machine: " + machine(),
            "servers: " + ", ".join(
                "%s" % v for v in results.info["versions"].values()) +
            " (postern built in %s; bench tree %s)" % (
                os.path.abspath(a.builddir), git_describe()),
            "mailboxes: " + ", ".join(
                "%s %d msgs %d MB" % (k, cfg[k][0], cfg["sizes_mb"][k])
                for k in ("retr", "open", "expunge", "big")) +
            "; %d repetitions, medians" % cfg["reps"],
            "load average at start %.2f, at end %.2f (1 min)" % (
                load0[0], os.getloadavg()[0]),
        ] + ([
            "session-rate accounts: %s (PAM login alone: %.1f ms, the "
            "same for every server)" % (cfg["session_hash"],
                                        cfg["session_pam_ms"])
        ] if "session_hash" in cfg else []) + [
            "",
            report.table(results, cfg, [s.name for s in servers]),
            "",
            "This machine, same run:",
            report.limits_text(lim),
            "",
            "run time: %.0f s" % elapsed,
        ])
        print()
        print(text, flush=True)
        os.makedirs(a.results, exist_ok=True)
        base = os.path.join(a.results, stamp.strftime("%Y%m%d-%H%M%S") +
                            ("-quick" if a.quick else ""))
        with open(base + ".txt", "w") as f:
            f.write(text + "\n")
        with open(base + ".json", "w") as f:
            json.dump({"config": cfg, "rows": results.rows,
                       "info": results.info, "limits": lim,
                       "elapsed_s": elapsed}, f, indent=1, default=str)
        say("saved %s.txt and .json" % base)
        return 0
    except KeyboardInterrupt as e:
        say("interrupted (%s): cleaning up" % e)
        return 130
    finally:
        for srv in servers:
            try:
                srv.stop()
            except Exception:
                pass
        env.cleanup()
        if a.keep:
            say("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
