"""
report.py - the benchmark's table: one row per workload, one column per
server, the issue's targets beside postern's numbers, and ratios that
read the same way everywhere (> 1.00x means postern is better, whether
higher or lower is better for that row).
"""

SERVERS = ("postern", "Dovecot", "popa3d")


def rows(cfg):
    """(key, label, better, target, target text, format)."""
    retr_mb = cfg["sizes_mb"]["retr"]
    open_k = cfg["open"][0] / 1000
    exp_mb = cfg["sizes_mb"]["expunge"]
    big_mb = cfg["sizes_mb"]["big"]
    pam = "PAM %.0f ms" % cfg["session_pam_ms"] if "session_pam_ms" in cfg \
        else "PAM ~10 ms"
    return [
        ("sessions_plain_1", "sessions/s, 1 client, plain (%s)" % pam, "higher", 60,
         ">= 60", "%.1f"),
        ("sessions_plain_2", "sessions/s, 2 clients, plain (%s)" % pam, "higher", None,
         "", "%.1f"),
        ("sessions_tls_1", "sessions/s, 1 client, TLS (%s)" % pam, "higher", None, "",
         "%.1f"),
        ("sessions_tls_2", "sessions/s, 2 clients, TLS (%s)" % pam, "higher", None, "",
         "%.1f"),
        ("sessions_fast_plain_1", "  same, SHA-512 5000 rounds: 1 client, plain",
         "higher", None, "", "%.1f"),
        ("sessions_fast_plain_2", "  same, SHA-512 5000 rounds: 2 clients, plain",
         "higher", None, "", "%.1f"),
        ("sessions_fast_tls_1", "  same, SHA-512 5000 rounds: 1 client, TLS",
         "higher", None, "", "%.1f"),
        ("sessions_fast_tls_2", "  same, SHA-512 5000 rounds: 2 clients, TLS",
         "higher", None, "", "%.1f"),
        ("login_small", "login+STAT, 10-msg mailbox, SHA-512, ms", "lower", None, "",
         "%.1f"),
        ("retr_check", "RETR content check, %d MB" % retr_mb, "text", None,
         "", "%s"),
        ("retr_plain_qa", "RETR plain, quick-ack client, MB/s", "higher",
         1500, ">= 1500", "%.0f"),
        ("retr_plain_ord", "RETR plain, ordinary client, MB/s", "higher",
         "nostall", "no stall", "%.0f"),
        ("retr_plain_pipe", "RETR plain, pipelined x8, MB/s", "higher", None,
         "", "%.0f"),
        ("retr_tls_qa", "RETR TLS, quick-ack client, MB/s", "higher", 800,
         ">= 800", "%.0f"),
        ("retr_tls_ord", "RETR TLS, ordinary client, MB/s", "higher",
         "nostall", "no stall", "%.0f"),
        ("open_cold", "cold open %gk msgs (PASS+STAT), s" % open_k, "lower",
         0.10, "<= 0.10", "%.3f"),
        ("open_warm", "warm open %gk msgs (PASS+STAT), s" % open_k, "lower",
         0.02, "<= 0.02", "%.3f"),
        ("expunge", "expunge DELE 1+QUIT, %d MB, s" % exp_mb, "lower", 0.15,
         "<= 0.15", "%.3f"),
        ("expunge_done", "  same, until the rewrite is done, s", "lower",
         None, "", "%.3f"),
        ("expunge_check", "expunge result check", "text", None, "", "%s"),
        ("pss_total", "PSS per idle session (total/N), kB", "lower", 300,
         "<= 300", "%.0f"),
        ("pss_incr", "PSS per idle session (added), kB", "lower", 300,
         "<= 300", "%.0f"),
        ("peak_rss", "peak RSS, RETR all of %d MB, MB" % big_mb, "lower", 32,
         "<= 32", "%.1f"),
        ("retr_cpu", "server CPU per GB of RETR (warm), s", "lower",
         None, "", "%.2f"),
    ]


