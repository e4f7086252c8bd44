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
                         + u16(110) + u8(0) + u32(0) + u32(999) + u32(995)),
    "worker-tls": frame(6, s("TLSv1.3") + s("TLS_AES_256_GCM_SHA384")),
    "worker-tls12": frame(6, s("TLSv1.2") + s("ECDHE-RSA-AES128-GCM-SHA256")),
    "worker-tls-space": frame(6, s("TLS v1.3") + s("TLS_AES_128_GCM_SHA256")),
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
write("ipc", "worker-stream", u8(0) + FRAMES["config"] + FRAMES["worker-init"]
      + FRAMES["log"] + FRAMES["worker-tls"] + FRAMES["worker-stats"])

# ---- util: UTF-8, escapes, numbers ----
UTIL = [b"", b"0", b"4294967295", b"4294967296", b"18446744073709551615",
        b"18446744073709551616", b"007", b"-1", b"+1", b" 1",
        "j\u00e9r\u00f4me \u20ac \U0001f600".encode(), b"\xc0\xaf", b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\xf0\x9f\x98", b'quote" back\\ \x1b[31m\n']
for i, v in enumerate(UTIL):
    write("util", "%02d" % i, v)

# ---- mailboxes: 5 parameter bytes, then the mbox ----
# byte 0: bit 0 mboxrd, bit 1 pseudo check, bit 2 full scan with the baseline
# code (the incremental scan uses the other path); 1: scan buffer/16;
# 2: read chunk (0: unlimited); 3: RETR buffer/128 << 3 | TOP lines;
# 4: where the mailbox ended last time (/255 of its length)
MBOXES = {
    "simple": b"From a@b Sat Nov 21 10:00:00 2026\nSubject: one\n\nbody\n\n"
              b"From a@b Sat Nov 21 10:01:00 2026\nSubject: two\n\nbody 2\n",
    "quoting": b"From x Sat Nov 21 10:00:00 2026\nSubject: q\n\n>From here\n"
               b">>From there\nFrom-not-a-separator\n.\n..\n.dot\n\n",
    "crlf": b"From x Sat Nov 21 10:00:00 2026\r\nSubject: crlf\r\n\r\nline\r\n"
            b"bare\rcr\r\n\r\nFrom y Sat Nov 21 10:00:01 2026\r\n\r\n",
    "pseudo": b"From MAILER-DAEMON Sat Nov 21 10:00:00 2026\nDate: x\n"
              b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
              b"X-IMAP: 1234567890 0000000002\n\nfolder data\n\n"
              b"From a Sat Nov 21 10:00:01 2026\nSubject: real\n\nmail\n",
    "no-final-lf": b"preamble line\nFrom a Sat Nov 21 10:00:00 2026\nA: b\n\nlast",
    "gt-run": b"From a Sat Nov 21 10:00:00 2026\n\n" + b">" * 40 + b"From deep\n"
              + b">" * 40 + b"Fro\n",
    "empty-msgs": b"From a\nFrom b\n\nFrom c\n\n\nFrom d",
    "long-header": b"From a Sat Nov 21 10:00:00 2026\n" + b"X-Long: " + b"h" * 9000
                   + b"\n\nbody\n",
}
PARAMS = [b"\x00\xff\x00\xff\x80", b"\x01\x00\x01\x07\x40", b"\x02\x04\x07\x13\xc0",
          b"\x03\x10\x00\x0a\xff"]
for i, (name, mb) in enumerate(sorted(MBOXES.items())):
    write("mbox-scan", name, PARAMS[i % len(PARAMS)] + mb)

# ---- UIDL index images: 1 mode byte (bit 0: fix the checksum), then the file
# (layout in storage/mbox_index.h, version 2). The digests and the validation
# field are arbitrary bytes to the parser: any 16 bytes will do. ----
import hashlib


M64 = (1 << 64) - 1


def sum64(h, data):
    """mbox_sum64() of storage/mbox_io.c: the index trailer checksum."""
    i = 0
    while len(data) - i >= 8:
        w = struct.unpack_from("<Q", data, i)[0]
        h = ((h ^ w) * 0xff51afd7ed558ccd) & M64
        h ^= h >> 32
        i += 8
    for b in data[i:]:
        h = ((h ^ b) * 0xc4ceb9fe1a85ec53) & M64
    return h


def index_image(recs, size, fmt=0, mutate=None, version=2):
    hdr = bytearray(128)
    hdr[0:8] = b"PSTNIDX1"
    struct.pack_into("<IIIIQQQqII", hdr, 8, version, 128, 56, fmt, 2049, 123456,
                     size, 1763719200, 0, len(recs))
    hdr[64:80] = hashlib.sha256(b"validation").digest()[:16]
    body = bytes(hdr)
    for (fo, do, eo, sz, dg, suf, fl) in recs:
        body += struct.pack("<QQQQ", fo, do, eo, sz) + dg + struct.pack("<II", suf, fl)
    if mutate:
        body = mutate(body)
    return body + struct.pack("<Q", sum64(sum64(0, body[:128]), body[128:]))


D1, D2 = hashlib.sha256(b"one").digest()[:16], hashlib.sha256(b"two").digest()[:16]
write("mbox-index", "empty", b"\x00" + index_image([], 0))
write("mbox-index", "two", b"\x00" + index_image(
    [(0, 35, 60, 27, D1, 1, 0), (61, 96, 130, 36, D2, 1, 0)], 131))
write("mbox-index", "dup-digest", b"\x00" + index_image(
    [(0, 35, 60, 27, D1, 1, 1), (61, 96, 130, 36, D1, 2, 0),
     (131, 166, 200, 36, D1, 3, 0)], 200))
# Version 1 (SHA-256 digests): must be rejected, never trusted.
write("mbox-index", "old-version", b"\x00" + index_image(
    [(0, 35, 60, 27, D1, 1, 0)], 61, version=1))
write("mbox-index", "bad-sum", b"\x01" + index_image(
    [(0, 35, 60, 27, D1, 1, 0)], 61, mutate=lambda b: b[:-1] + b"\x01"))

# ---- SASL: each input is base64 text, a decoded message, protocol text
# ("MECH[ initial]" then response lines) and, encoded, PLAIN/LOGIN answers
# (fuzz/fuzz-sasl.c). First octet of a LOGIN answer pair: where the user
# name ends. ----
import base64


def b64(v):
    return base64.b64encode(v).decode()


SASL_MAX_ID, AUTH_MAX_PASS = 255, 1024
PLAIN_MSG = b"\0alice\0secret"
SASL = {
    "rfc4648": "Zm9vYmFy",
    "rfc4648-pad1": "Zm9vYmE=",
    "rfc4648-pad2": "Zm9vYg==",
    "alphabet-end": "+/+/",
    "noncanonical": "Zh==",
    "pad-middle": "Zg==Zg==",
    "whitespace": "Zm9v YmFy\r\n",
    "plain-initial": "PLAIN " + b64(PLAIN_MSG),
    "plain-challenge": "PLAIN\r\n" + b64(PLAIN_MSG) + "\r\n",
    "plain-authzid": "plain " + b64(b"Ursel\0Kurt\0xipj3plmq"),
    "plain-empty": "PLAIN =",
    "plain-cancel": "PLAIN\n*\n",
    "plain-extra-line": "PLAIN\n" + b64(PLAIN_MSG) + "\nYWxpY2U=\n",
    "login-outlook": "LOGIN\r\n" + b64(b"alice") + "\r\n" + b64(b"secret") + "\r\n",
    "login-initial": "Login " + b64(b"alice") + "\n" + b64(b"secret"),
    "login-empty-pass": "LOGIN\n" + b64(b"alice") + "\n=\n",
    "login-cancel": "LOGIN\n" + b64(b"alice") + "\n*\n",
    "login-nul": "LOGIN\n" + b64(b"al\0ice") + "\n",
    "unknown-mech": "CRAM-MD5 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+",
    "msg-rfc4616": b"\0tim\0tanstaaftanstaaf",
    "msg-rfc4616-authzid": b"Ursel\0Kurt\0xipj3plmq",
    "msg-utf8": "\0j\u00f6rg\0pw".encode(),
    "msg-bad-utf8": b"\0\xc0\xaf\0pw",
    "msg-three-nuls": b"\0alice\0p\0w",
    "msg-empty-authcid": b"\0\0pw",
    "msg-id-max": b"\0" + b"a" * SASL_MAX_ID + b"\0p",
    "msg-id-over": b"\0" + b"a" * (SASL_MAX_ID + 1) + b"\0p",
    "msg-pass-max": b"z" * SASL_MAX_ID + b"\0" + b"a" * SASL_MAX_ID + b"\0"
                    + b"p" * AUTH_MAX_PASS,
    "msg-pass-over": b"z" * SASL_MAX_ID + b"\0" + b"a" * SASL_MAX_ID + b"\0"
                     + b"p" * (AUTH_MAX_PASS + 1),
    "login-pair": bytes([5]) + b"alicesecret",
}
for name, v in SASL.items():
    write("sasl", name, v)
