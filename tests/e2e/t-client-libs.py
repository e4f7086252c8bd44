#!/usr/bin/env python3
"""
t-client-libs.py - three client libraries against the real daemon:
Python's poplib, Perl's Net::POP3 (libnet) and curl's POP3 support.
Each logs in, lists, reads UIDLs, retrieves every message byte for byte,
deletes some and quits; the mbox on disk must then hold exactly the
others, byte-identical and in order.
"""
import os
import poplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import clientlib as cl  # noqa: E402

h.require_root()
t = h.TAP()
U = "ptclilib"
MSGS = cl.client_messages()
MBOX = cl.mbox_of(MSGS)
SEGS = cl.mbox_segments(MBOX)
assert len(SEGS) == len(MSGS)

PERL = r'''
use strict; use warnings; use Net::POP3;
my ($port, $user, $pw, $outdir, @dele) = @ARGV;
my $p = Net::POP3->new("127.0.0.1", Port => $port, Timeout => 20)
    or die "connect: $@";
my $n = $p->login($user, $pw);
defined $n or die "login failed: " . $p->message;
print "count $n\n";
my $l = $p->list or die "list";
print "list $_ $l->{$_}\n" for sort { $a <=> $b } keys %$l;
my $u = $p->uidl or die "uidl";
print "uidl $_ $u->{$_}\n" for sort { $a <=> $b } keys %$u;
for my $i (sort { $a <=> $b } keys %$l) {
    my $m = $p->get($i) or die "get $i";
    open(my $f, ">", "$outdir/$i") or die; binmode $f; print $f @$m; close $f;
}
my $top = $p->top(1, 0) or die "top";
print "top ", scalar(@$top), "\n";
$p->delete($_) or die "delete $_" for @dele;
$p->quit or die "quit";
print "done\n";
'''

d = h.Daemon(users=(U,))
d.write_mbox(U, MBOX)
d.start()
sessions = 0


def next_session():
    global sessions
    sessions += 1
    return cl.wait_ended(d, U, sessions)


