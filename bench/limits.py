"""
limits.py - this machine's own limits, measured in the same run as the
servers, so that every server number can be read against what the
hardware allows: loopback TCP, the benchmark client against an in-memory
sender (plain and TLS), the AEAD ciphers TLS
negotiates, reading a mailbox from page cache, copying one with fsync,
and the cost of one PAM login with nothing else around it.
"""
import json
import os
import subprocess
import time

from servers import free_port, wait_port
from workloads import parse_kv

CIPHERS = {
    "TLS_AES_256_GCM_SHA384": "aes-256-gcm",
    "TLS_AES_128_GCM_SHA256": "aes-128-gcm",
    "TLS_CHACHA20_POLY1305_SHA256": "chacha20-poly1305",
}


def _spawn_wait(argv, port):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    if not wait_port(port, p, 10):
        p.kill()
        p.wait()
        raise RuntimeError("%s did not start" % argv[0])
    return p


def _stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def iperf3(seconds):
    port = free_port()
    srv = _spawn_wait(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
                      port)
    try:
        time.sleep(0.2)
        r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port),
                            "-t", str(seconds), "-J"],
                           stdout=subprocess.PIPE, timeout=seconds + 30)
        data = json.loads(r.stdout.decode())
        return data["end"]["sum_received"]["bits_per_second"] / 8e6
    finally:
        _stop(srv)


def ceiling(env, msgfile, count, tls):
    port = free_port()
    argv = [env.tool("popserve"), str(port), "-f", msgfile, "-n",
            str(count)]
    if tls:
        argv += ["-C", env.cert, "-K", env.key]
    srv = _spawn_wait(argv, port)
    try:
        best = []
        for _ in range(3):
            r = subprocess.run([env.tool("popbench"), "retr", "127.0.0.1",
                                str(port), "-u", "x", "-q"] +
                               (["-t"] if tls else []),
                               stdout=subprocess.PIPE, timeout=300)
            best.append(parse_kv(r.stdout.decode())["mbps"])
        return sorted(best)[1]
    finally:
        _stop(srv)


def openssl_speed(cipher, seconds):
    r = subprocess.run(["openssl", "speed", "-evp", cipher, "-bytes",
                        "16384", "-seconds", str(seconds), "-mr"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       timeout=seconds * 4 + 30)
    for line in r.stdout.decode().splitlines():
        if line.startswith("+F:"):
            return float(line.split(":")[-1]) / 1e6
    return None


def pagecache_read(path):
    buf = bytearray(1 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
        f.seek(0)
        t = time.monotonic()
        n = 0
        while True:
            k = f.readinto(buf)
            if not k:
                break
            n += k
        dt = time.monotonic() - t
    return n / dt / 1e6


def copy_fsync(src, workdir):
    dst = os.path.join(workdir, "copy-fsync.tmp")
    buf = bytearray(1 << 20)
    t = time.monotonic()
    n = 0
    with open(src, "rb", buffering=0) as f, open(dst, "wb",
                                                  buffering=0) as g:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            g.write(memoryview(buf)[:k])
            n += k
        os.fsync(g.fileno())
    dt = time.monotonic() - t
    os.unlink(dst)
    return dt, n / dt / 1e6


def pam_cost(env, user, n, mode=None, stat="median_ms"):
    r = subprocess.run([env.tool("pamcost"), env.pam_service, user, str(n)] +
                       ([mode] if mode else []),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode().strip())
    return parse_kv(r.stdout.decode())[stat]


def measure(env, cfg, masters, msgfile, ciphers, say):
    """Every limit; one that cannot be measured is left out."""
    lim = {}

    def attempt(key, fn):
        try:
            lim[key] = fn()
        except Exception as e:      # a limit we cannot measure is not fatal
            say("  limit %s: %s" % (key, e))

    say("machine limits")
    attempt("iperf3", lambda: iperf3(cfg["iperf_s"]))
    attempt("ceiling_plain", lambda: ceiling(env, msgfile,
                                             cfg["retr"][0], False))
    attempt("ceiling_tls", lambda: ceiling(env, msgfile, cfg["retr"][0],
                                           True))
    wanted = ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"]
    for c in wanted:
        attempt(c, lambda c=c: openssl_speed(c, cfg["speed_s"]))
    attempt("pagecache", lambda: pagecache_read(masters["retr"]))
    try:
        dt, rate = copy_fsync(masters["expunge"], env.workdir)
        lim["copy_fsync_s"], lim["copy_fsync"] = dt, rate
    except OSError as e:
        say("  limit copy_fsync: %s" % e)
    attempt("pam_ms", lambda: pam_cost(env, cfg["session_users"][0],
                                       cfg["pam_reps"]))
    attempt("pam_fast_ms", lambda: pam_cost(env, cfg["fast_users"][0],
                                            cfg["pam_reps"]))
    attempt("pam_fork_ms", lambda: pam_cost(env, cfg["fast_users"][0],
                                            cfg["pam_reps"], "fork"))
    attempt("pam_pinned_ms", lambda: pam_cost(env, cfg["fast_users"][0],
                                              cfg["pam_reps"], "pinned"))
    if ciphers:
        lim["ciphers"] = {k: "%s (%s)" % (v, CIPHERS.get(v, "?"))
                          for k, v in ciphers.items()}
    return lim
