/*
 * test-mbox-uidl.c - UIDLs and the index: format, uniqueness of
 * identical messages, stability across sessions, deletions, appends,
 * lost, corrupt, forged and stale indexes; warm opens that scan nothing
 * and incremental scans that read only the new part.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbox.h"
#include "mbox_index.h"
#include "mbox_int.h"
#include "mbox_testlib.h"
#include "tap.h"

struct fx {
	const char *dir;
	char *path, *idx, *idxfile;
	struct mbox_config cfg;
};

static void
fx_init(struct fx *f, bool with_index)
{
	f->dir = tl_tmpdir();
	f->path = tl_path(f->dir, "mbox");
	f->idx = tl_path(f->dir, "idx");
	f->idxfile = tl_path(f->idx, "mbox.index");
	tl_cfg(&f->cfg, f->path, with_index ? f->idx : NULL);
}

/* Open, take the UIDL list and the stats, close. */
static int
session(struct fx *f, struct tl_buf *uidls, struct mbox_stats *st)
{
	struct mbox *m;
	int r = mbox_open(&f->cfg, &m);

	if (r != MBOX_OK)
		return r;
	if (uidls != NULL)
		tl_uidls(m, uidls);
	if (st != NULL)
		mbox_get_stats(m, st);
	mbox_close(m);
	return MBOX_OK;
}

/* Line k (0-based) of a "\n"-joined list. */
static void
line_of(const struct tl_buf *l, int k, char *out, size_t outsz)
{
	const char *p = (const char *)l->p, *e;

	while (k-- > 0 && p != NULL && (p = strchr(p, '\n')) != NULL)
		p++;
	e = p != NULL ? strchr(p, '\n') : NULL;
	snprintf(out, outsz, "%.*s", p && e ? (int)(e - p) : 0, p ? p : "");
}

static void
build(struct tl_buf *b, int n, const char *tag)
{
	char from[64], subj[64], body[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(from, sizeof(from), "%s%d@example.org", tag, i);
		snprintf(subj, sizeof(subj), "message %d", i);
		snprintf(body, sizeof(body), "body of %s %d", tag, i);
		tl_gen_msg(b, from, subj, body);
	}
}

static void
test_format_and_twins(void)
{
	struct fx f;
	struct tl_buf mb = { 0 }, u = { 0 }, u2 = { 0 };
	const char *twin = "From same@x Thu Jan  1 00:00:00 2024\nSubject: "
	    "dup\nX-UIDL: sender-chosen\n\nsame body\n\n";
	char a[80], b[80], c[80], d[80], want[100];
	bool fmt_ok = true;
	size_t i, len = 0;

	fx_init(&f, true);
	tl_buf_adds(&mb, twin);
	tl_buf_adds(&mb, twin);
	build(&mb, 1, "other");
	tl_buf_adds(&mb, twin);
	tl_write(f.path, mb.p, mb.len);
	ok(session(&f, &u, NULL) == MBOX_OK, "open: 3 identical + 1 other");
	line_of(&u, 0, a, sizeof(a));
	line_of(&u, 1, b, sizeof(b));
	line_of(&u, 2, c, sizeof(c));
	line_of(&u, 3, d, sizeof(d));
	snprintf(want, sizeof(want), "%s-2", a);
	is_str(b, want, "second identical message gets -2");
	snprintf(want, sizeof(want), "%s-3", a);
	is_str(d, want, "third identical message gets -3");
	ok(strcmp(c, a) != 0 && strncmp(c, a, 32) != 0, "other message differs");
	ok(strstr((char *)u.p, "sender-chosen") == NULL,
	    "sender's X-UIDL is not used");
	for (i = 0; i < u.len; i++) {
		if (u.p[i] == '\n') {
			if (len < 1 || len > 70)
				fmt_ok = false;
			len = 0;
		} else if (u.p[i] < 0x21 || u.p[i] > 0x7e) {
			fmt_ok = false;
		} else {
			len++;
		}
	}
	ok(fmt_ok, "UIDLs are 1-70 printable ASCII characters");
	unlink(f.idxfile);
	ok(session(&f, &u2, NULL) == MBOX_OK && tl_buf_eq(&u, &u2),
	    "index lost: the same UIDLs again");
	tl_buf_free(&mb);
	tl_buf_free(&u);
	tl_buf_free(&u2);
}

