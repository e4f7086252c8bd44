/*
 * test-mbox-eio.c - I/O errors during expunge. Linked with the fault
 * build of the engine (tests/unit/libmbox_fault.a): every write, copy
 * chunk, fsync, truncate, rename and unlink is a numbered point, and for
 * every k that a commit passes, a session commits with the k-th point
 * failing with EIO (once; the disk refused that write or fsync).
 *
 * Before the commit point (the rename of the journal) the commit must
 * answer MBOX_ERR_TEMP and leave the mailbox byte-identical with no
 * journal. After it, the commit may answer MBOX_ERR_TEMP (the rewrite
 * failed half-way, or the rename was not made durable) or MBOX_OK (only
 * the clean-up or the index failed); either way the next open completes
 * the deletions from the journal. In every case each message that was
 * not deleted, including mail delivered during the session, is there
 * exactly once, served intact and under its old UIDL.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbox.h"
#include "mbox_fault.h"
#include "mbox_testlib.h"
#include "tap.h"

/* Small I/O chunks: a ~7 KB mailbox then passes ~80 fault points. */
#define CHUNK	256

struct scen {
	const char *name;
	bool index;
	int del[4], ndel;
	bool deliver;		/* an MDA appends during the session */
	bool early;		/* acknowledged at the intent (commit_ack_min) */
};

struct ctx {
	const struct scen *sc;
	const char *dir;
	char *path, *idx, *journal, *journal_tmp;
	struct tl_buf orig, expunged, delivered, uidl_before;
	int acked;		/* 0, or 1/2: the commit's callback ran with
				 * the mailbox untouched/already written */
};

static void
cfg_of(const struct ctx *c, struct mbox_config *cfg)
{
	tl_cfg(cfg, c->path, c->sc->index ? c->idx : NULL);
	cfg->log = NULL;	/* hundreds of sessions; the outcome is checked */
	if (c->sc->early)
		cfg->commit_ack_min = 1;
}

/* What the client is told at an early commit point. */
static void
acked(void *ctx, uint32_t deleted)
{
	struct ctx *c = ctx;
	struct tl_buf want = { 0 };

	(void)deleted;
	tl_buf_add(&want, c->orig.p, c->orig.len);
	tl_buf_add(&want, c->delivered.p, c->delivered.len);
	c->acked = tl_file_is(c->path, &want) ? 1 : 2;
	tl_buf_free(&want);
}

/* Fresh start: the base mailbox and, with index_dir, a warm index. */
static void
reset(struct ctx *c)
{
	struct mbox_config cfg;
	struct mbox *m;

	tl_rm_rf(c->dir);
	mkdir(c->dir, 0755);
	tl_write(c->path, c->orig.p, c->orig.len);
	cfg_of(c, &cfg);
	mbox_fault_set(0, CHUNK);
	if (mbox_open(&cfg, &m) != MBOX_OK)
		abort();
	tl_uidls(m, &c->uidl_before);
	mbox_close(m);
}

/*
 * One session: open, DELE, maybe a delivery, commit with point eio_at
 * failing (0: none). Returns the commit's answer; *passed: the fault
 * points the commit went through.
 */
static int
session_errno(struct ctx *c, long at, int err, long *passed);

static int
session(struct ctx *c, long eio_at, long *passed)
{
	return session_errno(c, eio_at, EIO, passed);
}

static int
session_errno(struct ctx *c, long eio_at, int err, long *passed)
{
	struct mbox_config cfg;
	struct mbox *m;
	uint32_t n;
	int i, r;

	*passed = 0;
	cfg_of(c, &cfg);
	mbox_fault_set(0, CHUNK);
	if (mbox_open(&cfg, &m) != MBOX_OK)
		return -100;
	for (i = 0; i < c->sc->ndel; i++)
		mbox_dele(m, (uint32_t)c->sc->del[i]);
	if (c->sc->deliver)
		tl_append(c->path, c->delivered.p, c->delivered.len);
	c->acked = 0;
	mbox_fault_set_errno(eio_at, err, CHUNK);
	r = mbox_commit_ack(m, &n, acked, c);
	*passed = mbox_fault_count();
	mbox_fault_set(0, CHUNK);
	mbox_close(m);
	return r;
}

