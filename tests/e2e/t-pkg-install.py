#!/usr/bin/env python3
"""
t-pkg-install.py - make install and make uninstall (with DESTDIR), the
way README's "Building and installing" uses them: the programs, the
manual pages and the documentation land in the configured directories,
and a commented sample configuration is installed as
$(sysconfdir)/postern/postern.conf unless one is already there (postern
does not start without one). Its commented defaults are this build's
(postern -n agrees); an administrator's file is never overwritten, and
make uninstall removes the file only while it is unchanged.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pkgtest  # noqa: E402

t = harness.TAP()
dest = tempfile.mkdtemp(prefix="postern-install-")
env = dict(os.environ)
for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
    env.pop(k, None)


def make(target):
    return subprocess.run(["make", "-C", pkgtest.BUILD, target, "DESTDIR=" + dest],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


def under(var, *rest):
    return dest + os.path.join(pkgtest.make_var(var), *rest)


conf = under("sysconfdir", "postern", "postern.conf")
try:
    r = make("install")
    if not t.ok(r.returncode == 0, "make install DESTDIR=... succeeds"):
        t.diag(r.stdout.decode(errors="replace")[-2000:])
        t.done()
    progs = [under("sbindir", "postern")] + [
        under("pkglibexecdir", p)
        for p in ("postern-pop3", "postern-pop3s", "postern-auth", "postern-store")]
    t.eq([p for p in progs if not os.access(p, os.X_OK)], [],
         "the master in sbindir, the four helpers in libexecdir/postern")
    pages = [under("mandir", "man8", "postern.8"), under("mandir", "man5", "postern.conf.5")]
    t.eq([p for p in pages if not os.path.isfile(p)], [], "both manual pages")
    docs = [under("docdir", d) for d in ("README", "NEWS", "SECURITY.md", "clients.md",
                                         "design.md", "packaging.md", "security.md",
                                         "tls.md")]
    t.eq([d for d in docs if not os.path.isfile(d)], [],
         "README, NEWS, SECURITY.md and doc/*.md in docdir")

    t.ok(os.path.isfile(conf), "the sample configuration is installed as "
         "$(sysconfdir)/postern/postern.conf")
    sample = pkgtest.read(conf)
    t.ok(sample.startswith("# %s/postern/postern.conf " % pkgtest.make_var("sysconfdir")),
         "its first line names where it is")
    t.eq(sorted(pkgtest.effective_config(conf=conf)),
         sorted(pkgtest.conffile_defaults(conf)),
         "its commented defaults are this build's (postern -n agrees)")

    # An administrator's configuration survives install and uninstall.
    with open(conf, "a") as f:
        f.write("listen = 127.0.0.1:1110\n")
    edited = pkgtest.read(conf)
    r = make("install")
    t.ok(r.returncode == 0 and pkgtest.read(conf) == edited,
         "make install again: an existing postern.conf is not replaced")
    r = make("uninstall")
    t.ok(r.returncode == 0 and os.path.isfile(conf) and pkgtest.read(conf) == edited,
         "make uninstall leaves a changed postern.conf in place")
    t.eq([p for p in progs + pages + docs if os.path.lexists(p)], [],
         "make uninstall removes the programs, pages and documentation")

    os.unlink(conf)
    r = make("install")
    t.ok(r.returncode == 0 and pkgtest.read(conf) == sample,
         "make install puts the sample back when postern.conf is missing")
    r = make("uninstall")
    t.ok(r.returncode == 0 and not os.path.lexists(conf) and
         not os.path.lexists(os.path.dirname(conf)),
         "make uninstall removes an unchanged postern.conf and its directory")
finally:
    shutil.rmtree(dest, ignore_errors=True)
t.done()
