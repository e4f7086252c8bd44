#!/usr/bin/env python3
"""
t-pkg-deb.py - the Debian package, for real: build it with
dpkg-buildpackage from the distributed files, check it with lintian,
install it with dpkg -i on this machine, start the installed daemon the
way postern.service does (no systemd is running: the unit's ExecStartPre
and ExecStart, under its capability bounding set and no_new_privs), fetch
a real user's mail from /var/mail through the installed PAM service with
poplib and with mpop, check that an enabled socket unit survives an
upgrade (against a stand-in systemctl), then dpkg --purge and check that
nothing is left but the mail: /etc, /usr, /lib, /var/lib and the account
databases are compared with a snapshot taken before the install.
lintian, systemd-analyze and mpop missing are failures (CI installs
them).

Slow (a full package build): runs only with POSTERN_TEST_PACKAGES=1.
Refuses to touch a machine where postern is already installed.
"""
import grp
import os
import poplib
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clientlib as cl  # noqa: E402
import harness  # noqa: E402
import pkgtest  # noqa: E402

if os.environ.get("POSTERN_TEST_PACKAGES") != "1":
    harness.skip_all("package build and install test; set POSTERN_TEST_PACKAGES=1 (slow)")
harness.require_root()
for prog in ("dpkg-buildpackage", "dh", "dpkg"):
    if not pkgtest.have(prog):
        harness.skip_all("%s missing (apt-get install build-essential debhelper dpkg-dev)" % prog)
if subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "postern"],
                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                  ).stdout.decode().endswith(" installed"):
    harness.skip_all("postern is already installed here; not replacing it")

t = harness.TAP()
USER = "ptpkgdeb"
VERSION = pkgtest.make_var("VERSION")
work = tempfile.mkdtemp(prefix="postern-deb-")
src = os.path.join(work, "postern-" + VERSION)
OWNED = [
    "/usr/sbin/postern", "/usr/libexec/postern/postern-pop3",
    "/usr/libexec/postern/postern-pop3s",
    "/usr/libexec/postern/postern-auth", "/usr/libexec/postern/postern-store",
    "/etc/postern/postern.conf", "/etc/pam.d/postern",
    "/lib/systemd/system/postern.service", "/lib/systemd/system/postern.socket",
    "/lib/systemd/system/postern-tls.socket", "/usr/lib/tmpfiles.d/postern.conf",
    "/etc/fail2ban/filter.d/postern.conf", "/etc/fail2ban/jail.d/postern.conf",
    "/usr/share/man/man8/postern.8.gz", "/usr/share/man/man5/postern.conf.5.gz",
    "/var/lib/postern/empty", "/var/lib/postern/index",
]
STATE_DIR = "/var/lib/postern"
ASIDE = ".t-pkg-deb-aside"
# Installed by make install (dist_doc_DATA) into /usr/share/doc/postern;
# dh_compress may gzip any of them.
DOCS = ["README", "NEWS", "SECURITY.md", "clients.md", "design.md",
        "packaging.md", "security.md", "tls.md"]


def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


# No systemd runs here: the maintainer scripts' unit handling runs against
# a stand-in systemctl (first in PATH; /run/systemd/system made to exist)
# that logs each call and keeps which units are "active" as files, and
# asks the real systemctl only whether a unit is enabled (with --root=/
# it reads the unit links instead of asking a running systemd).
FAKE_SYSTEMCTL = """#!/bin/sh
state=%s
case "${1:-}" in --version) exec /usr/bin/systemctl --version ;; esac
echo "$*" >>"$state/calls"
args=
for a in "$@"; do case $a in -*) ;; *) args="$args $a" ;; esac; done
set -- $args
cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
is-enabled) exec /usr/bin/systemctl --root=/ is-enabled -- "$@" ;;
is-active) for u; do [ -e "$state/active/$u" ] || exit 3; done ;;
start|restart) for u; do : >"$state/active/$u"; done ;;
stop) for u; do rm -f "$state/active/$u"; done ;;
esac
exit 0
"""
fake_state = os.path.join(work, "systemd")
os.makedirs(os.path.join(fake_state, "active"))
os.makedirs(os.path.join(work, "bin"))
with open(os.path.join(work, "bin", "systemctl"), "w") as f:
    f.write(FAKE_SYSTEMCTL % fake_state)
