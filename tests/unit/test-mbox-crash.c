/*
 * test-mbox-crash.c - crash safety of expunge. Linked with the fault
 * build of the engine (tests/unit/libmbox_fault.a): every write, copy
 * chunk, fsync, truncate, rename and unlink is a numbered point, and a
 * forked child runs a real session (open, DELE, commit) that raises
 * SIGKILL at point k, for every k the expunge passes. Then, sometimes,
 * an "MDA" appends mail, sometimes the recovery itself is killed at
 * each of its points, and finally a normal open must recover. The
 * mailbox must then be exactly the old one or exactly the expunged one,
 * followed by every appended message once, with no journal or lock left
 * and with the surviving messages' UIDLs unchanged.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	int append_every;	/* append after the crash when k % n == 0 */
	int every;		/* kill at every nth point of the commit */
	int nested;		/* at that many of them, kill the recovery
				 * too, at each of its points in turn */
	bool early;		/* acknowledged at the intent (commit_ack_min) */
};

struct ctx {
	const struct scen *sc;
	const char *dir;
	char *path, *idx;
	char *acked;		/* "1" written there by the commit's
				 * callback, "0" if the mailbox had already
				 * been written to by then */
	struct tl_buf orig, expunged, uidl_before;
	struct tl_buf appended;	/* everything appended so far */
	int napp;
};

static void
cfg_of(struct ctx *c, struct mbox_config *cfg)
{
	tl_cfg(cfg, c->path, c->sc->index ? c->idx : NULL);
	if (c->sc->early)
		cfg->commit_ack_min = 1;
}

/* The commit point of an early-acknowledged commit: what a client is
 * told. The mailbox must not have been touched yet. */
static void
acked(void *ctx, uint32_t deleted)
{
	struct ctx *c = ctx;

	(void)deleted;
	tl_write(c->acked, tl_file_is(c->path, &c->orig) ? "1" : "0", 1);
}

/* The base mailbox: generated, ending with a newline as MDAs leave it. */
static void
base(struct tl_buf *b)
{
	tl_gen_mbox(4242, 30, b);
	if (b->len > 0 && b->p[b->len - 1] != '\n')
		tl_buf_adds(b, "\n");
}

/* A fresh directory for one scenario, with the base mailbox. */
static void
ctx_init(struct ctx *c, const struct scen *sc)
{
	memset(c, 0, sizeof(*c));
	c->sc = sc;
	c->dir = tl_tmpdir();
	c->path = tl_path(c->dir, "mbox");
	c->idx = tl_path(c->dir, "idx");
	c->acked = malloc(strlen(c->dir) + 8);
	sprintf(c->acked, "%s.acked", c->dir);
	base(&c->orig);
}

static void
mda_append(struct ctx *c)
{
	struct tl_buf m = { 0 };
	char who[32];

	snprintf(who, sizeof(who), "mda%d@x", ++c->napp);
	tl_gen_msg(&m, who, "delivered after a crash", "new mail");
	tl_append(c->path, m.p, m.len);
	tl_buf_add(&c->appended, m.p, m.len);
	tl_buf_free(&m);
}

/* Fresh start: the base mailbox, a warm index, nothing else. */
static void
reset(struct ctx *c)
{
	struct mbox_config cfg;
	struct mbox *m;

	tl_rm_rf(c->dir);
	mkdir(c->dir, 0755);
	tl_write(c->path, c->orig.p, c->orig.len);
	if (c->acked != NULL)
		unlink(c->acked);
	c->appended.len = 0;
	c->napp = 0;
	cfg_of(c, &cfg);
	mbox_fault_set(0, CHUNK);
	if (mbox_open(&cfg, &m) != MBOX_OK)
		abort();
	tl_uidls(m, &c->uidl_before);
	mbox_close(m);
}

