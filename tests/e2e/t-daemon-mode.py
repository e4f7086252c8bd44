#!/usr/bin/env python3
"""
t-daemon-mode.py - postern started the way an init script does, without
-F: the command returns 0 once the daemon has detached; the pid file names
the daemon, which runs in a session of its own with no controlling
terminal, its standard descriptors on /dev/null, and serves POP3; its log
lines (its own and the relayed ones of the other roles) reach syslog with
facility mail; a second daemon on the same address makes the starting
command exit 1 with the reason; SIGTERM to the pid in the pid file stops
it and removes the file.

syslog(3) writes to /dev/log. To read what the daemon sends there without
touching the machine's /dev, the daemon runs in a private mount
namespace whose /dev is an overlay of the real one with one addition: a
/dev/log symlink to a datagram socket this test has bound.
"""
import os
import re
import signal
import socket
import subprocess
import time

import harness
import sechelp as S

harness.require_root()
t = harness.TAP()
USER = "ptdaemon"
MSGS = [harness.message(1), harness.message(2)]
LOG_MAIL = 2
SYSLOG_LINE = re.compile(rb"^<(\d+)>(.*)$", re.S)


class SyslogSink:
    """A datagram socket standing in for /dev/log; keeps every record."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.records = []      # [(facility, severity, text)]

    def drain(self, timeout=0.0):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                m = SYSLOG_LINE.match(data)
                if m is None:
                    self.records.append((None, None, data.decode("utf-8",
                                                                 "replace")))
                    continue
                pri = int(m.group(1))
                self.records.append((pri >> 3, pri & 7, m.group(2).decode(
                    "utf-8", "replace")))
                self.sock.settimeout(0.0)
        except (socket.timeout, BlockingIOError):
            pass

    def wait(self, needle, timeout=10):
        """The first record containing needle, or None."""
        deadline = time.monotonic() + timeout
        while True:
            for r in self.records:
                if needle in r[2]:
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.drain(min(left, 0.2))

    def close(self):
        self.sock.close()


def proc_stat(pid):
    """(state, ppid, pgrp, session, tty_nr) of /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3]), int(rest[4])


d = harness.Daemon(users=(USER,))
sink = None
pid = None
try:
    d.write_mbox(USER, harness.make_mbox(MSGS))
    pidfile = d.config["pid_file"]
    sockpath = os.path.join(d.dir, "devlog")
    sink = SyslogSink(sockpath)
    upper, work = os.path.join(d.dir, "dev-upper"), os.path.join(d.dir, "dev-work")
    os.mkdir(upper)
    os.mkdir(work)
    script = ('mount -t overlay overlay -o lowerdir=/dev,upperdir="$1",'
              'workdir="$2" /dev && ln -s "$3" /dev/log && shift 3 && '
              'exec "$@"')
    start = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         script, "sh", upper, work, sockpath,
         os.path.join(harness.TOP_BUILDDIR, "postern"), "-c", d.conf],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=30)
    t.eq(start.returncode, 0, "postern without -F: the command exits 0")
    t.eq(start.stdout + start.stderr, b"", "and prints nothing")

    t.ok(harness.wait_for(lambda: os.path.exists(pidfile) and
                          open(pidfile).read().strip().isdigit()),
         "the pid file appears")
    pid = int(open(pidfile).read())
    t.eq(os.path.basename(os.readlink("/proc/%d/exe" % pid)), "postern",
         "the pid file names a postern process (%d)" % pid)
    _, _, pgrp, sid, tty = proc_stat(pid)
    t.ok(sid != os.getsid(0), "it runs in a session of its own (setsid)")
    t.ok(sid != pid and pgrp != pid,
         "it is not a session or group leader (forked again after "
         "setsid), so it can never acquire a controlling terminal")
    t.eq(tty, 0, "it has no controlling terminal")
    f = S.fds(pid)
    t.ok(all(f.get(i) == "/dev/null" for i in (0, 1, 2)),
         "its fds 0-2 are /dev/null (%r)" % [f.get(i) for i in (0, 1, 2)])
    t.eq(os.readlink("/proc/%d/cwd" % pid), "/", "its working directory is /")

    c, r = S.login(d, USER)
    t.ok(r.startswith(b"+OK"), "the detached daemon serves a login")
    t.eq(c.cmd("STAT").split()[:2], [b"+OK", b"2"], "and the mailbox")
    c.cmd("QUIT")
    c.close()

    rec = sink.wait(" started")
    t.ok(rec is not None and rec[0] == LOG_MAIL and rec[1] == 5,
         "syslog: the start-up line, facility mail, severity notice (%r)"
         % (rec,))
    t.ok(rec is not None and re.search(r"\bpostern\[%d\]: " % pid, rec[2]),
         "syslog: tagged postern[pid of the daemon]")
    t.ok(rec is not None and "]: postern[" not in rec[2],
         "syslog: the master's own line is tagged once (%r)" % (rec,))
    rec = sink.wait('login ok: rhost=127.0.0.1 user="%s"' % USER)
    t.ok(rec is not None and rec[0] == LOG_MAIL,
         "syslog: the auth helper's login line, relayed, facility mail")
    t.ok(rec is not None and "postern-auth[" in rec[2],
         "syslog: the relayed line names its role (%r)" % (rec,))

    # A second master on the same address: the command that starts it
    # must fail and say why, not exit 0 and then die where only syslog
    # sees it.
    d2 = harness.Daemon(users=())
    try:
        d2.config["listen"] = d.config["listen"]
        d2.write_config()
        again = subprocess.run(
            [os.path.join(harness.TOP_BUILDDIR, "postern"), "-c", d2.conf],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=30)
        t.eq(again.returncode, 1,
             "the address in use: the starting command exits 1")
        t.ok(b"Address already in use" in again.stderr,
             "and says why on stderr (%r)" % again.stderr[-200:])
        t.ok(not os.path.exists(d2.config["pid_file"]),
             "and writes no pid file")
    finally:
        d2.cleanup()
    t.ok(open(pidfile).read().strip() == str(pid),
         "the first daemon's pid file is untouched")

    os.kill(pid, signal.SIGTERM)
    t.ok(S.wait_gone(pid, 20), "SIGTERM to the pid in the pid file stops it")
    t.ok(harness.wait_for(lambda: not os.path.exists(pidfile), 5),
         "the pid file is removed")
    rec = sink.wait("postern stopped")
    t.ok(rec is not None and rec[0] == LOG_MAIL,
         "syslog: the stop line, facility mail")
    sink.drain(0.2)
    other = [r for r in sink.records if r[0] != LOG_MAIL]
    t.eq(other, [], "every syslog record has facility mail (%d records)"
         % len(sink.records))
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    if sink is not None:
        t.diag("\n".join(repr(r) for r in sink.records[-30:]))
finally:
    if pid is not None and os.path.exists("/proc/%d" % pid) and \
            not S.wait_gone(pid, 0):
        os.kill(pid, signal.SIGKILL)
        S.wait_gone(pid)
    if sink is not None:
        sink.close()
    d.cleanup()
t.done()
