/*
 * test-mbox-expunge.c - mbox_commit: exactly the deleted messages go,
 * byte for byte everything else stays (preamble, pseudo message, mail
 * delivered during the session); a mailbox changed in any other way is
 * left alone; a full disk (tmpfs, as root) leaves it byte-identical;
 * leftover or foreign journals are handled at open.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mbox.h"
#include "mbox_int.h"
#include "mbox_testlib.h"
#include "tap.h"

/* The mailbox every case starts from: a preamble, the pseudo message,
 * six messages (one CRLF, one with ">From ", the last without a final
 * newline). */
static void
base_mbox(struct tl_buf *b)
{
	tl_buf_adds(b, "preamble line\n\n");
	tl_buf_adds(b, "From MAILER-DAEMON Thu Jan  1 00:00:00 2024\nSubject: "
	    "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1 5\n"
	    "\nThis text is part of the internal format.\n\n");
	tl_gen_msg(b, "one@x", "1", "first");
	tl_buf_adds(b, "From two@x Thu Jan  1 00:00:02 2024\r\nSubject: 2\r\n"
	    "\r\ncrlf body\r\n\r\n");
	tl_gen_msg(b, "three@x", "3", ">From quoted\n.dot");
	tl_gen_msg(b, "four@x", "4", "fourth");
	tl_gen_msg(b, "five@x", "5", "fifth");
	tl_buf_adds(b, "From six@x Thu Jan  1 00:00:06 2024\nSubject: 6\n\n"
	    "no final newline");
}

/* Every message of the reopened mailbox is served as the reference
 * parser says it should be. */
static bool
serves_like_reference(const char *path, const char *idx, uint32_t want)
{
	struct mbox_config cfg;
	struct tl_buf f = { 0 };
	struct mbox *m = NULL;
	bool good;

	tl_read(path, &f);
	tl_cfg(&cfg, path, idx);
	good = mbox_open(&cfg, &m) == MBOX_OK;
	good = good && mbox_count(m) == want && tl_check_served(m, &f) == NULL;
	mbox_close(m);
	tl_buf_free(&f);
	return good;
}

static void
test_deletion_sets(void)
{
	static const struct {
		const char *name;
		int del[6], ndel;
	} sets[] = {
		{ "none", { 0 }, 0 },
		{ "the first", { 1 }, 1 },
		{ "a middle one", { 3 }, 1 },
		{ "the last (no final newline)", { 6 }, 1 },
		{ "two apart", { 2, 5 }, 2 },
		{ "adjacent ones", { 3, 4 }, 2 },
		{ "all", { 1, 2, 3, 4, 5, 6 }, 6 },
	};
	struct tl_buf orig = { 0 }, want = { 0 }, got = { 0 };
	size_t s;
	int k, with_idx;

	base_mbox(&orig);
	for (with_idx = 1; with_idx >= 0; with_idx--)
	for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		const char *dir = tl_tmpdir();
		char *path = tl_path(dir, "mbox");
		char *idx = with_idx ? tl_path(dir, "idx") : NULL;
		const char *how = with_idx ? "index_dir" : "no index_dir";
		struct mbox_config cfg;
		struct mbox_stats st;
		struct mbox *m;
		uint32_t n = 99;

		tl_write(path, orig.p, orig.len);
		tl_cfg(&cfg, path, idx);
		if (mbox_open(&cfg, &m) != MBOX_OK) {
			ok(0, "open");
			continue;
		}
		for (k = 0; k < sets[s].ndel; k++)
			mbox_dele(m, (uint32_t)sets[s].del[k]);
		ok(mbox_count(m) == 6 && mbox_commit(m, &n) == MBOX_OK &&
		    n == (uint32_t)sets[s].ndel, "delete %s (%s): commit",
		    sets[s].name, how);
		mbox_close(m);
		tl_expect_deleted(&orig, MBOX_FMT_MBOXO, sets[s].del,
		    sets[s].ndel, &want);
		tl_read(path, &got);
		ok(tl_buf_eq(&got, &want), "delete %s (%s): exactly those bytes gone",
		    sets[s].name, how);
		ok(serves_like_reference(path, idx, 6 - (uint32_t)sets[s].ndel),
		    "delete %s (%s): survivors served intact", sets[s].name, how);
		is_int(tl_count_files(dir), 2,
		    "delete %s (%s): no journal or lock left", sets[s].name, how);
		if (with_idx) {
			is_int(tl_count_files(idx), 2,
			    "delete %s: index and session file only", sets[s].name);
			tl_cfg(&cfg, path, idx);
			ok(mbox_open(&cfg, &m) == MBOX_OK, "reopen");
			mbox_get_stats(m, &st);
			mbox_close(m);
			ok(st.index_use == MBOX_INDEX_WARM && st.bytes_scanned == 0,
			    "delete %s: next open is warm", sets[s].name);
		}
	}
	tl_buf_free(&orig);
	tl_buf_free(&want);
	tl_buf_free(&got);
}