os.chmod(os.path.join(work, "bin", "systemctl"), 0o755)
dpkg_env = dict(os.environ, PATH=os.path.join(work, "bin") + ":" + os.environ["PATH"])


def unit_active(unit):
    return os.path.exists(os.path.join(fake_state, "active", unit))


def unit_calls():
    try:
        return pkgtest.read(os.path.join(fake_state, "calls")).splitlines()
    except FileNotFoundError:
        return []


# What purge must give back: every path under these trees with its type,
# mode and owner (and size and mtime for files), and the account
# databases' contents, compared before dpkg -i and after dpkg --purge.
SNAPSHOT_TREES = ("/etc", "/usr", "/lib", "/var/lib")
ACCOUNT_DBS = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
# Allowed to differ: dpkg's and apt's own records, deb-systemd-helper's
# state, and the backups shadow's tools keep of the account databases.
BOOKKEEPING = re.compile(r"^(/var/lib/dpkg/|/var/lib/apt/|"
                         r"/var/lib/systemd/deb-systemd-helper-(enabled|masked)(/|$)|"
                         r"/etc/(passwd|group|shadow|gshadow|subuid|subgid)-$)")


def snapshot():
    snap = {}
    for top in SNAPSHOT_TREES:
        if os.path.islink(top):     # merged /usr: /lib is /usr/lib
            continue
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(root, name)
                if path in ACCOUNT_DBS or BOOKKEEPING.match(path):
                    continue
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                # A directory's size and mtime change with its entries.
                if stat.S_ISDIR(st.st_mode):
                    snap[path] = (st.st_mode, st.st_uid, st.st_gid)
                else:
                    snap[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                  st.st_mtime_ns)
    for db in ACCOUNT_DBS:
        with open(db, "rb") as f:
            snap[db] = f.read()
    return snap


def snapshot_diff(before, after):
    return sorted(p for p in set(before) | set(after)
                  if before.get(p) != after.get(p))


def only_set_aside(path):
    """A directory that holds nothing but what this test set aside (a
    source install's files, kept in place under another name)."""
    return (os.path.isdir(path) and not os.path.islink(path) and
            all(n.endswith(ASIDE) for n in os.listdir(path)) and
            len(os.listdir(path)) > 0)


def installed():
    r = sh(["dpkg-query", "-W", "-f", "${Status}", "postern"])
    return r.returncode == 0 and r.stdout.decode().endswith(" installed")


# --- build from exactly the distributed files ---------------------------
r = sh(["make", "-C", pkgtest.BUILD, "distdir", "distdir=" + src])
if not t.ok(r.returncode == 0, "the distributed files are copied (make distdir)"):
    t.diag(r.stdout.decode()[-2000:])
    t.done()
os.symlink("packaging/debian", os.path.join(src, "debian"))
env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
env.pop("MAKEFLAGS", None)
env.pop("MFLAGS", None)
env.pop("POSTERN_TEST_PACKAGES", None)
r = sh(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env)
debs = [f for f in os.listdir(work) if re.match(r"postern_.*\.deb$", f)]
if not t.ok(r.returncode == 0 and len(debs) == 1,
            "dpkg-buildpackage -us -uc -b builds postern_%s_*.deb" % VERSION):
    t.diag(r.stdout.decode()[-3000:])
    t.done()
deb = os.path.join(work, debs[0])
changes = [f for f in os.listdir(work) if f.endswith(".changes")][0]

if pkgtest.need(t, "lintian", "lintian", strict=True):
    r = sh(["lintian", "--pedantic", "--suppress-tags", "running-with-root-privileges",
            os.path.join(work, changes)])
    tags = [l for l in r.stdout.decode().splitlines() if re.match(r"^[EWIPX]: ", l)]
    t.eq([l for l in tags if l.startswith("E: ")], [], "lintian: no errors")
    for l in tags:
        t.diag("lintian " + l)

info = sh(["dpkg-deb", "-f", deb, "Provides", "Conflicts", "Replaces"]).stdout.decode()
t.ok(re.search(r"^Provides: .*\bpop3-server\b", info, re.M) and
     re.search(r"^Conflicts: .*\bpop3-server\b", info, re.M) and
     re.search(r"^Replaces: .*\bpop3-server\b", info, re.M),
     "Provides, Conflicts and Replaces pop3-server, like the other POP3 servers")