static void
test_warm_and_append(void)
{
	struct fx f;
	struct tl_buf mb = { 0 }, u = { 0 }, u2 = { 0 }, before = { 0 },
	    after = { 0 };
	struct mbox_stats st;
	struct stat sb;
	uint64_t old_size, last_from;
	char a[80], b[80];
	int i;

	fx_init(&f, true);
	build(&mb, 20000, "w");
	tl_write(f.path, mb.p, mb.len);
	ok(session(&f, &u, &st) == MBOX_OK, "open 20000 messages");
	is_int(st.index_use, MBOX_INDEX_NONE, "first open: no index yet");
	is_int(st.bytes_scanned, mb.len, "first open: whole file scanned");
	ok(stat(f.idxfile, &sb) == 0 && S_ISREG(sb.st_mode),
	    "index written in index_dir");
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2),
	    "second open: same UIDLs");
	is_int(st.index_use, MBOX_INDEX_WARM, "second open: warm index");
	is_int(st.bytes_scanned, 0, "second open: nothing scanned");

	/* Appends: only the new part (from the last old message) is read. */
	old_size = mb.len;
	last_from = old_size - strlen("From w19999@example.org Thu Jan  1 00:"
	    "00:00 2024\nFrom: <w19999@example.org>\nSubject: message 19999\n"
	    "Message-ID: <w19999@example.org.message 19999@test>\n\nbody of w "
	    "19999\n\n");
	mb.len = 0;
	build(&mb, 3, "new");
	tl_gen_msg(&mb, "w5@example.org", "message 5", "body of w 5");
	tl_append(f.path, mb.p, mb.len);
	ok(session(&f, &u2, &st) == MBOX_OK, "open after delivery");
	is_int(st.index_use, MBOX_INDEX_APPEND, "index used, append scanned");
	is_int(st.bytes_scanned, old_size + mb.len - last_from,
	    "only the last old message and the new ones were scanned");
	ok(u2.len > u.len && memcmp(u2.p, u.p, u.len) == 0,
	    "old UIDLs unchanged by new mail");
	line_of(&u2, 5, a, sizeof(a));
	line_of(&u2, 20003, b, sizeof(b));
	ok(strncmp(a, b, 32) == 0 && strcmp(a, b) != 0,
	    "a new copy of an old message gets a suffix: %s / %s", a, b);
	ok(session(&f, NULL, &st) == MBOX_OK && st.bytes_scanned == 0,
	    "and the next open is warm again");

	/* The mailbox bytes never change by reading sessions. */
	tl_read(f.path, &before);
	for (i = 0; i < 3; i++)
		session(&f, NULL, NULL);
	tl_read(f.path, &after);
	ok(tl_buf_eq(&before, &after), "UIDLs are never written into the mailbox");
	tl_buf_free(&mb);
	tl_buf_free(&u);
	tl_buf_free(&u2);
	tl_buf_free(&before);
	tl_buf_free(&after);
}

static void
test_deletions(void)
{
	struct fx f;
	struct tl_buf mb = { 0 }, u = { 0 }, u2 = { 0 }, want = { 0 };
	const char *twin = "From t@x Thu Jan  1 00:00:00 2024\nSubject: t\n\nt\n\n";
	struct mbox *m;
	uint32_t n;
	char line[80];
	int i;

	fx_init(&f, true);
	build(&mb, 3, "d");
	tl_buf_adds(&mb, twin);
	tl_buf_adds(&mb, twin);
	build(&mb, 2, "e");
	tl_write(f.path, mb.p, mb.len);
	session(&f, &u, NULL);
	ok(mbox_open(&f.cfg, &m) == MBOX_OK, "open 7 messages");
	mbox_dele(m, 2);
	mbox_dele(m, 4);	/* the first twin */
	ok(mbox_commit(m, &n) == MBOX_OK && n == 2, "expunge 2 and 4");
	mbox_close(m);
	for (i = 0; i < 7; i++) {
		if (i == 1 || i == 3)
			continue;
		line_of(&u, i, line, sizeof(line));
		tl_buf_adds(&want, line);
		tl_buf_adds(&want, "\n");
	}
	ok(session(&f, &u2, NULL) == MBOX_OK && tl_buf_eq(&u2, &want),
	    "survivors keep their UIDLs, the twin keeps its -2");
	tl_buf_free(&mb);
	tl_buf_free(&u);
	tl_buf_free(&u2);
	tl_buf_free(&want);
}

