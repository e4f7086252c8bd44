#!/usr/bin/env python3
"""
t-tls-clients.py - real clients over implicit TLS and STLS: openssl
s_client, curl, Python poplib, fetchmail and mpop each fetch the same
mailbox and must get every message byte for byte; the log must say
tls=yes for every login and session.
"""
import os
import poplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib as cl  # noqa: E402
import harness as h  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
t = h.TAP()
MSGS = [
    h.message(1),
    h.message(2, size=300000),              # many 16 KiB records
    h.message(3, extra=b"X-Tab:\tvalue with \t tabs \n"),
    h.message(4, extra=b".starts with a dot\n..two dots\n.\nend\n"),  # dot-stuffing
]
USERS = ["pttls%d" % i for i in range(1, 11)]
PW = h.TEST_PASSWORD


def lf_form(msg):
    """What an MDA receives from fetchmail/mpop: LF line ends."""
    return b"".join(l + b"\n" for l in h.expected_retr(msg))


def multiline_after(data, start):
    """The bytes of a multi-line answer that follows the line at start."""
    i = data.find(start)
    if i < 0:
        return None
    i = data.find(b"\r\n", i) + 2
    j = data.find(b"\r\n.\r\n", i - 2)
    return data[i:j + 2] if j >= 0 else None