static void
test_delivery_during_session(void)
{
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "mbox"), *idx = tl_path(dir, "idx");
	struct tl_buf orig = { 0 }, want = { 0 }, got = { 0 }, late = { 0 };
	struct mbox_config cfg;
	struct mbox_stats st;
	struct mbox *m;
	int del[] = { 1, 6 };
	uint32_t n;

	base_mbox(&orig);
	tl_write(path, orig.p, orig.len);
	tl_cfg(&cfg, path, idx);
	ok(mbox_open(&cfg, &m) == MBOX_OK, "open");
	mbox_dele(m, 1);
	mbox_dele(m, 6);
	/* The previous last message has no final newline: a careful MDA
	 * adds one before its From_ line. */
	tl_buf_adds(&late, "\n");
	tl_gen_msg(&late, "late@x", "late", "delivered during the session");
	tl_append(path, late.p, late.len);
	ok(mbox_commit(m, &n) == MBOX_OK && n == 2,
	    "commit with mail delivered after the scan");
	mbox_close(m);
	tl_expect_deleted(&orig, MBOX_FMT_MBOXO, del, 2, &want);
	tl_buf_add(&want, late.p, late.len);
	tl_read(path, &got);
	ok(tl_buf_eq(&got, &want), "the new mail is kept, byte for byte");
	tl_cfg(&cfg, path, idx);
	mbox_open(&cfg, &m);
	mbox_get_stats(m, &st);
	mbox_close(m);
	is_int(st.index_use, MBOX_INDEX_APPEND,
	    "next open: index valid, only the new mail scanned");
	ok(serves_like_reference(path, idx, 5), "and served intact");
	tl_buf_free(&orig);
	tl_buf_free(&want);
	tl_buf_free(&got);
	tl_buf_free(&late);
}

/* Changes other than appends between open and commit: hands off. */
static void
test_changed_underneath(void)
{
	static const char *const what[] = {
		"another program expunged a message",
		"same-size change of a later From_ line",
		"replaced by rename",
		"truncated",
	};
	struct tl_buf orig = { 0 }, mod = { 0 }, got = { 0 };
	int w;

	base_mbox(&orig);
	for (w = 0; w < 4; w++) {
		const char *dir = tl_tmpdir();
		char *path = tl_path(dir, "mbox"), *idx = tl_path(dir, "idx");
		struct mbox_config cfg;
		struct mbox *m;
		uint32_t n = 99;
		int del[] = { 2 };
		char *p;

		tl_write(path, orig.p, orig.len);
		tl_cfg(&cfg, path, idx);
		mbox_open(&cfg, &m);
		mbox_dele(m, 4);
		mod.len = 0;
		tl_buf_add(&mod, orig.p, orig.len);
		switch (w) {
		case 0:
			tl_expect_deleted(&orig, MBOX_FMT_MBOXO, del, 1, &mod);
			tl_write(path, mod.p, mod.len);
			break;
		case 1:
			p = strstr((char *)mod.p, "From five@x");
			p[5] = 'F';
			tl_write(path, mod.p, mod.len);
			break;
		case 2: {
			char *tmp = tl_path(dir, "new");

			tl_write(tmp, mod.p, mod.len);
			rename(tmp, path);
			break;
		}
		default:
			mod.len = 100;
			tl_write(path, mod.p, mod.len);
			break;
		}
		is_int(mbox_commit(m, &n), MBOX_ERR_TEMP, "%s: TEMP", what[w]);
		mbox_close(m);
		tl_read(path, &got);
		ok(tl_buf_eq(&got, &mod) && n == 0, "%s: mailbox left as it was",
		    what[w]);
		is_int(tl_count_files(idx), 2, "%s: no journal left", what[w]);
	}
	tl_buf_free(&orig);
	tl_buf_free(&mod);
	tl_buf_free(&got);
}

