#!/usr/bin/env python3
"""
gen_mbox.py - a deterministic generator of realistic mbox mailboxes for
postern's benchmark (bench/run.sh) and its correctness test.

The same (seed, count, mean size) always gives the same bytes. Messages
look like real mail: Received chains, RFC 2047 subjects, 8-bit UTF-8
text, multipart/alternative and multipart/mixed with base64 attachments,
quoted replies, lines that start with "." (a lone "." too, which a POP3
server must dot-stuff) and lines that start with "From " (which the MDA
escapes to ">From ", as procmail/exim/postfix local do for mboxo).

The file is written exactly as an MDA appends: a "From " separator line,
the message with LF line ends and "From " lines escaped, then one empty
line. A sidecar (PATH.json) records, per message, its size as RETR sends
it (CRLF) and SHA-256 digests of the two forms a server may legitimately
send: with the mboxo escape undone (the original message) and as stored.

Usage: gen_mbox.py OUT --count N --mean BYTES [--seed S]
"""
import argparse
import base64
import hashlib
import json
import random
import sys

WORDS = ("the of and to in is that it for on with as was at by be this from "
         "have or an are not but had his they you were her she which all one "
         "their there been has will more if no when out up into so what can "
         "mailbox server message attachment report meeting schedule budget "
         "invoice delivery quarterly review draft proposal figures attached "
         "please regards thanks tomorrow Monday Friday noon office project "
         "Grüße Straße naïve café façade Zürich Øresund smörgåsbord déjà vu "
         "niño año señor Ærø Łódź Dvořák Ångström coöperate résumé").split()
EIGHT_BIT_LINES = [
    "Viele Grüße aus München, und bis nächste Woche!",
    "Le café est prêt ; à bientôt — François",
    "Ønsker dere en god helg. Hilsen Bjørn",
    "会議は明日の午後三時からです。",
    "Привет! Документы во вложении.",
    "Γεια σας, τα αρχεία είναι συνημμένα.",
]
DOT_LINES = [".", "..", "...and that was the end of it.", ".signature follows",
             ". leading dot and space", ".\t tab after a dot"]
FROM_LINES = ["From the desk of the director: please read this.",
              "From what I can tell, the numbers are fine.",
              "From: not a header, just text in the body",
              "From here on we use the new server."]
NAMES = ["Alice Martin", "Bob Jansen", "Chloé Dubois", "Dmitri Ivanov",
         "Eva Nowak", "Frank Müller", "Grace Hopper", "Hiro Tanaka",
         "Ingrid Olsen", "José García"]