static void
forge(const char *path, const struct mbox_index_hdr *h,
    const struct mbox_msg *recs, uint32_t n)
{
	struct tl_buf b = { 0 };
	uint8_t hb[MBOX_INDEX_HDR_SIZE], rb[MBOX_INDEX_REC_SIZE], sum[8];
	uint64_t h64;
	uint32_t i;

	mbox_index_encode_hdr(h, hb);
	tl_buf_add(&b, hb, sizeof(hb));
	for (i = 0; i < n; i++) {
		mbox_index_encode_rec(&recs[i], rb);
		tl_buf_add(&b, rb, sizeof(rb));
	}
	h64 = mbox_sum64(0, b.p, b.len);
	for (i = 0; i < 8; i++)
		sum[i] = (uint8_t)(h64 >> (8 * i));
	tl_buf_add(&b, sum, 8);
	tl_write(path, b.p, b.len);
	tl_buf_free(&b);
}

static void
test_bad_indexes(void)
{
	struct fx f;
	struct tl_buf mb = { 0 }, u = { 0 }, u2 = { 0 }, ix = { 0 };
	struct mbox_stats st;
	struct mbox_index_hdr h;
	struct mbox_msg *recs;
	const char *why;
	struct stat sb;
	int i, bad = 0;

	fx_init(&f, true);
	build(&mb, 50, "c");
	tl_write(f.path, mb.p, mb.len);
	session(&f, &u, NULL);
	tl_read(f.idxfile, &ix);
	ok(mbox_index_parse(ix.p, ix.len, &h, &recs, &why) == 0 &&
	    h.nmsgs == 50, "our own index parses");
	free(recs);

	/* Damage at every 97th byte, truncation at many lengths. */
	for (i = 0; i < (int)ix.len; i += 97) {
		struct mbox_msg *r2;

		ix.p[i] ^= 0x40;
		if (mbox_index_parse(ix.p, ix.len, &h, &r2, &why) == 0) {
			bad++;
			free(r2);
		}
		ix.p[i] ^= 0x40;
	}
	for (i = 0; i < (int)ix.len; i += 61) {
		struct mbox_msg *r2;

		if (mbox_index_parse(ix.p, (size_t)i, &h, &r2, &why) == 0) {
			bad++;
			free(r2);
		}
	}
	is_int(bad, 0, "every flipped byte and truncation is rejected");

	ix.p[ix.len / 2] ^= 1;
	tl_write(f.idxfile, ix.p, ix.len);
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.index_use == MBOX_INDEX_NONE, "corrupt index: rebuilt, same UIDLs");
	tl_write(f.idxfile, "garbage", 7);
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2),
	    "garbage index: same UIDLs");

	/* A forged index with a valid checksum but impossible records. */
	session(&f, NULL, NULL);
	tl_read(f.idxfile, &ix);
	mbox_index_parse(ix.p, ix.len, &h, &recs, &why);
	recs[10].end_off = recs[11].from_off + 10;
	forge(f.idxfile, &h, recs, h.nmsgs);
	free(recs);
	tl_read(f.idxfile, &ix);
	ok(mbox_index_parse(ix.p, ix.len, &h, &recs, &why) != 0,
	    "forged overlapping records rejected (%s)", why ? why : "?");
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.index_use == MBOX_INDEX_NONE, "forged index ignored");

	/* Plausible records, but for another inode: stale, UIDLs kept. */
	session(&f, NULL, NULL);
	tl_read(f.idxfile, &ix);
	mbox_index_parse(ix.p, ix.len, &h, &recs, &why);
	h.ino ^= 0x1000;
	forge(f.idxfile, &h, recs, h.nmsgs);
	free(recs);
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.index_use == MBOX_INDEX_REBUILT && st.bytes_scanned == mb.len,
	    "index of another inode: full rescan, UIDLs kept");

	/* A symlink in place of the index is not followed: not read, and
	 * replaced by a real index rather than written through. */
	unlink(f.idxfile);
	if (symlink(f.path, f.idxfile) != 0)
		abort();
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.index_use == MBOX_INDEX_NONE && lstat(f.idxfile, &sb) == 0 &&
	    S_ISREG(sb.st_mode), "symlinked index ignored and replaced");
	tl_read(f.path, &ix);
	ok(tl_buf_eq(&ix, &mb), "the symlink's target is untouched");

	/* An index of the previous version (SHA-256 digests), otherwise
	 * intact and with a valid checksum: absent, never trusted. */
	session(&f, NULL, NULL);
	tl_read(f.idxfile, &ix);
	ix.p[8] = 1;
	{
		uint64_t h64 = mbox_sum64(0, ix.p, ix.len - 8);

		for (i = 0; i < 8; i++)
			ix.p[ix.len - 8 + i] = (uint8_t)(h64 >> (8 * i));
	}
	ok(mbox_index_parse(ix.p, ix.len, &h, &recs, &why) != 0 &&
	    strcmp(why, "index of another version") == 0,
	    "version 1 index rejected (%s)", why ? why : "parsed");
	tl_write(f.idxfile, ix.p, ix.len);
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.index_use == MBOX_INDEX_NONE && st.bytes_scanned == mb.len,
	    "version 1 index: treated as absent, full scan");

	/* Format change invalidates the index. */
	session(&f, NULL, NULL);
	f.cfg.format = MBOX_FMT_MBOXRD;
	ok(session(&f, NULL, &st) == MBOX_OK &&
	    st.index_use == MBOX_INDEX_REBUILT, "other format: rebuilt");
	tl_buf_free(&mb);
	tl_buf_free(&u);
	tl_buf_free(&u2);
	tl_buf_free(&ix);
}