/*
 * The next open after the failed (or half-failed) commit: it must work,
 * finish a committed journal, and leave want on disk with nothing else
 * left behind; every message served as the reference parser says, the
 * survivors under their old UIDLs. NULL if all is well.
 */
static const char *
next_open(struct ctx *c, const struct tl_buf *want, bool expunged)
{
	struct tl_buf now = { 0 }, uidls = { 0 }, exp_uidls = { 0 };
	struct mbox_config cfg;
	struct mbox *m = NULL;
	const char *why = NULL;

	cfg_of(c, &cfg);
	mbox_fault_set(0, CHUNK);
	if (mbox_open(&cfg, &m) != MBOX_OK) {
		m = NULL;
		why = "the next open failed";
		goto out;
	}
	tl_read(c->path, &now);
	if (!tl_buf_eq(&now, want)) {
		why = expunged ? "the next open did not complete the expunge" :
		    "the mailbox changed";
		goto out;
	}
	if (tl_exists(c->journal) || tl_exists(c->journal_tmp)) {
		why = "journal left behind";
		goto out;
	}
	/* The survivors keep their UIDLs: all messages, or all but the
	 * deleted ones. */
	tl_uidls_without(&c->uidl_before, c->sc->del, expunged ? c->sc->ndel : 0,
	    &exp_uidls);
	tl_uidls(m, &uidls);
	if (uidls.len < exp_uidls.len ||
	    memcmp(uidls.p, exp_uidls.p, exp_uidls.len) != 0) {
		why = "UIDLs of surviving messages changed";
		goto out;
	}
	why = tl_check_served(m, &now);
out:
	mbox_close(m);
	tl_buf_free(&now);
	tl_buf_free(&uidls);
	tl_buf_free(&exp_uidls);
	return why;
}

/*
 * A commit that failed after its commit point (EIO at point k), then
 * the recovery failing at each of its points in turn: the open after
 * that must still complete the expunge exactly, and no journal may be
 * set aside as "dropped" (recovery must never mistake its own half
 * replay for another program's change). Returns the failures.
 */
static int
recovery_eio(struct ctx *c, long k, const struct tl_buf *want_new,
    long *tried)
{
	struct mbox_config cfg;
	struct mbox *m;
	const char *why;
	char *dropped;
	long j, passed;
	int bad = 0;

	dropped = malloc(strlen(c->journal) + 16);
	sprintf(dropped, "%s.dropped", c->journal);
	for (j = 1; j < 400; j++) {
		reset(c);
		if (session(c, k, &passed) != MBOX_ERR_TEMP ||
		    !tl_exists(c->journal))
			break;
		cfg_of(c, &cfg);
		mbox_fault_set_eio(j, CHUNK);
		if (mbox_open(&cfg, &m) == MBOX_OK)
			mbox_close(m);
		passed = mbox_fault_count();
		mbox_fault_set(0, CHUNK);
		if (passed < j)
			break;	/* the recovery has fewer points */
		(*tried)++;
		why = tl_exists(dropped) ? "a journal was set aside as dropped" :
		    next_open(c, want_new, true);
		if (why != NULL) {
			printf("# %s: EIO at commit point %ld, then at recovery "
			    "point %ld: %s\n", c->sc->name, k, j, why);
			bad++;
		}
	}
	free(dropped);
	return bad;
}