DOMAINS = ["example.org", "example.com", "example.net", "mail.example.edu"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]
ATTACH_TYPES = [("application/pdf", "report.pdf"),
                ("image/jpeg", "photo.jpg"),
                ("application/zip", "archive.zip"),
                ("application/vnd.openxmlformats-officedocument."
                 "spreadsheetml.sheet", "figures.xlsx")]


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        # One pool of random bytes; attachments are slices of it at random
        # offsets, so base64 text never repeats in practice and the
        # generator stays fast (no per-message random stream).
        pool = self.rng.randbytes(4 << 20)
        self.pool_len = len(pool)
        self.pool = memoryview(pool + pool)
        self.paragraphs = [self._paragraph() for _ in range(512)]

    def _paragraph(self):
        rng = self.rng
        lines = []
        for _ in range(rng.randint(2, 8)):
            n = rng.randint(6, 13)
            lines.append(" ".join(rng.choice(WORDS) for _ in range(n)))
        r = rng.random()
        if r < 0.15:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(DOT_LINES))
        elif r < 0.25:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(FROM_LINES))
        elif r < 0.40:
            lines.insert(rng.randrange(len(lines) + 1),
                         rng.choice(EIGHT_BIT_LINES))
        elif r < 0.50:
            lines = ["> " + l for l in lines]
        return "\n".join(lines) + "\n"

    def text(self, size):
        """About size bytes of paragraphs, as UTF-8."""
        out, n = [], 0
        while n < size:
            p = self.rng.choice(self.paragraphs).encode()
            out.append(p)
            out.append(b"\n")
            n += len(p) + 1
        return b"".join(out)

    def attachment(self, size):
        """base64 lines (76 columns) encoding about size*3/4 bytes."""
        raw = max(1, size * 3 // 4)
        out = []
        while raw > 0:
            # 57 raw bytes make one 76-column line: keep chunks aligned.
            n = min(raw, self.pool_len // 57 * 57)
            off = self.rng.randrange(self.pool_len)
            out.append(base64.encodebytes(self.pool[off:off + n]))
            raw -= n
        return b"".join(out)

    def date(self, i):
        rng = self.rng
        day = 1 + (i // 97) % 28
        return (rng.choice(DAYS), day, MONTHS[(i // 2000) % 12],
                2026, rng.randrange(24), rng.randrange(60), rng.randrange(60))

    def message(self, i, size):
        rng = self.rng
        frm, to = rng.choice(NAMES), rng.choice(NAMES)
        fdom, tdom = rng.choice(DOMAINS), rng.choice(DOMAINS)
        faddr = frm.split()[0].lower() + "@" + fdom
        taddr = to.split()[0].lower() + "@" + tdom
        dow, day, mon, year, hh, mm, ss = self.date(i)
        date = "%s, %d %s %d %02d:%02d:%02d +0100" % (dow, day, mon, year,
                                                        hh, mm, ss)
        subj = rng.choice(["Quarterly figures", "Re: meeting tomorrow",
                           "Fwd: invoice %d" % i, "Photos from the trip",
                           "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=",
                           "=?UTF-8?B?5Lya6K2w44Gu5pel56iL?=",
                           "Report #%d" % i])
        hdr = []
        for hop in range(rng.randint(2, 4)):
            hdr.append("Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n"
                       "\tby mail.%s (Postfix) with ESMTPS id %08X\n"
                       "\tfor <%s>; %s" % (hop, fdom, hop, fdom,
                                           rng.randrange(1, 255), tdom,
                                           rng.getrandbits(32), taddr, date))
        hdr += ["Return-Path: <%s>" % faddr,
                "From: %s <%s>" % (frm, faddr), "To: %s <%s>" % (to, taddr),
                "Subject: %s" % subj, "Date: %s" % date,
                "Message-ID: <%d.%08x@%s>" % (i, rng.getrandbits(32), fdom),
                "MIME-Version: 1.0"]
        head_len = sum(len(h) + 1 for h in hdr) + 200
        body_size = max(64, size - head_len)
        kind = rng.random()
        if body_size < 6000 or kind < 0.25:
            hdr += ["Content-Type: text/plain; charset=UTF-8",
                    "Content-Transfer-Encoding: 8bit"]
            body = self.text(body_size)
        elif kind < 0.4 and body_size < 60000:
            b = "=_alt_%08x" % rng.getrandbits(32)
            hdr.append('Content-Type: multipart/alternative; boundary="%s"' % b)
            half = body_size // 2
            t = self.text(half)
            html = b"<html><body><p>" + self.text(half - 40).replace(
                b"\n\n", b"</p>\n<p>") + b"</p></body></html>\n"
            body = (b"This is a multi-part message in MIME format.\n\n"
                    b"--%s\nContent-Type: text/plain; charset=UTF-8\n"
                    b"Content-Transfer-Encoding: 8bit\n\n%s\n"
                    b"--%s\nContent-Type: text/html; charset=UTF-8\n"
                    b"Content-Transfer-Encoding: 8bit\n\n%s\n--%s--\n"
                    % (b.encode(), t, b.encode(), html, b.encode()))
        else:
            b = "=_mix_%08x" % rng.getrandbits(32)
            hdr.append('Content-Type: multipart/mixed; boundary="%s"' % b)
            tsize = min(body_size // 4, rng.randint(300, 4000))
            parts = [b"This is a multi-part message in MIME format.\n\n"
                     b"--%s\nContent-Type: text/plain; charset=UTF-8\n"
                     b"Content-Transfer-Encoding: 8bit\n\n%s\n"
                     % (b.encode(), self.text(tsize))]
            left = body_size - tsize
            nat = 1 if left < 30000 else rng.randint(1, 3)
            for k in range(nat):
                ctype, name = rng.choice(ATTACH_TYPES)
                parts.append(b"--%s\nContent-Type: %s; name=\"%d-%s\"\n"
                             b"Content-Disposition: attachment; "
                             b"filename=\"%d-%s\"\n"
                             b"Content-Transfer-Encoding: base64\n\n"
                             % (b.encode(), ctype.encode(), k, name.encode(),
                                k, name.encode()))
                parts.append(self.attachment(left // nat - 200))
                parts.append(b"\n")
            parts.append(b"--%s--\n" % b.encode())
            body = b"".join(parts)
        return ("\n".join(hdr) + "\n\n").encode() + body

    def sizes(self, count, mean):
        """count sizes, log-normally spread, summing to count*mean."""
        raw = [self.rng.lognormvariate(0, 0.9) for _ in range(count)]
        scale = count * mean / sum(raw)
        return [max(600, int(r * scale)) for r in raw]


def from_line(gen, i):
    dow, day, mon, year, hh, mm, ss = gen.date(i)
    return b"From %s %s %s %2d %02d:%02d:%02d %d\n" % (
        gen.rng.choice(["alice@example.org", "MAILER-DAEMON",
                        "bounce+x=y@lists.example.net"]).encode(),
        dow.encode(), mon.encode(), day, hh, mm, ss, year)


def escape_from(msg):
    """mboxo escaping as an MDA does it: "From " at a line start."""
    if msg.startswith(b"From "):
        msg = b">" + msg
    return msg.replace(b"\nFrom ", b"\n>From ")


def generate(path, count, mean, seed, sidecar=True):
    """Write the mbox; return (total bytes, sidecar dict)."""
    gen = Generator(seed)
    sizes = gen.sizes(count, mean)
    meta = {"seed": seed, "count": count, "mean": mean, "messages": []}
    total = 0
    with open(path, "wb") as f:
        for i, size in enumerate(sizes):
            msg = gen.message(i, size)
            stored = escape_from(msg)
            f.write(from_line(gen, i))
            f.write(stored)
            f.write(b"\n")
            total += len(stored) + 1
            if sidecar:
                orig = msg.replace(b"\n", b"\r\n")
                raw = stored.replace(b"\n", b"\r\n")
                meta["messages"].append([
                    len(orig), hashlib.sha256(orig).hexdigest(),
                    hashlib.sha256(raw).hexdigest()])
        total = f.tell()
    meta["bytes"] = total
    if sidecar:
        with open(path + ".json", "w") as f:
            json.dump(meta, f)
    return total, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--mean", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1939)
    ap.add_argument("--no-sidecar", action="store_true")
    a = ap.parse_args()
    total, _ = generate(a.out, a.count, a.mean, a.seed, not a.no_sidecar)
    print("%s: %d messages, %d bytes" % (a.out, a.count, total))


if __name__ == "__main__":
    sys.exit(main())
