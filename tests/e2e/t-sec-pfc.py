#!/usr/bin/env python3
"""
t-sec-pfc.py - the seccomp policies as built are exactly the reviewed
exports in lib/seccomp-<role>.pfc (a policy change without a reviewed
export fails here: run "make update-seccomp-pfc" and review the diff),
and the reviewed exports say what doc/security.md promises: kill by
default and for foreign architectures, nothing that execs, forks,
creates sockets, traces, signals others or changes ids.
"""
import os
import platform
import re
import subprocess

import harness
import sechelp

t = harness.TAP()
dump = sechelp.builddir_file("tests/postern-sandbox-dump")
if not sechelp.SECCOMP:
    harness.skip_all("built --without-seccomp")
if sechelp.ASAN:
    harness.skip_all("sanitizer builds add rows for the ASan runtime")
if platform.machine() != "x86_64":
    harness.skip_all("the reviewed exports are for x86_64")

NEVER = ["execve", "execveat", "fork", "vfork", "clone", "socket",
         "socketpair", "connect", "bind", "listen", "accept", "accept4",
         "ptrace", "process_vm_readv", "process_vm_writev", "setuid",
         "setgid", "setresuid", "setresgid", "setgroups", "setreuid",
         "chroot", "mount", "unshare", "setns", "bpf", "keyctl", "add_key",
         "io_uring_setup", "userfaultfd", "perf_event_open", "prctl",
         "personality", "symlink", "symlinkat", "mknod", "mknodat",
         "chmod", "fchmodat", "chown", "lchown", "fchownat", "kexec_load",
         "init_module", "finit_module", "iopl", "ioperm", "seccomp",
         "pkey_mprotect", "memfd_create", "name_to_handle_at",
         "open_by_handle_at"]

for role in ("pop3", "store"):
    built = subprocess.run([dump, role], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    t.eq(built.returncode, 0, "%s: the policy builds and exports" % role)
    path = os.path.join(harness.TOP_SRCDIR, "lib", "seccomp-%s.pfc" % role)
    reviewed = open(path).read()
    out = built.stdout.decode()
    if not t.eq(out, reviewed, "%s: the built policy is the reviewed "
                "lib/seccomp-%s.pfc" % (role, role)):
        import difflib
        t.diag("".join(difflib.unified_diff(
            reviewed.splitlines(True), out.splitlines(True),
            "lib/seccomp-%s.pfc" % role, "built")))
        t.diag("if the change is intended: make update-seccomp-pfc, review, commit")
    rules = {}
    for m in re.finditer(r'# filter for syscall "(\w+)" \(\d+\)[^\n]*\n'
                         r'((?:(?!  # ).*\n)*)', reviewed):
        rules[m.group(1)] = m.group(2)
    t.ok("# default action\n  action KILL_PROCESS;" in reviewed,
         "%s: the default action kills the process" % role)
    t.ok("# invalid architecture action\naction KILL_PROCESS;" in reviewed,
         "%s: a foreign architecture (x32, int 0x80) kills the process" % role)
    present = sorted(n for n in NEVER if n in rules)
    t.eq(present, [], "%s: no rule for exec, fork, sockets, ptrace, id "
         "changes and the like" % role)
    t.ok("ALLOW" in rules.get("tgkill", "") and "$a0" in rules["tgkill"],
         "%s: tgkill only with a condition on the target (itself)" % role)
    t.ok("ALLOW" in rules.get("mmap", "") and "0x00000004 == 0" in
         rules["mmap"], "%s: mmap only without PROT_EXEC" % role)
    if role == "pop3":
        for name in ("open", "openat", "newfstatat"):
            r = rules.get(name, "")
            t.ok("action ERRNO(13);" in r and "$a" not in r,
                 "pop3: %s fails with EACCES" % name)
        t.ok("kill" not in rules, "pop3: kill is not allowed at all")
    else:
        t.ok("$a1.lo32 & 0xffffffff == 0" in rules.get("kill", ""),
             "store: kill only with signal 0")
t.done()
