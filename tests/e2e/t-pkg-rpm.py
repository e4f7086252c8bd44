#!/usr/bin/env python3
"""
t-pkg-rpm.py - the RPM: packaging/rpm/postern.spec builds with
rpmbuild -bb from a "make dist"-style tarball, and the package holds the
same files as the Debian package (in Fedora's places), with the systemd
scriptlets and the account creation.

On Debian the spec's BuildRequires (pam-devel, systemd-rpm-macros...)
name RPM packages that do not exist here, so rpmbuild runs with
--nodeps; the spec falls back to its own systemd macros. %check is
skipped (--nocheck): make check has just run. Slow-ish: runs only with
POSTERN_TEST_PACKAGES=1.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pkgtest  # noqa: E402

if os.environ.get("POSTERN_TEST_PACKAGES") != "1":
    harness.skip_all("RPM build test; set POSTERN_TEST_PACKAGES=1 (slow)")
if not pkgtest.have("rpmbuild"):
    harness.skip_all("rpmbuild missing (apt-get install rpm)")

t = harness.TAP()
VERSION = pkgtest.make_var("VERSION")
EXPECTED = {
    "/etc/fail2ban/filter.d/postern.conf", "/etc/fail2ban/jail.d/postern.conf",
    "/etc/pam.d/postern", "/etc/postern", "/etc/postern/postern.conf",
    "/run/postern",
    "/usr/lib/systemd/system/postern-tls.socket",
    "/usr/lib/systemd/system/postern.service",
    "/usr/lib/systemd/system/postern.socket",
    "/usr/lib/sysusers.d/postern.conf", "/usr/lib/tmpfiles.d/postern.conf",
    "/usr/libexec/postern", "/usr/libexec/postern/postern-auth",
    "/usr/libexec/postern/postern-pop3", "/usr/libexec/postern/postern-pop3s",
    "/usr/libexec/postern/postern-store",
    "/usr/sbin/postern",
    "/var/lib/postern", "/var/lib/postern/empty", "/var/lib/postern/index",
}
work = tempfile.mkdtemp(prefix="postern-rpm-")
try:
    top = os.path.join(work, "rpmbuild")
    os.makedirs(os.path.join(top, "SOURCES"))
    name = "postern-" + VERSION
    r = subprocess.run(["make", "-C", pkgtest.BUILD, "distdir",
                        "distdir=" + os.path.join(work, name)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t.ok(r.returncode == 0, "the distributed files are copied (make distdir)")
    subprocess.run(["tar", "-C", work, "-czf",
                    os.path.join(top, "SOURCES", name + ".tar.gz"), name], check=True)
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "POSTERN_TEST_PACKAGES"):
        env.pop(k, None)
    r = subprocess.run(["rpmbuild", "--define", "_topdir " + top, "--nodeps",
                        "--nocheck", "-bb",
                        os.path.join(pkgtest.PKG, "rpm", "postern.spec")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    rpms = []
    for d, _, files in os.walk(os.path.join(top, "RPMS")):
        rpms += [os.path.join(d, f) for f in files if f.endswith(".rpm")]
    if not t.ok(r.returncode == 0 and len(rpms) == 1,
                "rpmbuild --nodeps -bb builds one package"):
        t.diag(r.stdout.decode(errors="replace")[-3000:])
        t.done()
    rpm = rpms[0]
    t.ok(os.path.basename(rpm).startswith("postern-%s-1" % VERSION),
         "named postern-%s-1.*.rpm" % VERSION)

    files = subprocess.run(["rpm", "-qlp", rpm], stdout=subprocess.PIPE,
                           check=True).stdout.decode().split()
    files = [f for f in files if not f.startswith("/usr/lib/.build-id")]
    t.eq(sorted(EXPECTED - set(files)), [], "rpm -qlp: every expected file is there")
    extra = [f for f in set(files) - EXPECTED
             if not re.match(r"^/usr/share/(doc|man)/", f)]
    t.eq(sorted(extra), [], "rpm -qlp: nothing unexpected outside doc and man")
    t.ok(any(re.match(r"^/usr/share/man/man8/postern\.8", f) for f in files) and
         any(re.match(r"^/usr/share/man/man5/postern\.conf\.5", f) for f in files),
         "both manual pages are packaged")
    docs = ["README", "NEWS", "SECURITY.md", "clients.md", "design.md",
            "packaging.md", "security.md", "tls.md"]
    t.eq([d for d in docs if "/usr/share/doc/postern/" + d not in files], [],
         "README, NEWS, SECURITY.md and doc/*.md are in /usr/share/doc/postern")
    docfiles = subprocess.run(["rpm", "-qdp", rpm], stdout=subprocess.PIPE,
                              check=True).stdout.decode().split()
    t.ok("/usr/share/doc/postern/tls.md" in docfiles, "and are marked %doc")

    cfg = subprocess.run(["rpm", "-qcp", rpm], stdout=subprocess.PIPE,
                         check=True).stdout.decode().split()
    t.ok({"/etc/postern/postern.conf", "/etc/pam.d/postern"} <= set(cfg),
         "postern.conf and the PAM file are %config")
    scripts = subprocess.run(["rpm", "-qp", "--scripts", rpm], stdout=subprocess.PIPE,
                             check=True).stdout.decode()
    t.ok(re.search(r"useradd -r .*postern", scripts) and "/nonexistent" in scripts,
         "%pre creates the system account postern")
    # rpm -q --scripts prints each scriptlet under a line "NAME scriptlet
    # (using /bin/sh):".
    parts = dict(re.findall(r"^(\w+) scriptlet[^\n]*:\n(.*?)(?=^\w+ scriptlet|\Z)",
                            scripts, re.M | re.S))
    units = ("postern.service", "postern.socket", "postern-tls.socket")
    for part, what in (("postinstall", "%systemd_post (preset)"),
                       ("preuninstall", "%systemd_preun (stop, disable)")):
        t.eq([u for u in units if u not in parts.get(part, "")], [],
             "%s names every unit" % what)
    # %systemd_postun expands to a bare daemon-reload: read the spec.
    spec = pkgtest.read(os.path.join(pkgtest.PKG, "rpm", "postern.spec"))
    postun = re.search(r"^%postun\n(.*?)(?=^%\w+\s*$|\Z)", spec, re.M | re.S)
    t.eq([u for u in units if not postun or u not in postun.group(1)], [],
         "%postun names every unit (%systemd_postun[_with_restart])")
    restarted = " ".join(re.findall(r"(?:try-restart|mark-restart-system-units) ([^\n>|;]*)",
                                    parts.get("postuninstall", "")))
    t.ok("postern.service" in restarted and "socket" not in restarted,
         "an upgrade restarts the service, not the sockets (%r)" % restarted)
    t.ok("%systemd" not in scripts and "%{" not in scripts,
         "no unexpanded macro is left in the scriptlets")
    prov = subprocess.run(["rpm", "-qp", "--provides", "--conflicts", rpm],
                          stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
    t.ok(prov.count("pop3-server") == 2, "Provides and Conflicts pop3-server")
    # The packaged PAM file is Fedora's variant (same digest as the source).
    digests = subprocess.run(["rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEDIGESTS}\\n]", rpm],
                             stdout=subprocess.PIPE, check=True).stdout.decode()
    pamsum = dict(l.split() for l in digests.splitlines() if len(l.split()) == 2)
    want = hashlib.sha256(open(os.path.join(pkgtest.PKG, "pam", "postern.redhat"),
                               "rb").read()).hexdigest()
    t.eq(pamsum.get("/etc/pam.d/postern"), want,
         "the PAM file is the Fedora one (password-auth stack)")
finally:
    shutil.rmtree(work, ignore_errors=True)
t.done()