/* Run fn in a child with fault point k armed; true if it was killed. */
static bool
killed_at(struct ctx *c, long k, bool commit)
{
	struct mbox_config cfg;
	int status, i;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct mbox *m;
		uint32_t n;

		cfg_of(c, &cfg);
		cfg.log = NULL;
		mbox_fault_set(k, CHUNK);
		if (mbox_open(&cfg, &m) != MBOX_OK)
			_exit(2);
		if (commit) {
			for (i = 0; i < c->sc->ndel; i++)
				mbox_dele(m, (uint32_t)c->sc->del[i]);
			if (mbox_commit_ack(m, &n, acked, c) != MBOX_OK)
				_exit(3);
		}
		mbox_close(m);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return true;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("# child (k=%ld, %s) ended with status 0x%x\n", k,
		    commit ? "commit" : "recovery", status);
	return false;
}

/* How many fault points a whole commit passes. */
static long
count_points(struct ctx *c)
{
	struct mbox_config cfg;
	struct mbox *m;
	uint32_t n;
	long points;
	int i;

	reset(c);
	cfg_of(c, &cfg);
	mbox_fault_set(0, CHUNK);
	if (mbox_open(&cfg, &m) != MBOX_OK)
		return 0;
	for (i = 0; i < c->sc->ndel; i++)
		mbox_dele(m, (uint32_t)c->sc->del[i]);
	mbox_fault_set(0, CHUNK);
	if (mbox_commit(m, &n) != MBOX_OK)
		points = 0;
	else
		points = mbox_fault_count();
	mbox_close(m);
	return points;
}

/* After recovery: which outcome, and is everything else right? */
static const char *
verify(struct ctx *c, int *outcome)
{
	struct tl_buf now = { 0 }, want_old = { 0 }, want_new = { 0 },
	    uidls = { 0 }, exp_uidls = { 0 };
	struct mbox_config cfg;
	struct mbox *m = NULL;
	const char *why = NULL;

	tl_read(c->path, &now);
	tl_buf_add(&want_old, c->orig.p, c->orig.len);
	tl_buf_add(&want_old, c->appended.p, c->appended.len);
	tl_buf_add(&want_new, c->expunged.p, c->expunged.len);
	tl_buf_add(&want_new, c->appended.p, c->appended.len);
	if (tl_buf_eq(&now, &want_new))
		*outcome = 1;
	else if (tl_buf_eq(&now, &want_old))
		*outcome = 0;
	else {
		why = "mailbox is neither the old nor the expunged one";
		goto out;
	}
	if (tl_exists(tl_path(c->dir, "mbox.lock")))
		why = "dot-lock left behind";
	else if (tl_count_files(c->dir) != 2 ||
	    (c->sc->index && tl_count_files(c->idx) != 2))
		why = "journal or temporary file left behind";
	if (why != NULL)
		goto out;

	/* UIDLs: the survivors keep theirs. */
	tl_uidls_without(&c->uidl_before, c->sc->del,
	    *outcome == 1 ? c->sc->ndel : 0, &exp_uidls);
	cfg_of(c, &cfg);
	if (mbox_open(&cfg, &m) != MBOX_OK) {
		why = "cannot open after recovery";
		goto out;
	}
	tl_uidls(m, &uidls);
	if (uidls.len < exp_uidls.len ||
	    memcmp(uidls.p, exp_uidls.p, exp_uidls.len) != 0) {
		why = "UIDLs of surviving messages changed";
		goto out;
	}
	/* Every message, old and appended, served as the reference says. */
	why = tl_check_served(m, &now);
out:
	mbox_close(m);
	tl_buf_free(&now);
	tl_buf_free(&want_old);
	tl_buf_free(&want_new);
	tl_buf_free(&uidls);
	tl_buf_free(&exp_uidls);
	return why;
}

/* Kill the recovery too at n commit points spread over the second half,
 * where the journal exists: replay, rebuild with new mail, cleanup. */
static bool
nested_here(long iter, long iters, int n)
{
	int j;

	for (j = 0; j < n; j++)
		if (iter == iters / 2 + (iters / 2) * j / n)
			return true;
	return false;
}