static void
run_scenario(const struct scen *sc)
{
	struct tl_buf now = { 0 }, want_old = { 0 }, want_new = { 0 };
	struct ctx c;
	long points, passed, k;
	int r, bad = 0, before = 0, after_temp = 0, after_ok = 0, nacked = 0;
	int rbad = 0;
	long rtried = 0;
	bool committed;
	const char *why;

	memset(&c, 0, sizeof(c));
	c.sc = sc;
	c.dir = tl_tmpdir();
	c.path = tl_path(c.dir, "mbox");
	c.idx = tl_path(c.dir, "idx");
	c.journal = sc->index ? tl_path(c.idx, "mbox.journal") :
	    tl_path(c.dir, ".mbox.postern-journal");
	c.journal_tmp = sc->index ? tl_path(c.idx, "mbox.journal.tmp") :
	    tl_path(c.dir, ".mbox.postern-journal.tmp");
	tl_gen_mbox(4242, 30, &c.orig);
	if (c.orig.len > 0 && c.orig.p[c.orig.len - 1] != '\n')
		tl_buf_adds(&c.orig, "\n");
	tl_expect_deleted(&c.orig, MBOX_FMT_MBOXO, sc->del, sc->ndel,
	    &c.expunged);
	if (sc->deliver)
		tl_gen_msg(&c.delivered, "mda@x", "delivered during the "
		    "session", "new mail");
	tl_buf_add(&want_old, c.orig.p, c.orig.len);
	tl_buf_add(&want_old, c.delivered.p, c.delivered.len);
	tl_buf_add(&want_new, c.expunged.p, c.expunged.len);
	tl_buf_add(&want_new, c.delivered.p, c.delivered.len);

	/* A commit without errors: its points, and that it works. */
	reset(&c);
	r = session(&c, 0, &points);
	tl_read(c.path, &now);
	ok(r == MBOX_OK && tl_buf_eq(&now, &want_new) && points >= 50,
	    "%s: a commit passes %ld fault points", sc->name, points);

	for (k = 1; k <= points; k++) {
		reset(&c);
		r = session(&c, k, &passed);
		tl_read(c.path, &now);
		committed = r == MBOX_ERR_TEMP && tl_exists(c.journal);
		if (passed < k) {
			printf("# %s: k=%ld: the commit stopped after %ld "
			    "points\n", sc->name, k, passed);
			bad++;
			continue;
		}
		if (c.acked != 0) {
			/* What the client was told must hold: the next
			 * open finds the messages deleted. */
			nacked++;
			why = !sc->early ? "acknowledged early without "
			    "commit_ack_min" : c.acked != 1 ? "acknowledged "
			    "after the mailbox was written" :
			    r == MBOX_OK ? (!tl_buf_eq(&now, &want_new) ? "MBOX_OK, "
			    "but the mailbox is not the expunged one" :
			    next_open(&c, &want_new, true)) :
			    r != MBOX_ERR_TEMP ? "the commit failed with "
			    "another error" : !tl_exists(c.journal) ?
			    "acknowledged, then the journal vanished" :
			    next_open(&c, &want_new, true);
			if (r == MBOX_OK)
				after_ok++;
			else
				after_temp++;
		} else if (r == MBOX_OK) {
			/* Only the clean-up after the rewrite failed. */
			after_ok++;
			why = !tl_buf_eq(&now, &want_new) ? "MBOX_OK, but the "
			    "mailbox is not the expunged one" :
			    next_open(&c, &want_new, true);
		} else if (r != MBOX_ERR_TEMP) {
			why = "the commit failed with another error";
		} else if (!tl_exists(c.journal)) {
			/* Before the commit point: nothing happened. */
			before++;
			why = !tl_buf_eq(&now, &want_old) ? "the mailbox was "
			    "changed before the commit point" :
			    tl_exists(c.journal_tmp) ? "temporary journal "
			    "left behind" : next_open(&c, &want_old, false);
		} else {
			/* After it: the next open finishes the job. */
			after_temp++;
			why = next_open(&c, &want_new, true);
		}
		if (why != NULL) {
			printf("# %s: EIO at point %ld (commit answered %d): "
			    "%s\n", sc->name, k, r, why);
			bad++;
		}
		/* Some of the states a failed commit leaves: the recovery
		 * failing too, at each of its points. */
		if (committed && why == NULL && after_temp % 8 == 1)
			rbad += recovery_eio(&c, k, &want_new, &rtried);
	}
	ok(rtried > 0 && rbad == 0, "%s: %ld recoveries failing at one of "
	    "their points, each completed by the next open", sc->name,
	    rtried);
	is_int(bad, 0, "%s: an I/O error at each of the %ld points: exact "
	    "outcome", sc->name, points);
	ok(before > 0, "%s: %d errors before the commit point: TEMP, "
	    "mailbox byte-identical", sc->name, before);
	ok(after_temp > 0, "%s: %d errors after it answered TEMP; the next "
	    "open completed the expunge", sc->name, after_temp);
	ok(after_ok > 0, "%s: %d errors in the clean-up only: MBOX_OK",
	    sc->name, after_ok);
	if (sc->early)
		ok(nacked > 0, "%s: %d errors after the early "
		    "acknowledgement: the next open completed the expunge",
		    sc->name, nacked);
	else
		is_int(nacked, 0, "%s: never acknowledged early", sc->name);
	tl_buf_free(&now);
	tl_buf_free(&want_old);
	tl_buf_free(&want_new);
	tl_buf_free(&c.orig);
	tl_buf_free(&c.expunged);
	tl_buf_free(&c.delivered);
	tl_buf_free(&c.uidl_before);
}