def s_client(d, user, starttls):
    port = d.port if starttls else d.tls_port
    cmd = ["openssl", "s_client", "-quiet", "-crlf", "-verify_return_error",
           "-CAfile", d.ca.cert, "-connect", "127.0.0.1:%d" % port]
    if starttls:
        cmd += ["-starttls", "pop3"]
    script = "USER %s\nPASS %s\n%sQUIT\n" % (
        user, PW, "".join("RETR %d\n" % n for n in range(1, len(MSGS) + 1)))
    p = subprocess.run(cmd, input=script.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.stdout


def curl(d, user, starttls, n, extra=()):
    if starttls:
        url = "pop3://127.0.0.1:%d/%d" % (d.port, n)
        flags = ["--ssl-reqd"]
    else:
        url = "pop3s://127.0.0.1:%d/%d" % (d.tls_port, n)
        flags = []
    p = subprocess.run(["curl", "-s", "-S", "--cacert", d.ca.cert,
                        "-u", "%s:%s" % (user, PW)] + flags + list(extra) + [url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout, p.stderr


def strip_received(data):
    """fetchmail prepends a Received: header (with continuation lines)."""
    lines = data.split(b"\n")
    if lines and lines[0].startswith(b"Received:"):
        lines = lines[1:]
        while lines and lines[0][:1] in (b" ", b"\t"):
            lines = lines[1:]
    return b"\n".join(lines)


def fetchmail(d, user, starttls):
    home = os.path.join(d.dir, "fm-" + user)
    os.makedirs(home, mode=0o700)
    out = os.path.join(home, "out")
    rc = os.path.join(home, "rc")
    port = d.port if starttls else d.tls_port
    with open(rc, "w") as f:
        f.write('poll 127.0.0.1 protocol pop3 port %d user "%s" password "%s"\n'
                % (port, user, PW))
    os.chmod(rc, 0o600)
    tls = ["--sslproto", "TLS1.2+"] if starttls else ["--ssl"]
    # Each message goes to its own file: the MDA runs once per message.
    mda = "/bin/sh -c 'cat > %s.$$'" % out
    # As root fetchmail keeps its lock in /var/run: give each run its own,
    # or concurrent tests exclude each other (exit status 8).
    p = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog",
                        "--pidfile", os.path.join(home, "pid"),
                        "-k", "-a", "--sslcertfile", d.ca.cert, "--sslcertck",
                        "--sslcommonname", "localhost", "--mda", mda] + tls,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env={"HOME": home, "PATH": os.environ["PATH"]}, timeout=120)
    got = []
    for name in os.listdir(home):
        if name.startswith("out."):
            with open(os.path.join(home, name), "rb") as f:
                got.append(strip_received(f.read()))
    return p.returncode, sorted(got), p.stdout


def mpop(d, user, starttls):
    home = os.path.join(d.dir, "mp-" + user)
    os.makedirs(home, mode=0o700)
    out = os.path.join(home, "out")
    port = d.port if starttls else d.tls_port
    p = subprocess.run(["mpop", "--host=127.0.0.1", "--port=%d" % port,
                        "--tls=on", "--tls-starttls=%s" % ("on" if starttls else "off"),
                        "--tls-trust-file=" + d.ca.cert,
                        "--tls-host-override=localhost",
                        "--auth=%s" % ("plain" if starttls else "user"),
                        "--user=" + user,
                        "--passwordeval=printf %%s '%s'" % PW,
                        "--keep=on", "--received-header=off",
                        "--uidls-file=" + os.path.join(home, "uidls"),
                        "--delivery=mda,cat > %s.$$" % out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env={"HOME": home, "PATH": os.environ["PATH"]}, timeout=120)
    got = []
    for name in os.listdir(home):
        if name.startswith("out."):
            with open(os.path.join(home, name), "rb") as f:
                got.append(f.read())
    return p.returncode, sorted(got), p.stdout


d = tlsutil.tls_daemon(USERS)
for u in USERS:
    d.write_mbox(u, h.make_mbox(MSGS))
d.start()
try:
    # openssl s_client, implicit and STLS; answers are checked byte for byte.
    for user, starttls in ((USERS[0], False), (USERS[1], True)):
        mode = "STLS" if starttls else "implicit TLS"
        out = s_client(d, user, starttls)
        t.ok(b"+OK Logged in" in out, "s_client (%s): logged in" % mode)
        for n, msg in enumerate(MSGS, 1):
            size = len(cl.wire(msg))
            t.eq(multiline_after(out, b"+OK %d octets" % size),
                 tlsutil.wire_retr(msg),
                 "s_client (%s): RETR %d byte-exact (%d octets)" % (mode, n, size))
        t.ok(out.rstrip().endswith(b"signing off (0 messages deleted)."),
             "s_client (%s): QUIT" % mode)

    # curl: pop3s:// (implicit) and pop3:// --ssl-reqd (STLS). curl uses
    # SASL PLAIN when CAPA offers it; the second run forces LOGIN.
    for user, starttls in ((USERS[2], False), (USERS[3], True)):
        mode = "STLS" if starttls else "implicit TLS"
        for n, msg in enumerate(MSGS, 1):
            rc, body, err = curl(d, user, starttls, n)
            t.ok(rc == 0, "curl (%s) RETR %d exit status %d %s" % (mode, n, rc, err[:200]))
            t.eq(body, cl.wire(msg), "curl (%s): message %d byte-exact" % (mode, n))
    rc, body, err = curl(d, USERS[2], False, 2, ["--login-options", "AUTH=LOGIN"])
    t.eq(body, cl.wire(MSGS[1]), "curl with AUTH=LOGIN: byte-exact")
    rc, body, err = curl(d, USERS[3], True, 1, ["--sasl-ir"])
    t.eq(body, cl.wire(MSGS[0]), "curl STLS with a SASL initial response: byte-exact")

    # Python poplib: POP3_SSL and POP3.stls().
    ctx = d.ca.client_context()
    for user, starttls in ((USERS[4], False), (USERS[5], True)):
        mode = "STLS" if starttls else "POP3_SSL"
        if starttls:
            p = poplib.POP3("127.0.0.1", d.port, timeout=30)
            t.ok("STLS" in p.capa(), "poplib: CAPA offers STLS before TLS")
            t.ok(p.stls(ctx).startswith(b"+OK"), "poplib: stls()")
            t.ok("STLS" not in p.capa(), "poplib: no STLS in CAPA inside TLS")
        else:
            p = poplib.POP3_SSL("127.0.0.1", d.tls_port, context=ctx, timeout=30)
        t.ok(p.getwelcome().startswith(b"+OK"), "poplib (%s): greeting" % mode)
        p.user(user)
        t.ok(p.pass_(PW).startswith(b"+OK"), "poplib (%s): login" % mode)
        t.eq(p.stat(), (len(MSGS), sum(len(cl.wire(m)) for m in MSGS)),
             "poplib (%s): STAT" % mode)
        for n, msg in enumerate(MSGS, 1):
            resp, lines, octets = p.retr(n)
            t.eq(lines, h.expected_retr(msg), "poplib (%s): RETR %d byte-exact" % (mode, n))
        p.quit()

    # fetchmail --ssl and fetchmail --sslproto TLS1.2+ (STLS).
    for user, starttls in ((USERS[6], False), (USERS[7], True)):
        mode = "--sslproto/STLS" if starttls else "--ssl"
        rc, got, log = fetchmail(d, user, starttls)
        t.ok(rc == 0, "fetchmail %s: exit status %d" % (mode, rc))
        if rc != 0:
            t.diag(log.decode(errors="replace")[-1500:])
        t.eq(got, sorted(lf_form(m) for m in MSGS),
             "fetchmail %s: every message byte-exact" % mode)

    # mpop --tls=on, with and without --tls-starttls (and SASL PLAIN).
    for user, starttls in ((USERS[8], False), (USERS[9], True)):
        mode = "--tls-starttls=on" if starttls else "--tls-starttls=off"
        rc, got, log = mpop(d, user, starttls)
        t.ok(rc == 0, "mpop %s: exit status %d" % (mode, rc))
        if rc != 0:
            t.diag(log.decode(errors="replace")[-1500:])
        t.eq(got, sorted(lf_form(m) for m in MSGS),
             "mpop %s: every message byte-exact" % mode)

    # Every login and every session was over TLS, and the log says so.
    t.ok(d.wait_log('user="%s" session=' % USERS[9]), "last session logged")
    log = d.read_log()
    logins = [l for l in log.splitlines() if "login ok:" in l]
    t.ok(len(logins) >= 10 and all("tls=yes" in l for l in logins),
         "every login line says tls=yes (%d)" % len(logins))
    t.ok(any("mech=PLAIN tls=yes" in l for l in logins), "a SASL PLAIN login over TLS")
    t.ok(any("mech=LOGIN tls=yes" in l for l in logins), "a SASL LOGIN login over TLS")
    ends = [l for l in log.splitlines() if "session end:" in l and 'user="pttls' in l]
    t.ok(len(ends) >= 10 and all("tls=yes" in l for l in ends),
         "every session end line says tls=yes (%d)" % len(ends))
    t.ok("TLS established (implicit)" in log and "TLS established (STLS)" in log,
         "worker logs both kinds of handshake")
    t.ok("TLS handshake failed" not in log, "no handshake failed")
    t.ok(d.read_mbox(USERS[0]) == h.make_mbox(MSGS), "mailbox unchanged (keep)")
finally:
    d.cleanup()
t.done()