static int acks;

static void
count_ack(void *ctx, uint32_t deleted)
{
	(void)deleted;
	(*(int *)ctx)++;
}

/*
 * Early acknowledgement, then another program (ignoring the locks)
 * changes a surviving message's header in place before the rewrite: the
 * deleted bytes were checked and the promise is kept; the changed bytes
 * are kept as they are, and the index is dropped so the next open
 * rescans.
 */
struct survivor_edit {
	const char *path;
	int acks;
};

static void
edit_survivor(void *ctx, uint32_t deleted)
{
	struct survivor_edit *e = ctx;
	struct tl_buf b = { 0 };
	char *p;

	(void)deleted;
	e->acks++;
	tl_read(e->path, &b);
	p = strstr((char *)b.p, "Subject: 5");
	if (p != NULL) {
		p[9] = '9';
		tl_write(e->path, b.p, b.len);
	}
	tl_buf_free(&b);
}

static void
test_early_survivor_changed(void)
{
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "mbox"), *idx = tl_path(dir, "idx");
	struct tl_buf orig = { 0 }, want = { 0 }, got = { 0 };
	struct survivor_edit e = { path, 0 };
	struct mbox_config cfg;
	struct mbox *m;
	uint32_t n = 0;
	int del[] = { 1 };
	char *p;

	base_mbox(&orig);
	tl_write(path, orig.p, orig.len);
	tl_cfg(&cfg, path, idx);
	cfg.commit_ack_min = 1;
	ok(mbox_open(&cfg, &m) == MBOX_OK && mbox_dele(m, 1) == MBOX_OK,
	    "survivor changed: open, DELE 1");
	tl_log_clear();
	ok(mbox_commit_ack(m, &n, edit_survivor, &e) == MBOX_OK && n == 1 &&
	    e.acks == 1, "survivor changed after the acknowledgement: the "
	    "expunge completes");
	ok(tl_log_seen("changed outside the deleted messages"),
	    "and says the mailbox changed, index dropped");
	mbox_close(m);
	tl_expect_deleted(&orig, MBOX_FMT_MBOXO, del, 1, &want);
	p = strstr((char *)want.p, "Subject: 5");
	p[9] = '9';
	tl_read(path, &got);
	ok(tl_buf_eq(&got, &want), "exactly message 1 gone, the edit kept");
	ok(serves_like_reference(path, idx, 5), "the next open rescans: the "
	    "5 others served as the file now says");
	tl_buf_free(&orig);
	tl_buf_free(&want);
	tl_buf_free(&got);
}

/* Fill a filesystem so that about keep bytes remain free. */
static void
fill(const char *dir, unsigned long long keep)
{
	struct statvfs sv;
	char *filler = tl_path(dir, "filler");
	unsigned long long avail;
	static char zero[65536];
	int fd;

	if (statvfs(dir, &sv) != 0)
		return;
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	while (avail > keep + sizeof(zero)) {
		if (write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero))
			break;
		avail -= sizeof(zero);
	}
	close(fd);
}

static bool
mount_small(const char *dir, const char *size)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
	return geteuid() == 0 && mount("tmpfs", dir, "tmpfs", 0, opts) == 0;
}