def cell_text(cell, fmt):
    if not cell:
        return "-"
    if "fail" in cell:
        return "FAIL"
    if "na" in cell:
        return "n/a"
    v = cell.get("value")
    if isinstance(v, str):
        return v.split(",")[0].split(" (")[0]
    s = fmt % v
    if "stalls" in cell.get("note", ""):
        s += " STALL"
    return s


def ratio(p, o, better):
    pv, ov = p.get("value"), o.get("value")
    if better not in ("higher", "lower") or not isinstance(pv, float) or \
            not isinstance(ov, float) or pv <= 0 or ov <= 0:
        return "-"
    return "%.2fx" % (pv / ov if better == "higher" else ov / pv)


def met(cell, target, better):
    v = cell.get("value")
    if target is None or not isinstance(v, float):
        return ""
    if target == "nostall":
        return "NO" if "stalls" in cell.get("note", "") else "yes"
    ok = v >= target if better == "higher" else v <= target
    return "yes" if ok else "NO"


def table(results, cfg, servers):
    names = [s for s in SERVERS if s in servers]
    head = ["workload", "target", "met"] + names + \
        ["vs " + n for n in names if n != "postern"]
    body = []
    notes = []
    for key, label, better, target, ttext, fmt in rows(cfg):
        cells = {n: results.get(key, n) for n in names}
        line = [label, ttext, met(cells.get("postern", {}), target, better)]
        line += [cell_text(cells[n], fmt) for n in names]
        line += [ratio(cells.get("postern", {}), cells[n], better)
                 for n in names if n != "postern"]
        body.append(line)
        for n in names:
            c = cells[n]
            why = c.get("fail") or c.get("na") or c.get("note") or (
                c.get("value") if isinstance(c.get("value"), str) else None)
            if why:
                notes.append("%s / %s: %s" % (label, n, why))
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    out = []
    fmt_row = "  ".join("%%-%ds" % widths[0] if i == 0 else "%%%ds" % w
                        for i, w in enumerate(widths))
    out.append(fmt_row % tuple(head))
    out.append("  ".join("-" * w for w in widths))
    for r in body:
        out.append(fmt_row % tuple(r))
    out.append("")
    out.append("Ratios: > 1.00x means postern is better (faster, or smaller).")
    if notes:
        out.append("Notes:")
        out += ["  " + n for n in notes]
    return "\n".join(out)


def limits_text(lim):
    order = [
        ("iperf3", "loopback TCP, iperf3 1 stream, MB/s"),
        ("ceiling_plain", "popbench vs in-memory sender (popserve), MB/s"),
        ("ceiling_tls", "same over TLS, MB/s"),
        ("aes-128-gcm", "openssl speed -evp aes-128-gcm (16 KiB), MB/s"),
        ("aes-256-gcm", "openssl speed -evp aes-256-gcm (16 KiB), MB/s"),
        ("chacha20-poly1305", "openssl speed -evp chacha20-poly1305, MB/s"),
        ("pagecache", "read the RETR mailbox from page cache, MB/s"),
        ("copy_fsync_s", "copy the expunge mailbox with fsync, s"),
        ("copy_fsync", "copy the expunge mailbox with fsync, MB/s"),
        ("pam_ms", "PAM login alone, session-rate accounts, ms"),
        ("pam_fast_ms", "PAM login alone, SHA-512 5000 rounds, ms"),
        ("pam_fork_ms", "  same, in a fresh child per attempt, ms"),
        ("pam_pinned_ms", "  same, child of a parent with modules loaded, ms"),
    ]
    out = []
    w = max(len(t) for _, t in order)
    for key, text in order:
        v = lim.get(key)
        if v is None:
            s = "-"
        elif isinstance(v, str):
            s = v
        else:
            s = "%.3f" % v if v < 10 else "%.0f" % v
        out.append("  %-*s  %s" % (w, text, s))
    if lim.get("ciphers"):
        out.append("  %-*s  %s" % (w, "negotiated TLS cipher", ", ".join(
            "%s %s" % kv for kv in sorted(lim["ciphers"].items()))))
    return "\n".join(out)
