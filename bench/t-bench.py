#!/usr/bin/env python3
"""
t-bench.py - correctness of the benchmark's own output (no timings):
the mailbox generator is deterministic and writes the mbox an MDA would,
its digests describe what RETR must return, popbench undoes dot-stuffing
exactly (against the in-memory sender, then against postern with a
generated mailbox, where it also checks STAT and an expunge), and the
report computes ratios and target verdicts the right way round.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("top_srcdir") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "bench"))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))

import gen_mbox                                     # noqa: E402
import harness                                      # noqa: E402
import report                                       # noqa: E402
from servers import free_port, wait_port            # noqa: E402
from workloads import Results, Runner, parse_kv     # noqa: E402

t = harness.TAP()
tmp = tempfile.mkdtemp(prefix="postern-tbench-")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def split_mbox(data):
    """Messages as RETR returns them: separator dropped, one '>' removed
    from '>From ' lines (mboxo), CRLF line ends."""
    assert data.startswith(b"From ")
    out = []
    chunks = data.split(b"\nFrom ")
    # Splitting ate the empty line an MDA appends, except after the last.
    chunks[-1] = chunks[-1][:-1]
    for chunk in chunks:
        msg = chunk.split(b"\n", 1)[1][:-1]
        lines = [l[1:] if l.startswith(b">From ") else l
                 for l in msg.split(b"\n")]
        out.append(b"\r\n".join(lines))
    return out


# --- generator ----------------------------------------------------------------
a, b, c = (os.path.join(tmp, n) for n in ("a.mbox", "b.mbox", "c.mbox"))
gen_mbox.generate(a, 40, 20000, 7)
gen_mbox.generate(b, 40, 20000, 7)
gen_mbox.generate(c, 40, 20000, 8, sidecar=False)
t.eq(sha(a), sha(b), "same seed, same mailbox")
t.ok(sha(a) != sha(c), "another seed, another mailbox")
t.eq(sha(a + ".json"), sha(b + ".json"), "same seed, same digests")
data = open(a, "rb").read()
lines = data.split(b"\n")
t.eq(sum(1 for l in lines if l.startswith(b"From ")), 40,
     "exactly one 'From ' line per message (body lines are escaped)")
t.ok(any(l.startswith(b">From ") for l in lines), "has escaped >From lines")
t.ok(b"" in lines and b"." in lines, "has a lone '.' line")
t.ok(any(l.startswith(b"..") for l in lines), "has lines starting '..'")
t.ok(b"Content-Transfer-Encoding: base64" in data and
     b"multipart/mixed" in data, "has multipart with base64 attachments")
t.ok(any(ch >= 0x80 for ch in data), "has 8-bit text")
t.ok(data.endswith(b"\n\n") and b"\r" not in data,
     "LF line ends, each message followed by an empty line")
meta = gen_mbox.json.load(open(a + ".json"))
msgs = split_mbox(data)
t.eq(len(msgs), 40, "the mailbox splits into 40 messages")
t.eq([hashlib.sha256(m + b"\r\n").hexdigest() for m in msgs],
     [m[1] for m in meta["messages"]],
     "digests are those of the messages with the escape undone")
t.eq([len(m) + 2 for m in msgs], [m[0] for m in meta["messages"]],
     "sizes are RETR sizes (CRLF)")

# --- popbench against the in-memory sender -------------------------------------
bindir = os.path.join(tmp, "bin")
os.mkdir(bindir)
cc = os.environ.get("CC", "cc")
built = True
for prog, libs in (("popbench", ["-lssl", "-lcrypto"]),
                   ("popserve", ["-lssl", "-lcrypto"]),
                   ("minetd", []), ("pamcost", ["-lpam"])):
    r = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                        os.path.join(bindir, prog),
                        os.path.join(SRC, "bench", prog + ".c")] + libs,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    built &= t.ok(r.returncode == 0, "%s compiles" % prog)
    if r.returncode:
        t.diag(r.stdout.decode())
if not built:
    t.done()
popbench = os.path.join(bindir, "popbench")

msg = (b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nFrom x\r\n"
       b"middle . line\r\n.\r\nend")
msgfile = os.path.join(tmp, "msg.txt")
open(msgfile, "wb").write(msg)
port = free_port()
srv = subprocess.Popen([os.path.join(bindir, "popserve"), str(port), "-f",
                        msgfile, "-n", "3"])
try:
    t.ok(wait_port(port, srv), "popserve listens")
    dump = os.path.join(tmp, "serve.dump")
    r = subprocess.run([popbench, "retr", "127.0.0.1", str(port), "-u", "x",
                        "-D", dump, "-T", "30"], stdout=subprocess.PIPE,
                       timeout=60)
    kv = parse_kv(r.stdout.decode())
    t.eq(kv.get("messages"), 3, "popbench RETRs every message")
    t.eq(kv.get("stuffed"), 12, "popbench removes every stuffing dot")
    want = (len(msg) + 2).to_bytes(8, "little") + msg + b"\r\n"
    t.eq(open(dump, "rb").read(), want * 3,
         "popbench's dump is the message, unstuffed, byte for byte")
    # The timed runs skip bodies by looking for dots only.
    r = subprocess.run([popbench, "retr", "127.0.0.1", str(port), "-u", "x",
                        "-q", "-T", "30"], stdout=subprocess.PIPE,
                       timeout=60)
    fast = parse_kv(r.stdout.decode())
    t.eq((r.returncode, fast.get("messages"), fast.get("bytes")),
         (0, 3, kv.get("bytes")), "popbench's timed path ends every message "
         "where the verifying one does (%s bytes)" % kv.get("bytes"))
finally:
    srv.kill()
    srv.wait()

# --- popbench against postern -----------------------------------------------------
if os.geteuid() != 0:
    for what in ("STAT", "RETR content", "expunge"):
        print("ok %d - postern %s # SKIP not root" % (t.n + 1, what))
        t.n += 1
else:
    d = harness.Daemon(users=("ptbench_t",))
    try:
        d.write_mbox("ptbench_t", data)
        d.start()
        os.environ["POPBENCH_PASSWORD"] = harness.TEST_PASSWORD

        def pb(mode, *args):
            r = subprocess.run([popbench, mode, d.host, str(d.port), "-u",
                                "ptbench_t", "-T", "30"] + list(args),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=120)
            if r.returncode:
                t.diag(r.stderr.decode())
            return parse_kv(r.stdout.decode()), r.returncode

        kv, rc = pb("open")
        t.eq((rc, kv.get("messages")), (0, 40), "postern: STAT counts 40")
        dump = os.path.join(tmp, "postern.dump")
        kv, rc = pb("retr", "-D", dump, "-P", "4")
        good, text = Runner.verify_dump(dump, meta) if rc == 0 else (
            False, "popbench failed")
        t.eq(text, "ok, byte-exact",
             "postern: RETR of every message matches the generator")
        fast, rc = pb("retr", "-q")
        t.eq((rc, fast.get("messages"), fast.get("bytes")),
             (0, 40, kv.get("bytes")), "postern: popbench's timed path "
             "reads the same bytes, one RETR at a time")
        kv, rc = pb("expunge")
        cut = data.index(b"\nFrom ") + 1
        t.ok(rc == 0 and d.read_mbox("ptbench_t") == data[cut:],
             "postern: DELE 1 + QUIT leaves exactly the other messages")
    finally:
        d.cleanup()

# --- report -------------------------------------------------------------------------
res = Results()
res.put("open_cold", "postern", samples=[0.05, 0.04, 0.06])
res.put("open_cold", "Dovecot", value=0.10)
res.put("retr_plain_qa", "postern", value=2000.0)
res.put("retr_plain_qa", "Dovecot", value=500.0)
res.put("retr_plain_ord", "postern", value=10.0,
        note="stalls: 2% of the quick-ack client's rate")
res.put("expunge", "Dovecot", fail="boom")
res.put("pss_total", "postern", na="n/a (reason)")
cfg = {"sizes_mb": {"retr": 190, "expunge": 505, "big": 1010},
       "open": (100000, 1600)}
text = report.table(res, cfg, ["postern", "Dovecot"])
row = {l.split("  ")[0]: l.split() for l in text.splitlines()}
t.eq(row["cold open 100k msgs (PASS+STAT), s"][-4:],
     ["yes", "0.050", "0.100", "2.00x"],
     "lower-is-better rows: median, target met, ratio Dovecot/postern")
t.eq(row["RETR plain, quick-ack client, MB/s"][-4:],
     ["yes", "2000", "500", "4.00x"], "higher-is-better: postern/Dovecot")
t.ok("STALL" in row["RETR plain, ordinary client, MB/s"] and
     "NO" in row["RETR plain, ordinary client, MB/s"],
     "a stalling ordinary client misses the 'no stall' target")
t.ok("FAIL" in row["expunge DELE 1+QUIT, 505 MB, s"],
     "a failed cell reads FAIL")
t.ok("n/a" in row["PSS per idle session (total/N), kB"],
     "a cell that cannot be measured reads n/a")

harness.shutil.rmtree(tmp, ignore_errors=True)
t.done()
