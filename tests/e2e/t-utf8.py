#!/usr/bin/env python3
"""
t-utf8.py - RFC 6856 UTF8 with a real account whose name is UTF-8
(created with useradd --badname under the harness's account lock and
removed at the end): CAPA offers "UTF8 USER" where USER is offered,
UTF8 is accepted in AUTHORIZATION only, the UTF-8 user logs in with
USER/PASS after UTF8 and reads the mailbox that %u names, and also
without UTF8 and with SASL PLAIN (postern accepts UTF-8 names either
way; see pop3_auth.c). Over-long or invalid UTF-8 names fail like any
wrong login.
"""
import base64
import os
import pwd
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
NAME = "pt\u00fctf8\u00df"          # "ptütf8ß": 9 octets in UTF-8
RAW = NAME.encode()
# How the logs show it: every byte outside printable ASCII escaped
# (SECURITY-RULES rule 19).
LOGNAME = "".join(chr(b) if 0x20 < b < 0x7f else "\\x%02x" % b for b in RAW)
MSGS = [h.message(1), h.message(2, extra="Gr\u00fc\u00dfe\n".encode())]
MBOX = h.make_mbox(MSGS)


def create_user():
    with h._accounts_lock():
        try:
            pwd.getpwnam(NAME)
        except KeyError:
            h.run(["useradd", "--badname", "--no-create-home", "--home-dir",
                   "/nonexistent", "--shell", "/usr/sbin/nologin", NAME])
        h.run(["chpasswd"], input=("%s:%s\n" % (NAME, h.TEST_PASSWORD)).encode())


def remove_user():
    with h._accounts_lock():
        subprocess.run(["userdel", NAME], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def capa(p):
    p.must("CAPA")
    return p.multiline()


d = None
try:
    try:
        create_user()
    except subprocess.CalledProcessError as e:
        h.skip_all("cannot create a UTF-8 account: %s" % e.stderr.decode().strip())
    t.eq(pwd.getpwnam(NAME).pw_name, NAME, "the account %r exists" % NAME)
    d = h.Daemon(users=())
    d.write_mbox(NAME, MBOX)
    d.start()

    p = cl.Pop(d)
    caps = capa(p)
    t.ok(b"UTF8 USER" in caps and b"USER" in caps,
         "CAPA offers UTF8 USER together with USER: %r" % caps)
    t.eq(p.cmd("UTF8"), b"+OK UTF8 enabled.", "UTF8 in AUTHORIZATION")
    t.eq(p.cmd(b"USER " + RAW), b"+OK", "USER with the UTF-8 name")
    r = p.cmd("PASS " + h.TEST_PASSWORD)
    t.ok(r.startswith(b"+OK Logged in; 2 messages"), "PASS logs the UTF-8 user in: %r" % r)
    t.eq(p.retr(2)[1], cl.wire(MSGS[1]), "RETR 2 from the mailbox %%u names (%s)"
         % d.mbox_path(NAME))
    t.ok(p.cmd("UTF8").startswith(b"-ERR"), "UTF8 refused in TRANSACTION")
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    t.ok(cl.wait_ended(d, LOGNAME, 1), "session ended")
    t.ok(d.wait_log('login ok: rhost=127.0.0.1 user="%s" mech=USER' % LOGNAME),
         "the login is logged with the name escaped: %s" % LOGNAME)

    # Without UTF8: accepted too (RFC 6856 binds the client, and SASL
    # PLAIN carries UTF-8 names without it).
    p = cl.Pop(d)
    p.cmd(b"USER " + RAW)
    r = p.cmd("PASS " + h.TEST_PASSWORD)
    t.ok(r.startswith(b"+OK Logged in"), "USER/PASS with the UTF-8 name without UTF8: %r" % r)
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    t.ok(cl.wait_ended(d, LOGNAME, 2), "session ended")

    p = cl.Pop(d)
    ir = base64.b64encode(b"\0" + RAW + b"\0" + h.TEST_PASSWORD.encode())
    r = p.cmd(b"AUTH PLAIN " + ir)
    t.ok(r.startswith(b"+OK Logged in"), "AUTH PLAIN with the UTF-8 name: %r" % r)
    t.ok(p.quit().startswith(b"+OK"), "QUIT")
    t.ok(cl.wait_ended(d, LOGNAME, 3), "session ended")

    # The same name in Latin-1 (invalid UTF-8) or in another
    # normalisation is not this account.
    for bad, desc in ((NAME.encode("latin-1"), "Latin-1 bytes (invalid UTF-8)"),
                      ("ptu\u0308tf8\u00df".encode(), "decomposed u + combining diaeresis")):
        p = cl.Pop(d)
        p.cmd("UTF8")
        t.eq(p.cmd(b"USER " + bad), b"+OK", "USER %s: +OK as always" % desc)
        r = p.cmd("PASS " + h.TEST_PASSWORD)
        t.ok(r.startswith(b"-ERR [AUTH] Authentication failed."),
             "%s: an ordinary login failure: %r" % (desc, r))
        p.drop()
    t.eq(d.read_mbox(NAME), MBOX, "the mailbox is unchanged")
finally:
    if d is not None:
        d.cleanup()
    remove_user()
try:
    pwd.getpwnam(NAME)
    gone = False
except KeyError:
    gone = True
t.ok(gone, "the UTF-8 account was removed")
t.done()