static void
test_rewrites(void)
{
	struct fx f;
	struct tl_buf mb = { 0 }, crlf = { 0 }, u = { 0 }, u2 = { 0 };
	struct mbox_stats st;
	char *tmp;
	char a[80], b[80];
	size_t i;
	int diff = 0;

	fx_init(&f, true);
	build(&mb, 30, "r");
	tl_write(f.path, mb.p, mb.len);
	session(&f, &u, NULL);
	/* Another program rewrites it through a new file and rename. */
	tmp = tl_path(f.dir, "mbox.new");
	tl_write(tmp, mb.p, mb.len);
	rename(tmp, f.path);
	tl_log_clear();
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.index_use == MBOX_INDEX_REBUILT,
	    "replaced by an identical file: rescanned, UIDLs kept");
	ok(!tl_log_seen("UIDLs changed"), "no UIDL warning then");

	/* Same size, one byte changed in message 7's subject. */
	{
		char *p = strstr((char *)mb.p, "message 7\n");

		p[0] = 'M';
		tl_write(f.path, mb.p, mb.len);
	}
	ok(session(&f, &u2, &st) == MBOX_OK &&
	    st.index_use == MBOX_INDEX_REBUILT,
	    "modified in place, same size: rescanned");
	for (i = 0; i < 30; i++) {
		line_of(&u, (int)i, a, sizeof(a));
		line_of(&u2, (int)i, b, sizeof(b));
		diff += strcmp(a, b) != 0;
	}
	line_of(&u, 7, a, sizeof(a));
	line_of(&u2, 7, b, sizeof(b));
	ok(diff == 1 && strcmp(a, b) != 0, "only the changed message has a "
	    "new UIDL (%d changed)", diff);

	/* Converted to CRLF: every UIDL changes; that must be logged. */
	for (i = 0; i < mb.len; i++) {
		if (mb.p[i] == '\n')
			tl_buf_add(&crlf, "\r", 1);
		tl_buf_add(&crlf, &mb.p[i], 1);
	}
	tl_write(f.path, crlf.p, crlf.len);
	tl_log_clear();
	ok(session(&f, &u2, &st) == MBOX_OK && st.uidls_changed == 30 &&
	    tl_log_seen("UIDLs changed"), "mass UIDL change is logged");
	tl_buf_free(&mb);
	tl_buf_free(&crlf);
	tl_buf_free(&u);
	tl_buf_free(&u2);
}