static void
test_enospc(void)
{
	const char *base = tl_tmpdir();
	char *fs = tl_path(base, "fs"), *path, *idx;
	struct tl_buf orig = { 0 }, got = { 0 }, body = { 0 };
	struct mbox_config cfg;
	struct mbox *m;
	uint32_t n = 99;
	int i;

	mkdir(fs, 0755);
	if (!mount_small(fs, "2m")) {
		printf("ok %d - # SKIP ENOSPC tests need root and tmpfs\n", ++tap_n);
		return;
	}
	for (i = 0; i < 2000; i++)
		tl_buf_adds(&body, "a line of body text, about forty bytes\n");
	for (i = 0; i < 8; i++)
		tl_gen_msg(&orig, "big@x", i % 2 ? "odd" : "even",
		    (const char *)body.p);

	/* 1: journal next to the mailbox, on the full filesystem. */
	path = tl_path(fs, "mbox");
	tl_write(path, orig.p, orig.len);
	fill(fs, 64 * 1024);
	tl_cfg(&cfg, path, NULL);
	ok(mbox_open(&cfg, &m) == MBOX_OK && mbox_count(m) == 8,
	    "open on a nearly full filesystem");
	mbox_dele(m, 1);
	is_int(mbox_commit(m, &n), MBOX_ERR_TEMP, "ENOSPC: TEMP");
	tl_read(path, &got);
	ok(tl_buf_eq(&got, &orig) && n == 0, "ENOSPC: mailbox byte-identical");
	is_int(tl_count_files(fs), 3, "ENOSPC: no journal left behind");
	unlink(tl_path(fs, "filler"));
	ok(mbox_commit(m, &n) == MBOX_OK && n == 1,
	    "space freed: the same session commits");
	mbox_close(m);
	ok(serves_like_reference(path, NULL, 7), "7 messages left, intact");

	/* 1b: the same with the early acknowledgement: the reservation of
	 * the journal's room fails before anything is promised. */
	tl_write(path, orig.p, orig.len);
	fill(fs, 64 * 1024);
	tl_cfg(&cfg, path, NULL);
	cfg.commit_ack_min = 1;
	acks = 0;
	ok(mbox_open(&cfg, &m) == MBOX_OK, "early ack: open");
	mbox_dele(m, 1);
	is_int(mbox_commit_ack(m, &n, count_ack, &acks), MBOX_ERR_TEMP,
	    "early ack, ENOSPC: TEMP");
	tl_read(path, &got);
	ok(tl_buf_eq(&got, &orig) && acks == 0 && tl_count_files(fs) == 3,
	    "early ack, ENOSPC: never acknowledged, mailbox byte-identical, "
	    "no journal left");
	unlink(tl_path(fs, "filler"));
	ok(mbox_commit_ack(m, &n, count_ack, &acks) == MBOX_OK && n == 1 &&
	    acks == 1, "early ack, space freed: acknowledged and committed");
	mbox_close(m);
	ok(serves_like_reference(path, NULL, 7), "7 messages left, intact");
	umount2(fs, MNT_DETACH);

	/* 2: index_dir (and journal) on the full filesystem only. */
	if (!mount_small(fs, "1m")) {
		ok(0, "remount");
		return;
	}
	path = tl_path(base, "mbox2");
	idx = tl_path(fs, "idx");
	tl_write(path, orig.p, orig.len);
	tl_cfg(&cfg, path, idx);
	ok(mbox_open(&cfg, &m) == MBOX_OK, "open with index on a small fs");
	fill(fs, 16 * 1024);
	mbox_dele(m, 2);
	is_int(mbox_commit(m, &n), MBOX_ERR_TEMP,
	    "index_dir full: TEMP");
	tl_read(path, &got);
	ok(tl_buf_eq(&got, &orig), "index_dir full: mailbox byte-identical");
	is_int(tl_count_files(idx), 2, "index_dir full: no journal left");
	/* With room again the journal crosses filesystems: copy_file_range
	 * refuses, the buffer copy takes over. */
	unlink(tl_path(fs, "filler"));
	ok(mbox_commit(m, &n) == MBOX_OK && n == 1,
	    "journal on another filesystem: commit");
	mbox_close(m);
	{
		int del[] = { 2 };
		struct tl_buf want = { 0 };

		tl_expect_deleted(&orig, MBOX_FMT_MBOXO, del, 1, &want);
		tl_read(path, &got);
		ok(tl_buf_eq(&got, &want) && serves_like_reference(path, idx, 7),
		    "exactly message 2 gone, the rest intact");
		tl_buf_free(&want);
	}
	umount2(fs, MNT_DETACH);
	tl_buf_free(&orig);
	tl_buf_free(&got);
	tl_buf_free(&body);
}