static void
run_scenario(const struct scen *sc, long *first_journal_k)
{
	struct ctx c;
	struct mbox_config cfg;
	struct mbox *m;
	struct tl_buf ack = { 0 };
	long points, k, mk, iter, iters;
	int outcome = 0, counts[2] = { 0, 0 }, bad = 0, nested = 0, appended = 0;
	int nacked = 0;
	const char *why;

	ctx_init(&c, sc);
	tl_expect_deleted(&c.orig, MBOX_FMT_MBOXO, sc->del, sc->ndel,
	    &c.expunged);
	points = count_points(&c);
	printf("# %s: %zu bytes, %ld fault points\n", sc->name, c.orig.len,
	    points);
	ok(points >= 50, "%s: a commit passes %ld fault points", sc->name,
	    points);

	iters = (points + sc->every - 1) / sc->every;
	for (iter = 0, k = 1; k <= points; k += sc->every, iter++) {
		reset(&c);
		if (!killed_at(&c, k, true)) {
			printf("# %s: not killed at point %ld\n", sc->name, k);
			bad++;
			continue;
		}
		if (first_journal_k != NULL && *first_journal_k == 0 &&
		    tl_exists(tl_path(c.idx, "mbox.journal")))
			*first_journal_k = k;
		ack.len = 0;
		if (tl_exists(c.acked))
			tl_read(c.acked, &ack);
		if (sc->append_every > 0 && k % sc->append_every == 0) {
			mda_append(&c);
			appended++;
		}
		if (sc->nested > 0 && nested_here(iter, iters, sc->nested)) {
			/* Kill the recovery at each of its points in turn,
			 * with more mail arriving between attempts. */
			for (mk = 1; mk < 400 && killed_at(&c, mk, false); mk++) {
				nested++;
				if (mk % 4 == 0)
					mda_append(&c);
			}
		}
		cfg_of(&c, &cfg);
		mbox_fault_set(0, CHUNK);
		if (mbox_open(&cfg, &m) != MBOX_OK) {
			printf("# %s: k=%ld: open after the crash failed\n",
			    sc->name, k);
			bad++;
			continue;
		}
		mbox_close(m);
		if ((why = verify(&c, &outcome)) != NULL) {
			printf("# %s: k=%ld: %s\n", sc->name, k, why);
			bad++;
			continue;
		}
		if (ack.len > 0) {
			/* What the client was told must hold. */
			nacked++;
			why = !sc->early ? "acknowledged early without "
			    "commit_ack_min" : ack.p[0] != '1' ? "acknowledged "
			    "after the mailbox was written" : outcome != 1 ?
			    "acknowledged, but the messages were not deleted" :
			    NULL;
			if (why != NULL) {
				printf("# %s: k=%ld: %s\n", sc->name, k, why);
				bad++;
			}
		}
		counts[outcome]++;
	}
	if (sc->early)
		ok(nacked > 0 && nacked <= counts[1], "%s: %d kills after the "
		    "early acknowledgement, all expunged (%d in all)",
		    sc->name, nacked, counts[1]);
	tl_buf_free(&ack);
	is_int(bad, 0, "%s: each of %ld kill points (every %d of %ld) "
	    "recovers exactly", sc->name, (points + sc->every - 1) / sc->every,
	    sc->every, points);
	ok(counts[0] > 0 && counts[1] > 0, "%s: %d kills left the old mailbox, "
	    "%d the expunged one", sc->name, counts[0], counts[1]);
	if (sc->append_every > 0)
		ok(appended > 0, "%s: mail appended after %d crashes kept",
		    sc->name, appended);
	if (sc->nested > 0)
		ok(nested > 100, "%s: %d kills during recovery survived",
		    sc->name, nested);
	unlink(c.acked);
	free(c.acked);
	tl_buf_free(&c.orig);
	tl_buf_free(&c.expunged);
	tl_buf_free(&c.uidl_before);
	tl_buf_free(&c.appended);
}