try:
    # --- Python poplib ---------------------------------------------------
    # poplib refuses lines over 2048 octets by default (_MAXLINE); the test
    # message has a 3000-octet line (legal in mbox; RFC 5322's 998 is for
    # senders), so lift the client's own limit.
    poplib._MAXLINE = 1 << 20
    p = poplib.POP3(d.host, d.port, timeout=20)
    t.ok(p.user(U).startswith(b"+OK"), "poplib: USER")
    t.ok(p.pass_(h.TEST_PASSWORD).startswith(b"+OK"), "poplib: PASS")
    wires = [cl.wire(m) for m in MSGS]
    t.eq(p.stat(), (len(MSGS), sum(len(w) for w in wires)), "poplib: STAT")
    resp, listing, _ = p.list()
    t.eq([l.split() for l in listing],
         [[b"%d" % i, b"%d" % len(w)] for i, w in enumerate(wires, 1)], "poplib: LIST")
    resp, ulist, _ = p.uidl()
    uidls = {int(a): b for a, b in (l.split() for l in ulist)}
    t.eq(sorted(uidls), list(range(1, len(MSGS) + 1)), "poplib: UIDL lists every message")
    t.eq(len(set(uidls.values())), len(MSGS),
         "poplib: UIDLs unique, also for the two identical messages")
    t.ok(b"forged-uidl" not in uidls.values(), "poplib: the X-UIDL header is not the UIDL")
    for i, m in enumerate(MSGS, 1):
        resp, lines, octets = p.retr(i)
        t.eq(b"\n".join(lines) + b"\n", m, "poplib: RETR %d byte-exact" % i)
    resp, lines, _ = p.top(2, 1)
    t.eq(lines, cl.top_lines(MSGS[1], 1), "poplib: TOP 2 1")
    t.ok(p.dele(2).startswith(b"+OK"), "poplib: DELE 2")
    t.ok(p.dele(9).startswith(b"+OK"), "poplib: DELE 9 (the second of two identical messages)")
    t.ok(p.quit().startswith(b"+OK"), "poplib: QUIT")
    t.ok(next_session(), "poplib: session ended")
    keep = [i for i in range(len(MSGS)) if i not in (1, 8)]
    t.eq(d.read_mbox(U), b"".join(SEGS[i] for i in keep),
         "poplib: mbox holds the other messages, byte-identical, in order")
    msgs = [MSGS[i] for i in keep]
    segs = [SEGS[i] for i in keep]
    old_uidls = [uidls[i + 1] for i in keep]

    # --- Perl Net::POP3 --------------------------------------------------
    outdir = os.path.join(d.dir, "perl-out")
    os.mkdir(outdir)
    script = os.path.join(d.dir, "pop.pl")
    with open(script, "w") as f:
        f.write(PERL)
    r = cl.run_client(["perl", script, str(d.port), U, h.TEST_PASSWORD, outdir, "1", "3"])
    if not t.eq(r.returncode, 0, "Net::POP3: the script ran to the end"):
        cl.show(t, r)
    out = r.stdout.decode()
    t.ok("count %d\n" % len(msgs) in out, "Net::POP3: login reports %d messages" % len(msgs))
    perl_uidls = [l.split(" ", 2)[2].encode() for l in out.splitlines() if l.startswith("uidl ")]
    t.eq(perl_uidls, old_uidls, "Net::POP3: UIDLs unchanged by the earlier deletion")
    got = [open(os.path.join(outdir, str(i)), "rb").read()
           if os.path.exists(os.path.join(outdir, str(i))) else None
           for i in range(1, len(msgs) + 1)]
    for i, m in enumerate(msgs):
        t.eq(got[i], m, "Net::POP3: get %d byte-exact" % (i + 1))
    t.ok("top 5\n" in out, "Net::POP3: top 1 0 gives the 4 header lines and the blank line")
    t.ok("done" in out, "Net::POP3: delete and quit succeeded")
    t.ok(next_session(), "Net::POP3: session ended")
    keep2 = [i for i in range(len(msgs)) if i not in (0, 2)]
    t.eq(d.read_mbox(U), b"".join(segs[i] for i in keep2),
         "Net::POP3: mbox holds the other messages, byte-identical, in order")
    msgs = [msgs[i] for i in keep2]
    segs = [segs[i] for i in keep2]
    old_uidls = [old_uidls[i] for i in keep2]

    # --- curl ------------------------------------------------------------
    url = "pop3://127.0.0.1:%d/" % d.port
    auth = ["-u", "%s:%s" % (U, h.TEST_PASSWORD)]

    def curl(*args):
        r = cl.run_client(["curl", "-s", "-S", "--max-time", "20"] + auth + list(args))
        next_session()
        return r

    r = curl(url)
    t.eq(r.stdout, b"".join(b"%d %d\r\n" % (i, len(cl.wire(m))) for i, m in enumerate(msgs, 1)),
         "curl: LIST")
    r = curl("-X", "UIDL", url)
    t.eq(r.stdout, b"".join(b"%d %s\r\n" % (i, u) for i, u in enumerate(old_uidls, 1)),
         "curl: UIDL, ids unchanged by earlier deletions")
    for i, m in enumerate(msgs, 1):
        r = curl(url + str(i))
        t.eq(r.stdout, cl.wire(m), "curl: RETR %d byte-exact" % i)
    r = curl("-X", "TOP 1 0", url)
    t.eq(r.stdout, b"".join(l + b"\r\n" for l in cl.top_lines(msgs[0], 0)), "curl: TOP 1 0")
    r = curl("-X", "DELE 2", "-I", url)
    if not t.eq(r.returncode, 0, "curl: DELE 2"):
        cl.show(t, r)
    t.eq(d.read_mbox(U), b"".join(s for i, s in enumerate(segs) if i != 1),
         "curl: DELE 2 expunged message 2 only")
    r = curl("-X", "DELE 99", "-I", url)
    t.ok(r.returncode != 0, "curl: DELE of a missing message fails")
    r = curl(url + "99")
    t.ok(r.returncode != 0, "curl: RETR of a missing message fails")
finally:
    d.cleanup()
t.done()