static void
test_stray_journals(void)
{
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "mbox"), *idx = tl_path(dir, "idx");
	struct tl_buf orig = { 0 }, got = { 0 };
	struct mbox_config cfg;
	struct mbox *m;

	base_mbox(&orig);
	tl_write(path, orig.p, orig.len);
	mkdir(idx, 0700);
	tl_write(tl_path(idx, "mbox.journal"), "PSTNJRN1 but not really", 23);
	tl_write(tl_path(idx, "mbox.journal.tmp"), "half", 4);
	tl_write(tl_path(dir, ".mbox.postern-journal"), "", 0);
	tl_cfg(&cfg, path, idx);
	tl_log_clear();
	ok(mbox_open(&cfg, &m) == MBOX_OK && mbox_count(m) == 6,
	    "open with junk journals");
	mbox_close(m);
	tl_read(path, &got);
	ok(tl_buf_eq(&got, &orig), "mailbox untouched");
	ok(!tl_exists(tl_path(idx, "mbox.journal")) &&
	    !tl_exists(tl_path(idx, "mbox.journal.tmp")) &&
	    !tl_exists(tl_path(dir, ".mbox.postern-journal")) &&
	    tl_log_seen("incomplete journal removed"),
	    "uncommitted journals removed, with a log line");

	/* A whole journal header of another version (version 1 hashed
	 * with SHA-256): perhaps committed, so neither applied nor
	 * removed; the mailbox is not served until a human looks. */
	{
		uint8_t jb[MBOX_JOURNAL_HDR];
		int r;

		memset(jb, 0, sizeof(jb));
		memcpy(jb, "PSTNJRN1", 8);
		jb[8] = 1;				/* version 1 */
		jb[13] = MBOX_JOURNAL_HDR >> 8;		/* header size */
		tl_write(tl_path(idx, "mbox.journal"), jb, sizeof(jb));
		tl_log_clear();
		r = mbox_open(&cfg, &m);
		if (r == MBOX_OK)
			mbox_close(m);
		tl_read(path, &got);
		ok(r == MBOX_ERR_TEMP && tl_buf_eq(&got, &orig) &&
		    tl_exists(tl_path(idx, "mbox.journal")) &&
		    tl_log_seen("another postern version"),
		    "journal of another version: TEMP, kept, mailbox untouched");
		unlink(tl_path(idx, "mbox.journal"));
	}

	/* Entries we never make: a symlink, a file of another user. */
	if (symlink(path, tl_path(dir, ".mbox.postern-journal")) != 0)
		abort();
	tl_write(tl_path(idx, "mbox.journal"), "x", 1);
	if (geteuid() == 0 &&
	    chown(tl_path(idx, "mbox.journal"), 4242, 4242) != 0)
		abort();
	cfg.uid = getuid();
	tl_log_clear();
	ok(mbox_open(&cfg, &m) == MBOX_OK && mbox_count(m) == 6,
	    "open with a symlinked and a foreign journal");
	mbox_close(m);
	tl_read(path, &got);
	ok(tl_buf_eq(&got, &orig) && tl_log_seen("symbolic link, ignored"),
	    "the symlink is not followed, the mailbox untouched");
	if (geteuid() == 0)
		ok(tl_exists(tl_path(idx, "mbox.journal")) &&
		    tl_log_seen("not a journal of ours"),
		    "another user's file is left alone");
	tl_buf_free(&orig);
	tl_buf_free(&got);
}

int
main(void)
{
	test_deletion_sets();
	test_delivery_during_session();
	test_changed_underneath();
	test_enospc();
	test_early_survivor_changed();
	test_stray_journals();
	return tap_done();
}
