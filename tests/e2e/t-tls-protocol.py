#!/usr/bin/env python3
"""
t-tls-protocol.py - TLS on the wire: STLS command injection (the
CVE-2011-0411 family), state reset after STLS, protocol floor, ALPN and
SNI (ALPACA), server cipher preference, no renegotiation, no tickets or
compression, and one log line that says why each refused handshake
failed; tls_min_version, tls_ciphersuites and tls_ciphers taking effect
on SIGHUP.
"""
import os
import signal
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tlsutil  # noqa: E402

h.require_root()
t = h.TAP()
USER = "pttls11"
PW = h.TEST_PASSWORD
MSGS = [h.message(1), h.message(2, size=2000000)]


def stls_raw(d, first=b"STLS\r\n"):
    """Plain connection; sends first (STLS and maybe more); returns the
    raw socket and the server's answer line."""
    s = socket.create_connection(("127.0.0.1", d.port), 10)
    c = h.RawClient(s)
    c.line()
    c.send(first)
    return c, c.line()


def wrap(c, ctx, server_hostname="127.0.0.1"):
    """Start TLS on a RawClient whose plaintext buffer must be empty."""
    assert c.buf == b"", c.buf
    return h.RawClient(ctx.wrap_socket(c.sock, server_hostname=server_hostname))


def read_all(c, timeout=10):
    c.sock.settimeout(timeout)
    data = c.buf
    try:
        while True:
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError):
        pass
    return data