listing = sh(["dpkg-deb", "-c", deb]).stdout.decode()
missing = [p for p in OWNED if " ." + p not in listing and " ." + p + "/" not in listing]
t.eq(missing, [], "the package contains the daemon, config, PAM, units, man pages, fail2ban files")
missing = [d for d in DOCS
           if not re.search(r" \./usr/share/doc/postern/%s(\.gz)?$" % re.escape(d),
                            listing, re.M)]
t.eq(missing, [], "the package contains README, NEWS, SECURITY.md and doc/*.md")

# --- install, serve, purge ------------------------------------------------
harness.ensure_user(USER)
mail_before = harness.make_mbox([harness.message(i) for i in (1, 2, 3)])
mailbox = "/var/mail/" + USER
with open(mailbox, "wb") as f:
    f.write(mail_before)
os.chown(mailbox, pwd.getpwnam(USER).pw_uid, harness.mail_gid())
os.chmod(mailbox, 0o660)
mail_stat = os.stat(mailbox)

# While the package owns the "postern" account, no other test may start
# using it: hold the harness's account lock until it is purged.
lock = harness._accounts_lock()
proc = None
made_run_systemd = []
set_aside = []
try:
    # Files the package will own that a source install or contrib/demo.sh
    # left here (the README's first command writes /etc/pam.d/postern):
    # moved out of the way for the test and put back at the end, so that
    # dpkg meets the fresh machine it expects (no conffile question).
    # Each is renamed next to itself (same file system: owner, mode,
    # labels kept); one left by an interrupted run is put back first.
    for path in OWNED + [STATE_DIR]:
        if os.path.lexists(path + ASIDE) and not os.path.lexists(path):
            os.rename(path + ASIDE, path)
    for path in OWNED:
        if os.path.isfile(path) and not os.path.islink(path):
            os.rename(path, path + ASIDE)
            set_aside.append((path + ASIDE, path))
            t.diag("set aside until the end: %s (not from a package)" % path)
    # The state directory too (demo.sh's sessions leave indexes there):
    # purge removes it whole. Renamed next to itself, on the same file
    # system, which keeps owners and modes.
    if os.path.isdir(STATE_DIR) and not os.path.islink(STATE_DIR):
        os.rename(STATE_DIR, STATE_DIR + ASIDE)
        t.diag("set aside until the end: %s (not from a package)" % STATE_DIR)
    for d in ("/run/systemd", "/run/systemd/system"):
        if not os.path.isdir(d):
            os.mkdir(d)
            made_run_systemd.insert(0, d)
    try:
        pwd.getpwnam("postern")
        user_existed = True
    except KeyError:
        user_existed = False
    # Conflicts: pop3-server is right for a machine that serves mail, but
    # this test machine may have another POP3 server installed for
    # comparison; it is not removed, the conflict is overridden.
    others = sh(["dpkg-query", "-W", "-f", "${Package} ${Status} ${Provides}\\n"]).stdout.decode()
    others = [l.split()[0] for l in others.splitlines()
              if " installed" in l and "pop3-server" in l and not l.startswith("postern ")]
    force = []
    if others:
        t.diag("other POP3 servers installed (%s): installing with --force-conflicts"
               % ", ".join(others))
        force = ["--force-conflicts"]
    system_before = snapshot()
    r = sh(["dpkg", "-i"] + force + [deb], env=dpkg_env)
    if not t.ok(r.returncode == 0 and installed(), "dpkg -i installs the package"):
        t.diag(r.stdout.decode()[-3000:])
        raise SystemExit

    pw = pwd.getpwnam("postern")
    t.ok(pw.pw_uid != 0 and pw.pw_uid < 1000, "the system user postern exists")
    if not user_existed:
        t.ok(pw.pw_shell.endswith("nologin") and pw.pw_dir == "/nonexistent" and
             not os.path.exists(pw.pw_dir), "postern: no shell, no home")
    else:
        t.diag("the postern account existed before: its creation is not tested here")
    st = os.lstat("/var/lib/postern/empty")
    t.ok(stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_gid == 0 and
         stat.S_IMODE(st.st_mode) == 0o755 and not os.listdir("/var/lib/postern/empty"),
         "/var/lib/postern/empty: root:root 0755, empty")
    st = os.lstat("/var/lib/postern/index")
    t.ok(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755,
         "/var/lib/postern/index: root 0755")
    pam = pkgtest.read("/etc/pam.d/postern")
    t.ok("@include common-auth" in pam and "@include common-account" in pam,
         "/etc/pam.d/postern includes common-auth and common-account")
    conffiles = sh(["dpkg-query", "-W", "-f", "${Conffiles}", "postern"]).stdout.decode()
    t.ok("/etc/postern/postern.conf " in conffiles and "/etc/pam.d/postern " in conffiles,
         "postern.conf and the PAM file are conffiles")
    # "listen_tls = " (empty) is how postern -n says "no TLS listener".
    t.eq(sorted((k, v) for k, v in pkgtest.effective_config(
                    "/usr/sbin/postern", "/etc/postern/postern.conf")
                if not (k == "listen_tls" and v == "")),
         sorted((k, v) for k, v in pkgtest.conffile_defaults("/etc/postern/postern.conf")
                if not (k == "listen_tls" and v == "")),
         "installed: postern -n equals the conffile's commented defaults")
    if pkgtest.need(t, "systemd-analyze", "systemd", strict=True):
        r = sh(["systemd-analyze", "verify", "/lib/systemd/system/postern.service",
                "/lib/systemd/system/postern.socket",
                "/lib/systemd/system/postern-tls.socket"])
        t.eq((r.returncode, r.stdout.decode()), (0, ""),
             "systemd-analyze verify passes on the installed units (man pages found)")
    r = sh(["man", "-w", "postern.conf"])
    t.ok(r.returncode == 0, "man finds postern.conf(5)")

    # The sockets: not started by a fresh install (not enabled); one the
    # administrator enabled and started is neither stopped nor restarted
    # by an upgrade (a reinstall of the same .deb runs the same scripts).
    t.ok(not unit_active("postern.socket") and not unit_active("postern-tls.socket"),
         "a fresh install starts neither socket unit")
    r = sh(["/usr/bin/systemctl", "--root=/", "enable", "postern.socket"])
    sh(["systemctl", "start", "postern.socket"], env=dpkg_env)
    t.ok(r.returncode == 0 and unit_active("postern.socket"),
         "postern.socket enabled and started (as systemctl enable --now does)")
    before = len(unit_calls())
    r = sh(["dpkg", "-i"] + force + [deb], env=dpkg_env)
    upgrade_calls = unit_calls()[before:]
    touched = [c for c in upgrade_calls
               if re.match(r"(.* )?(stop|restart|try-restart|kill) ", c) and "socket" in c]
    t.ok(r.returncode == 0 and installed() and unit_active("postern.socket") and
         touched == [],
         "an enabled postern.socket is still listening after an upgrade, "
         "neither stopped nor restarted")
    if touched:
        t.diag("systemctl calls during the upgrade: %r" % upgrade_calls)
    t.ok(not unit_active("postern-tls.socket"),
         "the disabled postern-tls.socket is not started by the upgrade")

    # The installed daemon, started as its unit starts it, on a test port.
    unit = "/lib/systemd/system/postern.service"
    port = harness.free_port()
    conf = os.path.join(work, "test.conf")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:%d\n" % port)
    pre = pkgtest.unit_value("ExecStartPre", unit).split() + ["-c", conf]
    r = sh(pre)
    t.eq(r.returncode, 0, "the unit's ExecStartPre (postern -t) passes")
    log = open(os.path.join(work, "postern.log"), "wb")
    argv = pkgtest.setpriv_prefix(unit) + pkgtest.unit_exec_start(unit) + ["-c", conf]
    proc = subprocess.Popen(argv, stdout=log, stderr=log,
                            preexec_fn=lambda: os.umask(pkgtest.unit_umask(unit)))
    deadline = time.time() + 15
    up = False
    while time.time() < deadline and proc.poll() is None and not up:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            up = True
        except OSError:
            time.sleep(0.05)
    t.ok(up, "the installed daemon starts")
    got = None
    try:
        c = poplib.POP3("127.0.0.1", port, timeout=15)
        c.user(USER)
        c.pass_(harness.TEST_PASSWORD)
        got = [c.retr(i)[1] for i in range(1, len(c.list()[1]) + 1)]
        c.quit()
    except (poplib.error_proto, OSError) as e:
        t.diag("POP3: %r" % e)
    t.eq(got, [harness.expected_retr(harness.message(i)) for i in (1, 2, 3)],
         "a real user's mail is fetched through /etc/pam.d/postern")
    # A real client too: mpop, as the user, keeping the mail on the
    # server, into a Maildir.
    if pkgtest.need(t, "mpop", "mpop", strict=True):
        client_dir = tempfile.mkdtemp(prefix="postern-deb-mpop-")
        maildir = os.path.join(client_dir, "Maildir")
        for sub in ("", "/cur", "/new", "/tmp"):
            os.mkdir(maildir + sub)
        cl.chown_tree(client_dir, USER)
        r = cl.run_client(cl.as_user(USER, [
            "mpop", "--host=127.0.0.1", "--port=%d" % port, "--auth=user",
            "--user=" + USER, "--passwordeval=echo '%s'" % harness.TEST_PASSWORD,
            "--tls=off", "--received-header=off", "--keep=on",
            "--uidls-file=" + os.path.join(client_dir, "uidls"),
            "--delivery=maildir," + maildir, "--timeout=20"], client_dir))
        fetched = cl.maildir_messages(maildir)
        shutil.rmtree(client_dir, ignore_errors=True)
        if not t.eq(fetched, sorted(harness.message(i) for i in (1, 2, 3)),
                    "mpop fetches the same mail byte for byte"):
            cl.show(t, r)
    t.ok(os.path.isdir("/var/lib/postern/index/" + USER),
         "the per-user index directory was created")
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(40)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    proc = None
    t.eq(rc, 0, "the installed daemon stops cleanly on SIGTERM")
    log.close()
    if not up or got is None:
        t.diag(pkgtest.read(os.path.join(work, "postern.log"))[-3000:])

    r = sh(["dpkg", "--purge", "postern"], env=dpkg_env)
    t.ok(r.returncode == 0 and not installed(), "dpkg --purge removes the package")
    t.ok(not unit_active("postern.socket"), "removal stops postern.socket")
    left = [p for p in OWNED + ["/etc/postern", "/var/lib/postern", "/run/postern",
                                "/usr/libexec/postern", "/usr/share/doc/postern",
                                "/etc/systemd/system/multi-user.target.wants/postern.service",
                                "/etc/systemd/system/sockets.target.wants/postern.socket"]
            if os.path.lexists(p) and not only_set_aside(p)]
    t.eq(left, [], "nothing of the package is left after purge")
    diff = snapshot_diff(system_before, snapshot())
    t.eq(diff, [], "after purge, %s and the account databases are as before "
         "the install (dpkg's and apt's records aside)" % ", ".join(SNAPSHOT_TREES))
    try:
        pwd.getpwnam("postern")
        still = True
    except KeyError:
        still = False
    if user_existed:
        t.ok(still, "an account that existed before is left alone by purge")
    else:
        t.ok(not still, "the account the package created is removed by purge")
        try:
            grp.getgrnam("postern")
            t.ok(False, "its group is removed too")
        except KeyError:
            t.ok(True, "its group is removed too")
    after = os.stat(mailbox)
    t.ok(open(mailbox, "rb").read() == mail_before and
         (after.st_uid, after.st_gid, after.st_mode) ==
         (mail_stat.st_uid, mail_stat.st_gid, mail_stat.st_mode),
         "the mail in /var/mail is untouched")
finally:
    if proc is not None:
        proc.kill()
        proc.wait()
    if installed():
        sh(["dpkg", "--purge", "postern"], env=dpkg_env)
    for d in made_run_systemd:
        os.rmdir(d)
    for keep, path in set_aside:
        os.rename(keep, path)
    if os.path.isdir(STATE_DIR + ASIDE):
        if os.path.lexists(STATE_DIR):
            # Purge should have removed it: say so, keep both.
            print("# %s%s left in place: %s exists after purge"
                  % (STATE_DIR, ASIDE, STATE_DIR))
        else:
            os.rename(STATE_DIR + ASIDE, STATE_DIR)
    lock.close()
    try:
        os.unlink(mailbox)
    except OSError:
        pass
    shutil.rmtree(work, ignore_errors=True)
t.done()