/* A file system that cannot reserve the journal's room (EOPNOTSUPP from
 * fallocate, the first point an early commit passes): the plain commit
 * takes over, answered after the rewrite. */
static void
test_no_fallocate(void)
{
	static const struct scen sc = { "no fallocate", true, { 1, 7 }, 2,
	    false, true };
	struct tl_buf now = { 0 }, want = { 0 };
	struct ctx c;
	long passed;
	int r;

	memset(&c, 0, sizeof(c));
	c.sc = &sc;
	c.dir = tl_tmpdir();
	c.path = tl_path(c.dir, "mbox");
	c.idx = tl_path(c.dir, "idx");
	c.journal = tl_path(c.idx, "mbox.journal");
	c.journal_tmp = tl_path(c.idx, "mbox.journal.tmp");
	tl_gen_mbox(4242, 30, &c.orig);
	if (c.orig.len > 0 && c.orig.p[c.orig.len - 1] != '\n')
		tl_buf_adds(&c.orig, "\n");
	tl_expect_deleted(&c.orig, MBOX_FMT_MBOXO, sc.del, sc.ndel, &want);
	reset(&c);
	r = session_errno(&c, 1, EOPNOTSUPP, &passed);
	tl_read(c.path, &now);
	ok(r == MBOX_OK && c.acked == 0 && tl_buf_eq(&now, &want) &&
	    !tl_exists(c.journal) && !tl_exists(c.journal_tmp),
	    "fallocate unsupported: the plain commit, answered after the "
	    "rewrite (%d, acked %d)", r, c.acked);
	tl_buf_free(&now);
	tl_buf_free(&want);
	tl_buf_free(&c.orig);
	tl_buf_free(&c.uidl_before);
}

int
main(void)
{
	static const struct scen scens[] = {
		{ "index_dir, first and a middle message", true, { 1, 7 }, 2,
		  false, false },
		{ "index_dir, mail delivered during the session", true,
		  { 5, 25 }, 2, true, false },
		{ "journal next to the mailbox, delivery", false, { 2, 3 }, 2,
		  true, false },
		{ "early ack, index_dir, first and a middle message", true,
		  { 1, 7 }, 2, false, true },
		{ "early ack, journal next to the mailbox, delivery", false,
		  { 2, 3 }, 2, true, true },
	};
	size_t i;

	/* Hundreds of sessions with several fsyncs each: cheap on tmpfs. */
	if (access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	for (i = 0; i < sizeof(scens) / sizeof(scens[0]); i++)
		run_scenario(&scens[i]);
	test_no_fallocate();
	return tap_done();
}
