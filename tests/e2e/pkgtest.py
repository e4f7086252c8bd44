"""
pkgtest.py - helpers for the packaging tests: where the packaging files
are, the build's configured directories, and starting a daemon the way
packaging/systemd/postern.service does when no systemd is running.

The unit is read, not copied: its ExecStart, CapabilityBoundingSet,
NoNewPrivileges and UMask become a setpriv(1) command line, so a
capability the master needs and the unit lacks fails the tests.
"""
import os
import re
import subprocess
import tempfile

import harness

SRC = harness.TOP_SRCDIR
BUILD = harness.TOP_BUILDDIR
PKG = os.path.join(SRC, "packaging")
UNIT = os.path.join(PKG, "systemd", "postern.service")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unit_directives(path=UNIT):
    """[(section, key, value)] in file order, comments dropped."""
    out, section = [], None
    for line in read(path).splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        k, _, v = line.partition("=")
        out.append((section, k.strip(), v.strip()))
    return out


def unit_value(key, path=UNIT, section="Service"):
    vals = [v for s, k, v in unit_directives(path) if s == section and k == key]
    return vals[-1] if vals else None


def unit_exec_start(path=UNIT):
    """ExecStart as argv, without systemd's prefix characters."""
    v = unit_value("ExecStart", path)
    return v.lstrip("-@:+!").split()


def setpriv_prefix(path=UNIT):
    """setpriv arguments that apply the unit's privilege directives."""
    args = ["setpriv"]
    caps = unit_value("CapabilityBoundingSet", path)
    if caps:
        names = [c.lower().replace("cap_", "") for c in caps.split()]
        args += ["--bounding-set", ",".join(["-all"] + ["+" + n for n in names])]
    if (unit_value("NoNewPrivileges", path) or "no").lower() in ("yes", "true", "1"):
        args.append("--no-new-privs")
    return args + ["--"]


def unit_umask(path=UNIT):
    v = unit_value("UMask", path)
    return int(v, 8) if v else 0o022


def make_var(name):
    """A directory variable of the configured build, fully expanded."""
    vals = {}
    text = read(os.path.join(BUILD, "Makefile"))
    for m in re.finditer(r"^(\w+) = (.*)$", text, re.M):
        vals.setdefault(m.group(1), m.group(2).strip())

    def expand(v, depth=0):
        if depth > 10:
            return v
        return re.sub(r"\$[{(](\w+)[})]",
                      lambda m: expand(vals.get(m.group(1), ""), depth + 1), v)
    return expand(vals.get(name, ""))


def effective_config(binary=None, conf=None):
    """`postern -n` as an ordered list of (key, value)."""
    binary = binary or os.path.join(BUILD, "postern")
    if conf is None:
        conf = os.path.join(tempfile.mkdtemp(prefix="postern-pkg-"),
                            "empty.conf")
        open(conf, "w").close()
    out = subprocess.run([binary, "-n", "-c", conf], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    pairs = []
    for line in out.splitlines():
        k, _, v = line.partition(" = ")
        pairs.append((k.strip(), v.rstrip() if v else ""))
    return pairs


def conffile_defaults(path=os.path.join(PKG, "postern.conf")):
    """The commented "# key = value" lines of the shipped conffile."""
    pairs = []
    for line in read(path).splitlines():
        m = re.match(r"^# ([a-z_]+) =(?: (.*))?$", line)
        if m:
            pairs.append((m.group(1), (m.group(2) or "").rstrip()))
    return pairs


def have(prog):
    from shutil import which
    return which(prog) is not None


def need(t, prog, package, strict=False):
    """Whether prog is installed. If it is not, a failed test where the
    tools are required (strict, or POSTERN_REQUIRE_TOOLS=1 as
    tests/run-all.sh sets after installing them all), a note elsewhere."""
    if have(prog):
        return True
    why = "%s missing (apt-get install %s)" % (prog, package)
    if strict or os.environ.get("POSTERN_REQUIRE_TOOLS") == "1":
        t.ok(False, why)
    else:
        t.diag(why + ": not checked")
    return False