/* A committed journal whose mailbox was replaced, damaged or changed by
 * another program: never applied. */
static void
test_journal_doubts(long jk)
{
	static const struct scen sc = { "doubt", true, { 1 }, 1, 0, 1, 0, false };
	struct ctx c;
	struct tl_buf now = { 0 }, j = { 0 };
	struct mbox_config cfg;
	struct mbox *m;
	char *jpath, *tmp;

	if (jk == 0) {
		ok(0, "no kill point with a committed journal found");
		return;
	}
	ctx_init(&c, &sc);
	jpath = tl_path(c.idx, "mbox.journal");

	/* Mailbox replaced by a copy (new inode): journal set aside. */
	reset(&c);
	killed_at(&c, jk, true);
	ok(tl_exists(jpath), "killed at point %ld: journal committed", jk);
	tmp = tl_path(c.dir, "copy");
	tl_read(c.path, &now);
	tl_write(tmp, now.p, now.len);
	rename(tmp, c.path);
	cfg_of(&c, &cfg);
	mbox_fault_set(0, CHUNK);
	tl_log_clear();
	ok(mbox_open(&cfg, &m) == MBOX_OK, "replaced mailbox opens");
	mbox_close(m);
	ok(!tl_exists(jpath) && tl_exists(tl_path(c.idx,
	    "mbox.journal.orphan")) && tl_log_seen("journal of another file"),
	    "the foreign journal is moved aside, not applied");

	/* A damaged journal: nothing is written, TEMP until repaired. */
	reset(&c);
	killed_at(&c, jk, true);
	tl_read(jpath, &j);
	j.p[j.len - 1] ^= 1;
	tl_write(jpath, j.p, j.len);
	tl_read(c.path, &now);
	ok(mbox_open(&cfg, &m) == MBOX_ERR_TEMP, "damaged journal: TEMP");
	tl_read(c.path, &j);
	ok(tl_buf_eq(&now, &j) && tl_exists(jpath),
	    "mailbox untouched, journal kept for a human");

	/* The index directory became read-only since: the journal there
	 * cannot be finished, so the mailbox is not served at all. */
	reset(&c);
	killed_at(&c, jk + 3, true);
	{
		int dfd = open(c.idx, O_RDONLY | O_DIRECTORY), fl = 0, set;

		if (dfd >= 0 && ioctl(dfd, FS_IOC_GETFLAGS, &fl) == 0 &&
		    (set = fl | FS_IMMUTABLE_FL,
		    ioctl(dfd, FS_IOC_SETFLAGS, &set) == 0)) {
			tl_log_clear();
			ok(mbox_open(&cfg, &m) == MBOX_ERR_TEMP &&
			    tl_log_seen("cannot write"),
			    "journal in a read-only index_dir: TEMP, logged");
			ioctl(dfd, FS_IOC_SETFLAGS, &fl);
			ok(mbox_open(&cfg, &m) == MBOX_OK, "writable again: "
			    "recovered");
			mbox_close(m);
			ok(!tl_exists(jpath), "and the journal is gone");
		} else {
			ok(1, "# SKIP no immutable directories here");
		}
		if (dfd >= 0)
			close(dfd);
	}

	/* Mailbox changed after the crash in a way recovery cannot explain. */
	reset(&c);
	killed_at(&c, jk + 3, true);
	tl_write(c.path, "From x\n\nsomething else\n", 23);
	ok(mbox_open(&cfg, &m) == MBOX_ERR_TEMP && tl_exists(jpath),
	    "unexplained change: TEMP, journal kept");
	tl_buf_free(&now);
	tl_buf_free(&j);
	tl_buf_free(&c.orig);
	tl_buf_free(&c.uidl_before);
	tl_buf_free(&c.appended);
	free(c.acked);
}

/* An intent (an early-acknowledged commit killed before its payload was
 * durable) whose mailbox was changed since by a program that ignores the
 * locks, or whose ranges are damaged: dropped, the mailbox left alone. */