static void
test_index_dirs(void)
{
	struct fx f;
	struct tl_buf mb = { 0 }, u = { 0 }, u2 = { 0 };
	struct mbox_stats st;
	struct stat sb;

	fx_init(&f, false);
	build(&mb, 10, "n");
	tl_write(f.path, mb.p, mb.len);
	ok(session(&f, &u, &st) == MBOX_OK && st.index_use == MBOX_INDEX_NONE,
	    "no index_dir: works");
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.bytes_scanned == mb.len, "no index_dir: rescans, same UIDLs");
	f.cfg.index_dir = f.idx;
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    stat(f.idx, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    (sb.st_mode & 07777) == 0700, "missing index_dir created 0700");
	ok(session(&f, NULL, &st) == MBOX_OK && st.index_use == MBOX_INDEX_WARM,
	    "and used");
	f.cfg.index_dir = f.path;	/* a file, not a directory */
	ok(session(&f, &u2, &st) == MBOX_OK && tl_buf_eq(&u, &u2) &&
	    st.index_use == MBOX_INDEX_NONE, "index_dir not a directory: works");

	/* Not writable (immutable works even for root): no index, no
	 * error, a session lock next to the mailbox instead. */
	f.cfg.index_dir = f.idx;
	{
		int dfd = open(f.idx, O_RDONLY | O_DIRECTORY);
		/* The kernel moves an int, but the ioctl numbers say long:
		 * long, zeroed, keeps valgrind from flagging the other half. */
		long fl = 0, set = 0;
		struct mbox *m, *m2;

		if (dfd >= 0 && ioctl(dfd, FS_IOC_GETFLAGS, &fl) == 0 &&
		    (set = fl | FS_IMMUTABLE_FL,
		    ioctl(dfd, FS_IOC_SETFLAGS, &set) == 0)) {
			ok(mbox_open(&f.cfg, &m) == MBOX_OK, "read-only "
			    "index_dir: opens");
			tl_uidls(m, &u2);
			mbox_get_stats(m, &st);
			ok(tl_buf_eq(&u, &u2) && st.index_use == MBOX_INDEX_NONE &&
			    st.have_session_lock, "without the index, "
			    "same UIDLs, session lock elsewhere");
			is_int(mbox_open(&f.cfg, &m2), MBOX_ERR_INUSE,
			    "and it still excludes a second session");
			mbox_close(m);
			ioctl(dfd, FS_IOC_SETFLAGS, &fl);
		} else {
			ok(1, "# SKIP no immutable directories here");
		}
		if (dfd >= 0)
			close(dfd);
	}
	tl_buf_free(&mb);
	tl_buf_free(&u);
	tl_buf_free(&u2);
}

/* RETR msgno (1-based, no pseudo message in these mailboxes) must give
 * what the reference parser says the file holds now. */
static bool
retr_like_reference(struct mbox *m, const char *path, uint32_t msgno)
{
	struct tl_buf now = { 0 }, got = { 0 }, want = { 0 };
	struct tl_omsg *o = NULL;
	size_t n;
	bool good;

	tl_read(path, &now);
	n = tl_oracle(now.p, now.len, MBOX_FMT_MBOXO, &o);
	good = msgno >= 1 && msgno <= n;
	if (good) {
		tl_stuff(&o[msgno - 1].served, &want);
		good = tl_retr(m, msgno, -1, &got) == MBOX_OK &&
		    tl_buf_eq(&got, &want);
	}
	tl_oracle_free(o, n);
	tl_buf_free(&now);
	tl_buf_free(&got);
	tl_buf_free(&want);
	return good;
}

/*
 * An edit inside the old part of the mailbox followed by new mail: the
 * index's cheap validation (sampled From_ lines, the last 64 KiB) cannot
 * see it, and the open takes the append path with a stale record for the
 * edited message. RETR or commit notices the mismatch; the session gets
 * MBOX_ERR_TEMP and the next open must rescan instead of loading the same
 * stale records again (which made every later commit or RETR fail, for
 * good). Two edits: a header rewritten at the same size (what Dovecot
 * and UW imapd do with their status padding) changes the digest commit
 * checks; a space turned into a LF keeps the offsets but adds a line,
 * so the message is one octet longer as served.
 */