def s_client(args, stdin=b"QUIT\r\n", timeout=30):
    p = subprocess.run(["openssl", "s_client"] + args, input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def log_after(d, mark, needle):
    """Wait for needle in the part of the log written after mark."""
    for _ in range(200):
        if needle in d.read_log()[mark:]:
            return True
        import time
        time.sleep(0.05)
    return False


d = tlsutil.tls_daemon([USER])
d.write_mbox(USER, h.make_mbox(MSGS))
d.start()
ctx = d.ca.client_context()
try:
    # --- STLS injection: "STLS\r\nCAPA\r\n" in one segment. The CAPA was
    # sent in plaintext and must never be answered inside TLS.
    c, r = stls_raw(d, b"STLS\r\nCAPA\r\n")
    t.eq(r, b"+OK Begin TLS negotiation.", "STLS answered +OK")
    t.eq(c.buf, b"", "nothing else answered in plaintext")
    tc = wrap(c, ctx)
    tc.send(b"QUIT\r\n")
    first = tc.line()
    t.eq(first, b"+OK postern signing off.",
         "the injected CAPA was discarded: the first answer inside TLS is QUIT's")
    tc.close()

    # Injected USER must not survive into TLS either.
    c, r = stls_raw(d, b"STLS\r\nUSER %s\r\n" % USER.encode())
    tc = wrap(c, ctx)
    t.eq(tc.cmd("PASS " + PW), b"-ERR Send USER first.",
         "an injected USER is not a pending USER inside TLS")
    tc.close()

    # A USER given legitimately before STLS is forgotten too (rule 5).
    c = h.raw_session("127.0.0.1", d.port)
    c.line()
    t.ok(c.cmd("USER " + USER).startswith(b"+OK"), "USER before STLS")
    t.eq(c.cmd("STLS"), b"+OK Begin TLS negotiation.", "STLS")
    tc = wrap(c, ctx)
    t.eq(tc.cmd("PASS " + PW), b"-ERR Send USER first.", "pending USER reset by STLS")
    tc.cmd("CAPA")
    caps = tc.multiline()
    t.ok(b"STLS" not in caps, "CAPA inside TLS does not offer STLS")
    t.ok(b"USER" in caps and b"SASL PLAIN LOGIN" in caps, "CAPA inside TLS offers USER and SASL")
    t.eq(tc.cmd("STLS"), b"-ERR Already using TLS.", "second STLS refused")
    t.ok(tc.cmd("USER " + USER).startswith(b"+OK"), "USER inside TLS")
    t.ok(tc.cmd("PASS " + PW).startswith(b"+OK Logged in"), "PASS inside TLS")
    t.ok(tc.cmd("STLS").startswith(b"-ERR"), "STLS refused in the TRANSACTION state")
    t.ok(tc.cmd("RETR 2").startswith(b"+OK"), "RETR of a 2 MB message over STLS")
    body = tc.multiline()
    t.ok(body == h.expected_retr(MSGS[1]), "2 MB message byte-exact (%d lines)" % len(body))
    t.ok(tc.cmd("QUIT").startswith(b"+OK"), "QUIT")
    tc.close()

    # Plaintext after STLS in a separate segment: fed to the TLS layer,
    # which fails; never answered as a command.
    mark = len(d.read_log())
    c, r = stls_raw(d)
    c.send(b"CAPA\r\n")
    data = read_all(c)
    t.ok(b"+OK" not in data and b"TOP" not in data,
         "plaintext sent after STLS is not executed (got %r)" % data[:60])
    t.ok(log_after(d, mark, "TLS handshake failed (STLS): not a TLS handshake"),
         "logged: not a TLS handshake")

    # Implicit TLS: nothing in plaintext, ever.
    c = h.raw_session("127.0.0.1", d.tls_port)
    c.send(b"CAPA\r\n")
    data = read_all(c)
    t.ok(b"+OK" not in data, "no plaintext greeting or answer on the TLS port")
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx)
    t.ok(tc.line().startswith(b"+OK"), "greeting inside implicit TLS")
    t.eq(tc.cmd("STLS"), b"-ERR Already using TLS.", "STLS on the implicit TLS port refused")
    tc.cmd("CAPA")
    t.ok(b"STLS" not in tc.multiline(), "implicit TLS CAPA does not offer STLS")
    t.ok(tc.sock.compression() is None, "no TLS compression")
    t.eq(tc.sock.version(), "TLSv1.3", "TLS 1.3 by default")
    t.eq(tc.sock.cipher()[0], "TLS_AES_128_GCM_SHA256",
         "server preference: AES-128-GCM although the client lists AES-256 first")
    t.ok(tc.sock.session is None or not tc.sock.session.has_ticket,
         "no session ticket issued")
    tc.close()

    # Plain listener: CAPA offers STLS before TLS.
    c = h.raw_session("127.0.0.1", d.port)
    c.line()
    c.cmd("CAPA")
    t.ok(b"STLS" in c.multiline(), "CAPA on the plain port offers STLS")
    c.close()

    # --- Protocol floor: TLS 1.0 and 1.1 are refused by the server even
    # when the client allows them (SECLEVEL=0 lifts the client's own ban).
    for flag, name in (("-tls1_1", "TLSv1.1"), ("-tls1", "TLSv1.0")):
        for starttls in (False, True):
            mark = len(d.read_log())
            args = [flag, "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", d.ca.cert]
            if starttls:
                args += ["-starttls", "pop3", "-connect", "127.0.0.1:%d" % d.port]
            else:
                args += ["-connect", "127.0.0.1:%d" % d.tls_port]
            rc, out = s_client(args)
            mode = "STLS" if starttls else "implicit"
            t.ok(rc != 0 and b"+OK postern" not in out, "%s refused (%s)" % (name, mode))
            t.ok(log_after(d, mark, "TLS handshake failed (%s): protocol too old: "
                           "the client offers at most %s, the minimum is TLSv1.2"
                           % (mode, name)), "logged why (%s, %s)" % (name, mode))
    cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cli.load_verify_locations(d.ca.cert)
    cli.maximum_version = ssl.TLSVersion.TLSv1_2
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="localhost")
    t.eq(tc.sock.version(), "TLSv1.2", "TLS 1.2 accepted")
    t.eq(tc.sock.cipher()[0], "ECDHE-ECDSA-AES128-GCM-SHA256",
         "TLS 1.2: AES-128-GCM with ECDHE by default")
    tc.close()
    # Server preference, except ChaCha20 for clients that put it first.
    cli.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256")
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="localhost")
    t.eq(tc.sock.cipher()[0], "ECDHE-ECDSA-AES128-GCM-SHA256",
         "server cipher preference over the client's order")
    tc.close()
    cli.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256")
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="localhost")
    t.eq(tc.sock.cipher()[0], "ECDHE-ECDSA-CHACHA20-POLY1305",
         "ChaCha20 for a client that prefers it")
    tc.line()
    tc.cmd("USER " + USER)
    t.ok(tc.cmd("PASS " + PW).startswith(b"+OK"), "login over TLS 1.2 ChaCha20")
    t.ok(tc.cmd("RETR 2").startswith(b"+OK"), "RETR over TLS 1.2")
    t.ok(tc.multiline() == h.expected_retr(MSGS[1]), "2 MB byte-exact over TLS 1.2 ChaCha20")
    tc.cmd("QUIT")
    tc.close()
    mark = len(d.read_log())
    rc, out = s_client(["-tls1_2", "-cipher", "AES128-SHA", "-connect",
                        "127.0.0.1:%d" % d.tls_port])
    t.ok(rc != 0 and b"+OK" not in out, "no shared cipher: refused")
    t.ok(log_after(d, mark, "TLS handshake failed (implicit): no shared cipher"),
         "logged: no shared cipher")

    # --- No renegotiation (TLS 1.2: "R" asks s_client to renegotiate).
    # The server refuses and ends the session; whether s_client prints the
    # alert or just sees the close is a race, so the server's log decides.
    mark = len(d.read_log())
    p = subprocess.Popen(["openssl", "s_client", "-tls1_2", "-CAfile", d.ca.cert,
                          "-connect", "127.0.0.1:%d" % d.tls_port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out, _ = p.communicate(b"R\nCAPA\n", timeout=30)
    t.ok(b"RENEGOTIATING" in out, "client asked to renegotiate")
    # Depending on timing, the server's read fails on the renegotiating
    # ClientHello or on the client's alert after our no_renegotiation.
    t.ok(log_after(d, mark, "TLS read failed: "), "server refused it")
    t.eq(d.read_log()[mark:].count("TLS established"), 1, "no second handshake")
    t.ok(log_after(d, mark, 'reason="read error"'), "and ended that session")
    t.ok(b"Capability list" not in out, "nothing answered after the refused renegotiation")

    # --- ALPN (ALPACA): a client naming another protocol is refused with
    # no_application_protocol; "pop3" (alone or among others) is fine.
    mark = len(d.read_log())
    rc, out = s_client(["-alpn", "imap", "-CAfile", d.ca.cert, "-connect",
                        "127.0.0.1:%d" % d.tls_port])
    t.ok(rc != 0 and b"no application protocol" in out,
         "ALPN imap refused with no_application_protocol")
    t.ok(log_after(d, mark, "ALPN mismatch: the client offered 'imap' but not 'pop3'"),
         "logged: ALPN mismatch")
    rc, out = s_client(["-alpn", "http/1.1", "-starttls", "pop3", "-CAfile", d.ca.cert,
                        "-connect", "127.0.0.1:%d" % d.port])
    t.ok(rc != 0, "ALPN http/1.1 after STLS refused")
    for offer in (["pop3"], ["imap", "pop3"]):
        cli = d.ca.client_context()
        cli.set_alpn_protocols(offer)
        tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="localhost")
        t.eq(tc.sock.selected_alpn_protocol(), "pop3", "ALPN %s: pop3 selected" % offer)
        t.ok(tc.line().startswith(b"+OK"), "ALPN %s: greeting" % offer)
        tc.close()
    cli = d.ca.client_context()
    cli.set_alpn_protocols(["imap"])
    try:
        tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="localhost")
        t.ok(False, "poplib-style client with ALPN imap refused")
    except ssl.SSLError as e:
        t.ok("no application protocol" in str(e).lower().replace("_", " "),
             "Python client with ALPN imap refused: %s" % e.reason)

    # --- SNI: a name the certificate covers is fine, another is refused.
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, d.ca.client_context(),
                         server_hostname="pop.postern.test")
    t.ok(tc.line().startswith(b"+OK"), "SNI pop.postern.test (in the certificate) accepted")
    tc.close()
    cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cli.check_hostname = False
    cli.verify_mode = ssl.CERT_NONE
    mark = len(d.read_log())
    try:
        tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="imap.example.net")
        t.ok(False, "SNI imap.example.net refused")
    except ssl.SSLError as e:
        t.ok("unrecognized name" in str(e).lower().replace("_", " "), "SNI for a foreign name refused: %s" % e.reason)
    t.ok(log_after(d, mark, "server name 'imap.example.net', which the certificate does not cover"),
         "logged: SNI mismatch")

    # --- A client that does not trust us: its alert is logged.
    mark = len(d.read_log())
    rc, out = s_client(["-verify_return_error", "-connect", "127.0.0.1:%d" % d.tls_port])
    t.ok(rc != 0, "client without our CA gives up")
    t.ok(log_after(d, mark, "alert from the client: unknown CA"), "logged: unknown CA alert")
    # tls_strict_sni = no: names outside the certificate are let through
    # (for clients that send an alias; the client then checks the name).
    d.config["tls_strict_sni"] = "no"
    d.write_config()
    d.proc.send_signal(signal.SIGHUP)
    t.ok(d.wait_log("configuration reloaded"), "SIGHUP with tls_strict_sni = no")
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="imap.example.net")
    t.ok(tc.line().startswith(b"+OK"), "tls_strict_sni = no: a foreign SNI name is accepted")
    tc.close()
    # Every refusal above is one notice line with rhost.
    fails = [l for l in d.read_log().splitlines() if "TLS handshake failed (" in l]
    bad = [l for l in fails if ": notice: session=" not in l or "rhost=127.0.0.1" not in l]
    t.ok(fails and not bad,
         "handshake failures logged at notice with session and rhost (%d)" % len(fails))
    for l in bad[:3]:
        t.diag(l)

    # --- The TLS settings take effect (SIGHUP: new connections use them).
    def reload(changes):
        n = d.read_log().count("configuration reloaded")
        d.config.update(changes)
        d.write_config()
        d.proc.send_signal(signal.SIGHUP)
        return h.wait_for(lambda: d.read_log().count("configuration reloaded") > n,
                          timeout=10)

    def tls12_only():
        cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cli.load_verify_locations(d.ca.cert)
        cli.maximum_version = ssl.TLSVersion.TLSv1_2
        return cli

    t.ok(reload({"tls_min_version": "TLSv1.3"}), "SIGHUP with tls_min_version = TLSv1.3")
    for mode, port in (("implicit", d.tls_port), ("STLS", d.port)):
        mark = len(d.read_log())
        if mode == "implicit":
            rc, out = s_client(["-tls1_2", "-CAfile", d.ca.cert, "-connect",
                                "127.0.0.1:%d" % port])
        else:
            rc, out = s_client(["-tls1_2", "-CAfile", d.ca.cert, "-starttls", "pop3",
                                "-connect", "127.0.0.1:%d" % port])
        t.ok(rc != 0 and b"+OK postern" not in out,
             "tls_min_version = TLSv1.3: a TLS 1.2-only client is refused (%s)" % mode)
        t.ok(log_after(d, mark, "TLS handshake failed (%s): protocol too old: the "
                       "client offers at most TLSv1.2, the minimum is TLSv1.3 "
                       "(tls_min_version)" % mode),
             "logged why: TLS 1.2 offered, TLSv1.3 required (%s)" % mode)
    try:
        tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, tls12_only(),
                             server_hostname="localhost")
        t.ok(False, "Python client limited to TLS 1.2 refused")
        tc.close()
    except ssl.SSLError as e:
        t.ok(True, "Python client limited to TLS 1.2 refused: %s" % e.reason)
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx, server_hostname="localhost")
    t.eq(tc.sock.version(), "TLSv1.3", "a TLS 1.3 client is still served")
    tc.close()

    t.ok(reload({"tls_ciphersuites": "TLS_CHACHA20_POLY1305_SHA256"}),
         "SIGHUP with tls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256")
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, ctx, server_hostname="localhost")
    t.eq(tc.sock.cipher()[0], "TLS_CHACHA20_POLY1305_SHA256",
         "tls_ciphersuites: ChaCha20 negotiated with a default client "
         "(which prefers AES-GCM)")
    t.ok(tc.line().startswith(b"+OK"), "and the session works")
    tc.close()
    # A TLS 1.3 client without ChaCha20 has no suite in common.
    mark = len(d.read_log())
    rc, out = s_client(["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384",
                        "-CAfile", d.ca.cert, "-connect", "127.0.0.1:%d" % d.tls_port])
    t.ok(rc != 0 and b"+OK postern" not in out,
         "tls_ciphersuites: a client with only AES-256-GCM is refused")
    t.ok(log_after(d, mark, "TLS handshake failed (implicit): no shared cipher"),
         "logged: no shared cipher")

    t.ok(reload({"tls_min_version": "TLSv1.2",
                 "tls_ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384"}),
         "SIGHUP with TLS 1.2 allowed and tls_ciphers = ECDHE-ECDSA-AES256-GCM-SHA384")
    tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, tls12_only(),
                         server_hostname="localhost")
    t.eq((tc.sock.version(), tc.sock.cipher()[0]),
         ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"),
         "tls_ciphers: a TLS 1.2 client gets AES-256-GCM (by default AES-128-GCM)")
    tc.close()
    cli = tls12_only()
    cli.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305")
    mark = len(d.read_log())
    try:
        tc = tlsutil.raw_tls("127.0.0.1", d.tls_port, cli, server_hostname="localhost")
        t.ok(False, "tls_ciphers: a TLS 1.2 client without AES-256-GCM is refused")
        tc.close()
    except ssl.SSLError as e:
        t.ok(True, "tls_ciphers: a TLS 1.2 client without AES-256-GCM is refused "
             "(%s)" % e.reason)
    t.ok(log_after(d, mark, "TLS handshake failed (implicit): no shared cipher"),
         "logged: no shared cipher")
finally:
    d.cleanup()
t.done()
