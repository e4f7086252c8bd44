#!/usr/bin/env python3
"""
t-delivery.py - mail delivered by a real MDA while POP3 sessions are
open. The mailbox is /var/mail/<user>, as on a real Debian system,
because procmail only takes its dot-lock (with its setgid mail) in the
system spool; delivery is `procmail -d user` run as root, the way
sendmail-style MTAs call it (dot-lock by link(), then fcntl).

1. While a session is open (after STAT), procmail appends three
   messages: it must not be blocked by the session. The session deletes
   two old messages and quits: the mbox must then be the survivors plus
   the new mail, byte for byte, in order.
2. Bounded stress (about 10 s): deliveries in a loop by two MDAs, concurrently with
   sessions that delete every third message they see and quit; at the
   end every delivered message that no committed QUIT deleted is there
   exactly once and intact, and no deleted one is.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptclidl"
MBOX_PATH = "/var/mail/" + U
MSGS = [h.message(i, extra=b".dot %d\n" % i) for i in range(1, 7)]
MBOX = cl.mbox_of(MSGS)
SEGS = cl.mbox_segments(MBOX)
NEW = [h.message(i, extra=b"delivered during the session\n") for i in (101, 102, 103)]


def write_spool(data):
    with open(MBOX_PATH, "wb") as f:
        f.write(data)
    os.chown(MBOX_PATH, h.pwd.getpwnam(U).pw_uid, h.mail_gid())
    os.chmod(MBOX_PATH, 0o660)


def read_spool():
    try:
        with open(MBOX_PATH, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def procmail(msg):
    return cl.run_client(["procmail", "-d", U], timeout=30, input=msg)


def msgid(msg):
    for line in msg.split(b"\n"):
        if line.lower().startswith(b"message-id: <"):
            return int(line.split(b"<")[1].split(b".")[0])
    return None


d = h.Daemon(users=(U,), config={"mailbox": "/var/mail/%u", "lock_timeout": "2",
                                 "auth_fail_delay": "0"})
write_spool(MBOX)
d.start()
sessions = 0
try:
    # --- 1. procmail delivers while a session is open ----------------------
    p = cl.login(d, U)
    t.eq(p.stat()[0], 6, "session open: 6 messages")
    uidls = p.uidl()
    for m in NEW:
        r = procmail(m)
        if not t.eq(r.returncode, 0, "procmail delivers while the session is open (not blocked)"):
            cl.show(t, r)
    now = read_spool()
    t.ok(now.startswith(MBOX), "the delivery appended to the mbox")
    appended = now[len(MBOX):]
    aseg = cl.mbox_segments(appended)
    t.eq([cl.segment_message(s) for s in aseg], NEW,
         "procmail appended the 3 new messages intact")
    t.eq(p.stat()[0], 6, "the open session keeps its view (6 messages)")
    t.ok(p.cmd("DELE 2").startswith(b"+OK") and p.cmd("DELE 5").startswith(b"+OK"),
         "DELE 2, DELE 5")
    r = p.quit()
    t.ok(r.startswith(b"+OK"), "QUIT commits: %r" % r)
    sessions += 1
    t.ok(cl.wait_ended(d, U, sessions), "session ended")
    want = b"".join(s for i, s in enumerate(SEGS) if i not in (1, 4)) + appended
    t.eq(read_spool(), want, "mbox = survivors + the new mail, byte-exact, in order")

    p = cl.login(d, U)
    survivors = [m for i, m in enumerate(MSGS) if i not in (1, 4)] + NEW
    t.eq(p.stat()[0], len(survivors), "next session: survivors plus new mail")
    t.eq([p.retr(i)[1] for i in range(1, len(survivors) + 1)],
         [cl.wire(m) for m in survivors], "every message byte-exact through RETR")
    u2 = p.uidl()
    t.eq([u2[i] for i in (1, 2, 3, 4)], [uidls[i] for i in (1, 3, 4, 6)],
         "old survivors keep their UIDLs")
    t.eq(len(set(u2.values())), len(u2), "new mail got new, distinct UIDLs")
    p.quit()
    sessions += 1
    cl.wait_ended(d, U, sessions)

    # --- 2. bounded stress: deliveries racing DELE+QUIT sessions ----------
    write_spool(b"")
    delivered, deleted, problems = [], set(), []
    stop = threading.Event()
    stats = {"sessions": 0, "busy": 0, "commit_failed": 0}

    def deliverer(n):
        last = n + 200
        while not stop.is_set() and n < last:
            m = h.message(n, extra=b"stress %d\n.dot\n" % n)
            r = procmail(m)
            if r.returncode != 0:
                problems.append("procmail %d exit %s: %r" % (n, r.returncode, r.stderr[-200:]))
            else:
                delivered.append((n, m))
            n += 1
            time.sleep(0.01)

    def expunger():
        while not stop.is_set():
            try:
                p = cl.Pop(d, U, timeout=30)
            except OSError as e:
                problems.append("connect: %s" % e)
                return
            stats["sessions"] += 1
            if not p.logged_in:
                # A clean refusal: [SYS/TEMP] when the MDA held the lock
                # past lock_timeout, [IN-USE] when this loop's previous
                # session had not quite ended yet.
                if b"[IN-USE]" in p.login_reply or b"[SYS/TEMP]" in p.login_reply:
                    stats["busy"] += 1
                else:
                    problems.append("login: %r" % p.login_reply)
                p.drop()
                time.sleep(0.05)
                continue
            try:
                n = p.stat()[0]
                marked = []
                for i in range(1, n + 1):
                    r, lines = p.top(i, 0)
                    if lines is None:
                        problems.append("TOP %d: %r" % (i, r))
                        continue
                    k = msgid(b"\n".join(lines))
                    if k is not None and k % 3 == 0 and k not in deleted:
                        if p.cmd("DELE %d" % i).startswith(b"+OK"):
                            marked.append(k)
                r = p.quit()
                if r.startswith(b"+OK"):
                    deleted.update(marked)
                elif r.startswith(b"-ERR [SYS/TEMP]"):  # MDA's lock
                    stats["commit_failed"] += 1
                else:
                    problems.append("QUIT: %r" % r)
            except (EOFError, OSError, cl.PopError) as e:
                problems.append("session: %s" % e)
                return

    # Two MDAs and one POP3 client at a time (the daemon allows one
    # session per user).
    threads = [threading.Thread(target=deliverer, args=(1000,)),
               threading.Thread(target=deliverer, args=(2000,)),
               threading.Thread(target=expunger)]
    for th in threads:
        th.start()
    # At least 10 s and enough work to judge, however slow the build
    # (sanitizers) or busy the machine; never more than 120 s.
    began = time.monotonic()
    while time.monotonic() - began < 120:
        if (time.monotonic() - began >= 10 and len(delivered) >= 20
                and stats["sessions"] >= 3):
            break
        time.sleep(0.5)
    stop.set()
    for th in threads:
        th.join(60)
    t.ok(not any(th.is_alive() for th in threads), "stress threads finished")
    t.diag("stress: %d delivered, %d deleted, %d sessions, %d refused busy, "
           "%d commits refused" % (len(delivered), len(deleted), stats["sessions"],
                                   stats["busy"], stats["commit_failed"]))
    t.eq(problems, [], "no unexpected answer, error or failed delivery during the stress")
    t.ok(len(delivered) >= 10 and stats["sessions"] >= 3, "the stress did real work")
    t.ok(cl.wait_ended(d, U, sessions + stats["sessions"]), "every stress session ended")
    final = read_spool()
    segs = cl.mbox_segments(final)
    got = [cl.segment_message(s) for s in segs]
    ids = [msgid(m) for m in got]
    t.eq(len(ids), len(set(ids)), "no message duplicated")
    want_ids = sorted(n for n, m in delivered if n not in deleted)
    t.eq(sorted(ids), want_ids, "exactly the delivered messages minus the deleted ones")
    by_id = dict(delivered)
    t.ok(all(by_id.get(k) == m for k, m in zip(ids, got)), "every surviving message intact")
    for base in (1000, 2000):
        mine = [k for k in ids if base <= k < base + 1000]
        t.eq(mine, sorted(mine), "one MDA's messages stay in delivery order (%d...)" % base)
finally:
    d.cleanup()
    for f in (MBOX_PATH, MBOX_PATH + ".lock"):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass
t.done()
