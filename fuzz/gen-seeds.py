#!/usr/bin/env python3
"""gen-seeds.py - (re)write the seed corpora under fuzz/corpus/.

Seeds are small, valid (or nearly valid) inputs that give the fuzzers a
head start into every branch. IPC frames are in host byte order
(little-endian on every platform we build for), as lib/ipc.c writes them.
Run from anywhere: python3 fuzz/gen-seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- POP3 command lines (without CRLF, as the parser sees them) ----
POP3 = [
    "USER alice", "PASS S3cret pw with spaces", "QUIT", "STAT", "LIST",
    "LIST 1", "RETR 1", "DELE 4294967294", "NOOP", "RSET", "TOP 1 10",
    "TOP 2 0", "UIDL", "UIDL 3", "CAPA", "STLS", "AUTH", "AUTH PLAIN",
    "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "AUTH LOGIN", "UTF8", "APOP a b",
    "list 1", "Stat ", "LIST 4294967297", "LIST 01", "LIST +1", "RETR  1",
    "TOP 1", "USER j\xc3\xa9r\xc3\xb4me", "PASS ", "XTND XMIT", "",
]
for i, line in enumerate(POP3):
    write("pop3-parse", "%02d" % i, line.encode("latin-1") if "\xc3" in line
          else line)

# ---- configuration files ----
write("config", "defaults", "")
write("config", "full", """# a full postern.conf
listen = 0.0.0.0:110
listen = [::]:110
listen_tls = [::1]:995
listen_tls = *:995
mailbox = /var/mail/%u
index_dir = /var/lib/postern/index/%u
mbox_format = mboxrd
pam_service = postern
unpriv_user = postern
empty_dir = /var/lib/postern/empty
libexec_dir = /usr/libexec/postern
pid_file = /run/postern.pid
plaintext_auth = never
idle_timeout = 600
preauth_timeout = 60
lock_timeout = 30
auth_fail_delay = 2000
auth_max_attempts = 3
max_connections = 1000
max_connections_per_addr = 50
tls_cert = /etc/ssl/certs/postern.pem
tls_key = /etc/ssl/private/postern.key
tls_min_version = TLSv1.3
tls_ciphers = HIGH:!aNULL
tls_ciphersuites = TLS_AES_256_GCM_SHA384
""")
write("config", "home-mailbox", "mailbox = %h/mbox\nindex_dir = %h/.postern\n"
      "plaintext_auth = always\r\n\t# indented comment\n")
write("config", "errors", "listen = [::1:110\nbogus\nidle_timeout = 5\n")

# ---- IPC frame streams ----
VERSION = 1


def frame(t, payload=b"", fd=False):
    return struct.pack("<IHBB", len(payload), t, VERSION, 1 if fd else 0) + payload


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def s(v): return u32(len(v)) + (v if isinstance(v, bytes) else v.encode())


FRAMES = {
    "log": frame(1, u8(5) + s("login ok: rhost=127.0.0.1")),
    "config": frame(2, s("listen = 127.0.0.1:1110\nmailbox = /var/mail/%u\n")),
    "worker-init": frame(4, u64(7) + s("127.0.0.1") + u16(40000) + s("127.0.0.1")
                         + u16(110) + u8(0)),
    "worker-session": frame(7, u8(0) + s(""), fd=True),
    "worker-stats": frame(8, u32(2) + u32(1) + u64(12345) + s("quit")),
    "auth-attach": frame(10, u64(7) + s("::1"), fd=True),
    "auth-detach": frame(12, u64(7)),
    "auth-granted": frame(13, u64(7) + s("alice") + u32(1000) + u32(1000)
                          + s("/home/alice") + s("USER") + u8(1)),
    "auth-kill": frame(15, u64(7) + s("malformed request")),
    "auth-request": frame(20, u8(1) + u8(0) + s("") + s("alice") + s("secret")),
    "auth-result": frame(21, u8(0)),
    "store-open": frame(30),
    "store-opened": frame(31, u32(3) + u64(4096)),
    "store-list": frame(32, u32(0)),
    "store-listing": frame(33, u8(0) + u32(2) + u32(1) + u64(100) + u32(2) + u64(200)),
    "store-uidl": frame(34, u32(2)),
    "store-uidls": frame(35, u8(1) + u32(1) + u32(1) + s("a1b2c3")),
    "store-retr": frame(36, u32(1) + u32(0xffffffff)),
    "store-data": frame(37, u8(1) + b"Subject: x\r\n\r\n..dot\r\n"),
    "store-dele": frame(38, u32(1)),
    "store-ok": frame(39, u64(0)),
    "store-rset": frame(40),
    "store-stat": frame(42),
    "store-status": frame(43, u32(1) + u64(10)),
    "store-commit": frame(44),
    "store-error": frame(45, u8(4) + s("Mailbox is temporarily unavailable")),
    "store-init": frame(46, u64(7) + s("alice") + u32(1000) + s("/var/mail/alice")
                        + s("/var/lib/postern/index/alice")),
}
# The first byte of each input is the number of descriptors "received".
for name, f in FRAMES.items():
    write("ipc", name, u8(1 if name in ("worker-session", "auth-attach") else 0) + f)
write("ipc", "session-stream", u8(1) + FRAMES["store-open"] + FRAMES["store-opened"]
      + FRAMES["store-listing"] + FRAMES["store-retr"] + FRAMES["store-ok"]
      + FRAMES["store-data"] + FRAMES["auth-attach"])
write("ipc", "fd-missing", u8(0) + FRAMES["worker-session"])
write("ipc", "truncated", u8(0) + FRAMES["auth-granted"][:-3])

# ---- util: UTF-8, escapes, numbers ----
UTIL = [b"", b"0", b"4294967295", b"4294967296", b"18446744073709551615",
        b"18446744073709551616", b"007", b"-1", b"+1", b" 1",
        "j\u00e9r\u00f4me \u20ac \U0001f600".encode(), b"\xc0\xaf", b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\xf0\x9f\x98", b'quote" back\\ \x1b[31m\n']
for i, v in enumerate(UTIL):
    write("util", "%02d" % i, v)
