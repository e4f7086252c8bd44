#!/usr/bin/env python3
"""
t-auth-pam.py - what the auth helper asks PAM beyond the password, seen
through the daemon with real accounts:

  1. pam_acct_mgmt runs: an expired account (usermod -e 1) is refused
     with the right password, with the text of a wrong password, and the
     log names PAM's reason;
  2. PAM_RHOST is the client's address: a service file with
     "auth requisite pam_succeed_if.so rhost = 127.0.0.1" lets a login
     from 127.0.0.1 in and refuses the same login from 127.0.0.2, with
     the text of a wrong password;
  3. the attempt fails closed when PAM_RHOST cannot be set (failure
     injected into postern-auth-hooks): -ERR [SYS/TEMP], nobody logged in,
     and the log says which item failed.
"""
import os

import harness
import sechelp as S

harness.require_root()
t = harness.TAP()
EXPIRED = "ptauthexp"
USER = "ptauthpam"
FAILED = b"-ERR [AUTH] Authentication failed."
RHOST_SERVICE = "postern-test-rhost"
RHOST_PAM = ("# written by postern's test suite (t-auth-pam.py)\n"
             "auth    requisite pam_succeed_if.so rhost = 127.0.0.1\n"
             "auth    required  pam_unix.so\n"
             "account required  pam_unix.so\n")


def pass_answer(d, user, password, source=None):
    """The answer to PASS after USER, from source."""
    c = S.connect(d, source)
    try:
        if not c.line().startswith(b"+OK"):
            return None
        c.cmd("USER " + user)
        return c.cmd("PASS " + password)
    finally:
        c.close()


def set_expiry(user, date):
    with harness._accounts_lock():
        harness.run(["usermod", "-e", date, user])


# ---- 1. pam_acct_mgmt: an expired account ----
d = harness.Daemon(users=(EXPIRED, USER))
try:
    d.write_mbox(EXPIRED, harness.make_mbox([harness.message(1)]))
    d.start()
    r = pass_answer(d, EXPIRED, harness.TEST_PASSWORD)
    t.ok(r is not None and r.startswith(b"+OK"),
         "(control) before it expires, %s logs in" % EXPIRED)
    set_expiry(EXPIRED, "1")     # expired on 1970-01-02
    r = pass_answer(d, EXPIRED, harness.TEST_PASSWORD)
    t.eq(r, FAILED, "expired account, right password: refused")
    wrong = pass_answer(d, USER, "not the password")
    t.eq(r, wrong, "the same answer as a wrong password")
    t.ok(d.wait_log('login failed: rhost=127.0.0.1 user="%s"' % EXPIRED),
         "the refusal is logged as a failed login")
    line = [l for l in d.read_log().splitlines()
            if 'user="%s"' % EXPIRED in l and "login failed" in l]
    t.ok(line and "expired" in line[-1].lower(),
         "the log line gives PAM's reason (%r)" % (line[-1] if line else None))
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    t.diag(d.read_log()[-3000:])
finally:
    set_expiry(EXPIRED, "")
    d.cleanup()

# ---- 2. PAM_RHOST reaches the modules ----
path = "/etc/pam.d/" + RHOST_SERVICE
with harness._accounts_lock():
    with open(path, "w") as f:
        f.write(RHOST_PAM)
d = harness.Daemon(users=(USER,), config={"pam_service": RHOST_SERVICE})
try:
    d.write_mbox(USER, harness.make_mbox([harness.message(1)]))
    d.start()
    r = pass_answer(d, USER, harness.TEST_PASSWORD, source="127.0.0.1")
    t.ok(r is not None and r.startswith(b"+OK"),
         "rhost = 127.0.0.1: a login from 127.0.0.1 is accepted")
    r = pass_answer(d, USER, harness.TEST_PASSWORD, source="127.0.0.2")
    t.eq(r, FAILED, "the same login from 127.0.0.2 is refused")
    wrong = pass_answer(d, USER, "not the password", source="127.0.0.1")
    t.eq(r, wrong, "with the answer a wrong password gets")
    t.ok(d.wait_log('login failed: rhost=127.0.0.2 user="%s"' % USER),
         "the refusal is logged with rhost=127.0.0.2")
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    t.diag(d.read_log()[-3000:])
finally:
    d.cleanup()
    with harness._accounts_lock():
        os.unlink(path)

# ---- 3. fail closed when PAM_RHOST cannot be set ----
d = harness.Daemon(users=(USER,))
try:
    libexec = os.path.join(d.dir, "libexec")
    os.mkdir(libexec, 0o755)
    for name in ("postern-pop3", "postern-pop3s", "postern-store"):
        os.symlink(S.builddir_file(name), os.path.join(libexec, name))
    # The master starts the helper with an empty environment: a wrapper
    # sets the step to fail.
    S.write_wrapper(os.path.join(libexec, "postern-auth"),
                    S.builddir_file("postern-auth-hooks"), "pam_rhost")
    d.config["libexec_dir"] = libexec
    d.write_config()
    d.write_mbox(USER, harness.make_mbox([harness.message(1)]))
    d.start()
    r = pass_answer(d, USER, harness.TEST_PASSWORD)
    t.ok(r is not None and r.startswith(b"-ERR [SYS/TEMP]"),
         "PAM_RHOST not set: the right password gets -ERR [SYS/TEMP] (%r)" % r)
    t.ok(d.wait_log("reason=\"pam_set_item(PAM_RHOST): "),
         "the log says pam_set_item(PAM_RHOST) failed")
    t.ok("login ok" not in d.read_log(), "nobody logged in")
    t.eq(S.role_pids(d.proc.pid, "postern-store"), [],
         "no storage process was started")
except Exception as e:
    t.ok(False, "unexpected exception: %r" % e)
    t.diag(d.read_log()[-3000:])
finally:
    d.cleanup()
t.done()