static void
test_edit_then_append(void)
{
	static const struct {
		const char *name;
		const char *find, *repl;	/* same length */
		bool retr_first;		/* notice by RETR, then commit
						 * a later message in the
						 * same session */
	} edits[] = {
		{ "header rewritten, same size", "Subject: message 2\n",
		  "Subject: MESSAGE 2\n", false },
		{ "line added, same bytes", "body of e 2\n", "body\nof e 2\n",
		  true },
	};
	struct tl_buf mb = { 0 }, u = { 0 }, u2 = { 0 }, now = { 0 },
	    want = { 0 }, got = { 0 };
	struct mbox_stats st;
	struct mbox *m;
	struct fx f;
	uint32_t n;
	size_t e;
	char a[80], b[80];
	int del1[] = { 1 }, k, kept;
	char *p;

	for (e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		fx_init(&f, true);
		mb.len = 0;
		build(&mb, 2000, "e");
		tl_write(f.path, mb.p, mb.len);
		ok(session(&f, &u, &st) == MBOX_OK &&
		    st.index_use == MBOX_INDEX_NONE, "%s: first open, index "
		    "written", edits[e].name);
		p = memmem(mb.p, mb.len, edits[e].find, strlen(edits[e].find));
		if (p == NULL || (size_t)(p - (char *)mb.p) + 64 * 1024 >
		    mb.len) {
			ok(0, "%s: edit far from the end", edits[e].name);
			continue;
		}
		memcpy(p, edits[e].repl, strlen(edits[e].repl));
		tl_write(f.path, mb.p, mb.len);
		mb.len = 0;
		tl_gen_msg(&mb, "new@example.org", "new mail", "new body");
		tl_append(f.path, mb.p, mb.len);
		tl_read(f.path, &now);

		/* The session that trips over it: a clean TEMP. */
		tl_log_clear();
		if (mbox_open(&f.cfg, &m) != MBOX_OK) {
			ok(0, "%s: open after edit and append", edits[e].name);
			continue;
		}
		mbox_get_stats(m, &st);
		is_int(st.index_use, MBOX_INDEX_APPEND, "%s: the edit is not "
		    "seen by the append check", edits[e].name);
		if (edits[e].retr_first) {
			is_int(tl_retr(m, 3, -1, &got), MBOX_ERR_TEMP,
			    "%s: RETR of the edited message: TEMP",
			    edits[e].name);
			ok(retr_like_reference(m, f.path, 4),
			    "%s: the session goes on, RETR 4 works",
			    edits[e].name);
			/* A commit that does not reach the edited message
			 * succeeds, and must not vouch for the index. */
			mbox_dele(m, 5);
			ok(mbox_commit(m, &n) == MBOX_OK && n == 1,
			    "%s: DELE 5 committed", edits[e].name);
			tl_read(f.path, &now);
		} else {
			mbox_dele(m, 1);
			is_int(mbox_commit(m, &n), MBOX_ERR_TEMP,
			    "%s: commit of DELE 1: TEMP", edits[e].name);
			tl_read(f.path, &got);
			ok(tl_buf_eq(&got, &now), "%s: mailbox left as it was",
			    edits[e].name);
		}
		mbox_close(m);
		ok(tl_log_seen("rebuilt at the next login"),
		    "%s: logged", edits[e].name);

		/* The next session rescans and everything works again. */
		if (mbox_open(&f.cfg, &m) != MBOX_OK) {
			ok(0, "%s: open after the failure", edits[e].name);
			continue;
		}
		mbox_get_stats(m, &st);
		ok(st.index_use == MBOX_INDEX_REBUILT &&
		    st.bytes_scanned == now.len, "%s: next open rescans the "
		    "whole mailbox", edits[e].name);
		tl_uidls(m, &u2);
		for (k = 0, kept = 0; k < 2000; k++) {
			if (k == 2 || (edits[e].retr_first && k == 4))
				continue;
			line_of(&u, k, a, sizeof(a));
			line_of(&u2, edits[e].retr_first && k > 4 ? k - 1 : k,
			    b, sizeof(b));
			kept += strcmp(a, b) == 0;
		}
		is_int(kept, 1999 - (edits[e].retr_first ? 1 : 0),
		    "%s: the other messages keep their UIDLs", edits[e].name);
		ok(retr_like_reference(m, f.path, 3), "%s: RETR of the edited "
		    "message works", edits[e].name);
		mbox_dele(m, 1);
		tl_expect_deleted(&now, MBOX_FMT_MBOXO, del1, 1, &want);
		ok(mbox_commit(m, &n) == MBOX_OK && n == 1, "%s: commit of "
		    "DELE 1 works", edits[e].name);
		mbox_close(m);
		tl_read(f.path, &got);
		ok(tl_buf_eq(&got, &want), "%s: exactly message 1 gone",
		    edits[e].name);
		ok(session(&f, NULL, &st) == MBOX_OK &&
		    st.index_use == MBOX_INDEX_WARM, "%s: and the index is "
		    "trusted again", edits[e].name);
	}
	tl_buf_free(&mb);
	tl_buf_free(&u);
	tl_buf_free(&u2);
	tl_buf_free(&now);
	tl_buf_free(&want);
	tl_buf_free(&got);
}

int
main(void)
{
	test_format_and_twins();
	test_warm_and_append();
	test_deletions();
	test_bad_indexes();
	test_rewrites();
	test_edit_then_append();
	test_index_dirs();
	return tap_done();
}
