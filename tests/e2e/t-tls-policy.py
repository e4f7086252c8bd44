#!/usr/bin/env python3
"""
t-tls-policy.py - the plaintext authentication policy (RFC 2595 section
2.3, plaintext_auth = never | loopback | always) seen from loopback and
from a client that is not on loopback: a network namespace joined to
ours by a veth pair that this test creates and removes.
"""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
t = h.TAP()
LOCAL_USER, REMOTE_USER = "pttls14", "pttls15"
PW = h.TEST_PASSWORD

# The client side: one scenario, answers as JSON on stdout. It runs in
# the namespace with "ip netns exec", so it is a separate program.
CLIENT = r'''
import base64, json, socket, ssl, sys
host, port, mode, user, pw, cafile = sys.argv[1:7]
def lines(s):
    buf = b""
    while True:
        while b"\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError(buf)
            buf += chunk
        l, buf = buf.split(b"\r\n", 1)
        yield l.decode()
s = socket.create_connection((host, int(port)), 10)
rd = lines(s)
out = {"greeting": next(rd)}
def cmd(c):
    s.sendall(c.encode() + b"\r\n")
    return next(rd)
if mode.startswith("stls"):
    out["stls"] = cmd("STLS")
    ctx = ssl.create_default_context(cafile=cafile)
    s = ctx.wrap_socket(s, server_hostname=host)
    rd = lines(s)
out["capa"] = [cmd("CAPA")]
while out["capa"][-1] != ".":
    out["capa"].append(next(rd))
out["auth_list"] = cmd("AUTH")
if out["auth_list"].startswith("+OK"):
    while next(rd) != ".":
        pass
if mode.endswith("sasl"):
    ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
    out["login"] = cmd("AUTH PLAIN " + ir)
else:
    out["user"] = cmd("USER " + user)
    out["login"] = cmd("PASS " + pw)
out["quit"] = cmd("QUIT")
print(json.dumps(out))
'''


class Netns:
    """A namespace with one end of a veth pair; ours has .local_ip."""

    def __init__(self):
        pid = os.getpid()
        n = pid % 16384
        base = "10.231.%d.%d" % (n // 64, (n % 64) * 4)
        pre = base.rsplit(".", 1)[0]
        last = int(base.rsplit(".", 1)[1])
        self.local_ip = "%s.%d" % (pre, last + 1)
        self.remote_ip = "%s.%d" % (pre, last + 2)
        self.ns = "pttls%d" % pid
        self.veth = "pttls%da" % pid
        self.peer = "pttls%db" % pid
        self.up = False

    def ip(self, *args, ns=False):
        cmd = ["ip"] + (["netns", "exec", self.ns, "ip"] if ns else []) + list(args)
        subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def create(self):
        self.ip("netns", "add", self.ns)
        self.up = True
        self.ip("link", "add", self.veth, "type", "veth", "peer", "name", self.peer)
        self.ip("link", "set", self.peer, "netns", self.ns)
        self.ip("addr", "add", self.local_ip + "/30", "dev", self.veth)
        self.ip("link", "set", self.veth, "up")
        self.ip("addr", "add", self.remote_ip + "/30", "dev", self.peer, ns=True)
        self.ip("link", "set", self.peer, "up", ns=True)
        self.ip("link", "set", "lo", "up", ns=True)

    def destroy(self):
        subprocess.run(["ip", "link", "del", self.veth], stderr=subprocess.DEVNULL)
        if self.up:
            subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)


def client(d, where, host, port, mode, user):
    script = os.path.join(d.dir, "client.py")
    cmd = [sys.executable, script, host, str(port), mode, user, PW, d.ca.cert]
    if where == "remote":
        cmd = ["ip", "netns", "exec", net.ns] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        t.diag(p.stderr.decode(errors="replace")[-800:])
        return {}
    return json.loads(p.stdout)


def reload(d, mode, n):
    d.config["plaintext_auth"] = mode
    d.write_config()
    d.proc.send_signal(signal.SIGHUP)
    for _ in range(200):
        if d.read_log().count("configuration reloaded") >= n:
            return True
        import time
        time.sleep(0.05)
    return False


def allowed(r, desc):
    caps = r.get("capa", [])
    t.ok("USER" in caps and "SASL PLAIN LOGIN" in caps, desc + ": CAPA offers USER and SASL")
    t.ok("UTF8 USER" in caps, desc + ": CAPA offers UTF-8 names for USER (UTF8 USER)")
    t.ok(r.get("login", "").startswith("+OK Logged in"), desc + ": login works")