static void
test_intent_doubts(long jk)
{
	static const struct scen sc = { "intent doubt", true, { 1 }, 1, 0, 1,
	    0, true };
	static const char other[] = "From x\n\nsomething else\n";
	struct ctx c;
	struct tl_buf now = { 0 }, j = { 0 };
	struct mbox_config cfg;
	struct mbox *m;
	char *jpath;

	if (jk == 0) {
		ok(0, "no kill point with a committed intent found");
		return;
	}
	ctx_init(&c, &sc);
	jpath = tl_path(c.idx, "mbox.journal");
	cfg_of(&c, &cfg);

	reset(&c);
	killed_at(&c, jk + 1, true);
	ok(tl_exists(jpath) && tl_exists(c.acked), "killed at point %ld: "
	    "intent committed and acknowledged", jk + 1);
	tl_write(c.path, other, sizeof(other) - 1);
	tl_log_clear();
	mbox_fault_set(0, CHUNK);
	ok(mbox_open(&cfg, &m) == MBOX_OK &&
	    tl_log_seen("that expunge is dropped"), "changed mailbox: the "
	    "intent is dropped, logged");
	mbox_close(m);
	tl_read(c.path, &now);
	ok(now.len == sizeof(other) - 1 && memcmp(now.p, other, now.len) == 0
	    && !tl_exists(jpath) &&
	    tl_exists(tl_path(c.idx, "mbox.journal.dropped")),
	    "the mailbox as the other program left it, the journal set "
	    "aside as mbox.journal.dropped");

	reset(&c);
	killed_at(&c, jk + 1, true);
	tl_read(jpath, &j);
	j.p[j.len - 1] ^= 1;	/* the last range record */
	tl_write(jpath, j.p, j.len);
	tl_log_clear();
	ok(mbox_open(&cfg, &m) == MBOX_OK &&
	    tl_log_seen("that expunge is dropped"), "damaged ranges: the "
	    "intent is dropped");
	mbox_close(m);
	tl_read(c.path, &now);
	ok(now.len == c.orig.len && memcmp(now.p, c.orig.p, now.len) == 0 &&
	    !tl_exists(jpath), "the mailbox untouched, no journal");
	unlink(c.acked);
	free(c.acked);
	tl_buf_free(&now);
	tl_buf_free(&j);
	tl_buf_free(&c.orig);
	tl_buf_free(&c.uidl_before);
	tl_buf_free(&c.appended);
}

int
main(void)
{
	static const struct scen scens[] = {
		{ "first message, index_dir", true, { 1 }, 1, 2, 1, 0, false },
		{ "middle and last, index_dir", true, { 5, 25 }, 2, 3, 1, 0,
		  false },
		{ "two, journal next to the mailbox", false, { 2, 3 }, 2, 2, 1,
		  0, false },
		{ "recovery killed too", true, { 1, 7 }, 2, 1, 3, 4, false },
		{ "early ack, first message, index_dir", true, { 1 }, 1, 2, 1,
		  0, true },
		{ "early ack, two, journal next to the mailbox", false,
		  { 2, 3 }, 2, 2, 1, 0, true },
		{ "early ack, recovery killed too", true, { 1, 7 }, 2, 1, 3, 4,
		  true },
		{ "early ack, first and last message, mail appended", true,
		  { 1, 30 }, 2, 1, 1, 0, true },
	};
	long jk = 0, jk_early = 0;
	size_t i;

	/* Hundreds of sessions with several fsyncs each: on tmpfs they
	 * cost nothing, on a disk they would take most of a minute. The
	 * order of the syncs is still exercised: each is a kill point. */
	if (access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);

	for (i = 0; i < sizeof(scens) / sizeof(scens[0]); i++)
		run_scenario(&scens[i], i == 0 ? &jk : i == 4 ? &jk_early :
		    NULL);
	test_journal_doubts(jk);
	test_intent_doubts(jk_early);
	return tap_done();
}