def refused(r, desc):
    caps = r.get("capa", [])
    t.ok(caps and not any("USER" in c for c in caps) and
         not any(c.startswith("SASL") for c in caps),
         desc + ": no CAPA line names USER (not even UTF8 USER), none SASL: %r" % caps)
    t.ok("UTF8" in caps, desc + ": CAPA still offers the UTF8 command")
    t.ok("STLS" in caps, desc + ": CAPA offers STLS")
    for k in ["auth_list", "login"] + (["user"] if "user" in r else []):
        t.ok(r.get(k, "").startswith("-ERR [AUTH] Plaintext authentication is disabled")
             and "STLS" in r.get(k, ""), desc + ": %s refused with [AUTH], pointing to STLS" % k)


net = Netns()
d = None
try:
    try:
        net.create()
    except subprocess.CalledProcessError as e:
        net.destroy()
        h.skip_all("cannot create a network namespace: %s" % e.stderr.decode().strip())
    d = tlsutil.tls_daemon([LOCAL_USER, REMOTE_USER],
                           san="DNS:localhost,IP:127.0.0.1,IP:" + net.local_ip)
    remote_port = h.free_port(net.local_ip)
    d.config["listen"] = ["127.0.0.1:%d" % d.port, "%s:%d" % (net.local_ip, remote_port)]
    d.write_config()
    with open(os.path.join(d.dir, "client.py"), "w") as f:
        f.write(CLIENT)
    for u in (LOCAL_USER, REMOTE_USER):
        d.write_mbox(u, h.make_mbox([h.message(1)]))
    d.start()
    # The remote client can reach us, and it really is not on loopback.
    r = client(d, "remote", net.local_ip, remote_port, "stls", REMOTE_USER)
    t.ok(r.get("login", "").startswith("+OK"), "remote client over STLS logs in")
    t.ok(d.wait_log('login ok: rhost=%s user="%s" mech=USER tls=yes' % (net.remote_ip, REMOTE_USER)),
         "its address is %s (not loopback)" % net.remote_ip)

    # Default: loopback.
    allowed(client(d, "local", "127.0.0.1", d.port, "plain", LOCAL_USER), "loopback (default), local")
    allowed(client(d, "local", "127.0.0.1", d.port, "plain-sasl", LOCAL_USER),
            "loopback (default), local SASL")
    refused(client(d, "remote", net.local_ip, remote_port, "plain", REMOTE_USER),
            "loopback (default), remote")
    refused(client(d, "remote", net.local_ip, remote_port, "plain-sasl", REMOTE_USER),
            "loopback (default), remote SASL")
    allowed(client(d, "remote", net.local_ip, remote_port, "stls-sasl", REMOTE_USER),
            "loopback (default), remote after STLS")

    t.ok(reload(d, "never", 1), "plaintext_auth = never (SIGHUP)")
    refused(client(d, "local", "127.0.0.1", d.port, "plain", LOCAL_USER), "never, local")
    refused(client(d, "remote", net.local_ip, remote_port, "plain-sasl", REMOTE_USER),
            "never, remote")
    allowed(client(d, "local", "127.0.0.1", d.port, "stls", LOCAL_USER), "never, local after STLS")
    allowed(client(d, "remote", net.local_ip, remote_port, "stls", REMOTE_USER),
            "never, remote after STLS")

    t.ok(reload(d, "always", 2), "plaintext_auth = always (SIGHUP)")
    r = client(d, "remote", net.local_ip, remote_port, "plain", REMOTE_USER)
    allowed(r, "always, remote")
    t.ok("STLS" in r.get("capa", []), "always: STLS still offered")
    allowed(client(d, "remote", net.local_ip, remote_port, "plain-sasl", REMOTE_USER),
            "always, remote SASL")
    t.ok(d.wait_log('login ok: rhost=%s user="%s" mech=PLAIN tls=no' % (net.remote_ip, REMOTE_USER)),
         "a remote plaintext login is logged with tls=no")

    t.ok(reload(d, "loopback", 3), "back to loopback (SIGHUP)")
    refused(client(d, "remote", net.local_ip, remote_port, "plain", REMOTE_USER),
            "loopback again, remote")
finally:
    if d is not None:
        d.cleanup()
    net.destroy()
t.done()
