/*
 * mbox_expunge.c - crash-safe expunge (mbox_commit) and its recovery.
 *
 * The mailbox is rewritten in place, never replaced by rename: an MDA
 * blocked on the old inode's fcntl lock would otherwise deliver into a
 * file nobody reads. In-place rewriting destroys bytes, so it is made
 * atomic with a redo journal (index directory, "<name>.journal", or if
 * there is none, the mailbox directory, ".<name>.postern-journal"):
 *
 *   1. under both locks, check the mailbox is the file we scanned and
 *      its scanned part is unchanged (every message from the first
 *      deleted one on is re-scanned and must match the table);
 *   2. write to "<journal>.tmp": the new tail = every surviving byte
 *      from X (the first deleted message) to the current end, including
 *      mail delivered since our scan (copied in the kernel with
 *      copy_file_range after the verifying read); fsync; then a header
 *      with X, the old size S_old, the new size S_new, a checksum of the
 *      payload and a hash of the old bytes [S_new, S_old); fsync;
 *      rename to "<journal>"; fsync the directory. The rename is the
 *      commit point: until then the mailbox is untouched, and any
 *      failure (ENOSPC...) leaves it so;
 *   3. copy the payload to X, fsync, truncate to S_new, fsync, unlink
 *      the journal.
 *
 * Recovery (mbox_open, under the locks) finds a journal and decides from
 * the mailbox alone where step 3 stopped: the bytes [S_new, S_old) are
 * never written by step 3, so if they still hash to the recorded value
 * the truncate has not happened and the journal is replayed (pwrite is
 * idempotent); mail an MDA appended after the crash sits beyond S_old
 * and is folded into a fresh journal first. Otherwise, if [X, S_new)
 * holds the payload, the expunge had completed and only the journal is
 * removed. Anything else is left alone (MBOX_ERR_TEMP, logged): on doubt
 * we do not write.
 *
 * A large rewrite (cfg.commit_ack_min) commits its intent first, so that
 * the client can be answered before steps 2 and 3: see commit_early()
 * and recover_intent(), and storage/MBOX.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "mbox_int.h"
#include "mbox_scan.h"
#include "util.h"

#define J_MAGIC		"PSTNJRN1"
/* Version 1 used SHA-256 for both hashes; a journal of another version
 * is never removed or applied (see jhdr_read). */
#define J_VERSION	2	/* payload journal: payload after block 0 */
#define J_VERSION_INTENT 3	/* intent in block 0, payload header in
				 * block 1, payload after block 1 */
#define J_HASHED	80	/* header bytes covered by the header hash */
#define JI_HASHED	104	/* the same for an intent header */

/* Journal header (little-endian): magic, version and header size, then
 * the fields below, then mbox_hash128 of the first J_HASHED bytes. The
 * hashes guard against torn writes and against taking one state of the
 * mailbox for another, not against forgery: whoever can write the
 * journal can write the mailbox. */
struct jhdr {
	uint64_t dev, ino;
	uint64_t x, s_old, s_new;
	uint64_t payload_sum;		/* mbox_sum64 of the payload */
	uint8_t old_tail_hash[MBOX_HASH_LEN];	/* of old [S_new, S_old) */
	uint64_t poff;			/* the payload's offset (not stored:
					 * it follows from the version) */
};

/* Intent header (block 0 of a version 3 journal): which byte ranges of
 * which state of the mailbox are to go. The ranges themselves follow
 * the (reserved) payload, at rg_off. */
struct jintent {
	uint64_t dev, ino;
	uint64_t x, s_old, s_new;
	uint64_t nrg, rg_off;
	uint8_t del_hash[MBOX_HASH_LEN];	/* of the deleted bytes */
	uint8_t rg_hash[MBOX_HASH_LEN];		/* of the range records */
};

#define J_POFF_INTENT	(2 * MBOX_JOURNAL_HDR)

struct jloc {
	int dfd;
	const char *dir;
	char name[NAME_MAX + 32];
	char tmp[NAME_MAX + 40];
};

/* which: 0 = index directory, 1 = mailbox directory. */
static bool
jloc_get(const struct mbox *m, int which, struct jloc *jl)
{
	if (which == 0) {
		if (m->idxfd < 0)
			return false;
		jl->dfd = m->idxfd;
		jl->dir = m->idxdir;
		snprintf(jl->name, sizeof(jl->name), "%s.journal", m->base);
	} else {
		if (m->dirfd < 0)
			return false;
		jl->dfd = m->dirfd;
		jl->dir = m->dir;
		snprintf(jl->name, sizeof(jl->name), ".%s.postern-journal",
		    m->base);
	}
	snprintf(jl->tmp, sizeof(jl->tmp), "%s.tmp", jl->name);
	return true;
}

static void
put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
jblock_init(uint8_t *b, uint32_t version)
{
	memset(b, 0, MBOX_JOURNAL_HDR);
	memcpy(b, J_MAGIC, 8);
	put64(b + 8, version | (uint64_t)MBOX_JOURNAL_HDR << 32);
}

/* A payload header: block 0 of a version 2 journal, or block 1 (at) of a
 * version 3 one. */
static int
jhdr_write(int fd, const struct jhdr *h, uint32_t version, uint64_t at)
{
	uint8_t b[MBOX_JOURNAL_HDR];

	jblock_init(b, version);
	put64(b + 16, h->dev);
	put64(b + 24, h->ino);
	put64(b + 32, h->x);
	put64(b + 40, h->s_old);
	put64(b + 48, h->s_new);
	put64(b + 56, h->payload_sum);
	memcpy(b + 64, h->old_tail_hash, MBOX_HASH_LEN);
	mbox_hash128(b, J_HASHED, b + J_HASHED);
	return mbox_pwrite_full(fd, b, sizeof(b), at);
}

static int
jintent_write(int fd, const struct jintent *t)
{
	uint8_t b[MBOX_JOURNAL_HDR];

	jblock_init(b, J_VERSION_INTENT);
	put64(b + 16, t->dev);
	put64(b + 24, t->ino);
	put64(b + 32, t->x);
	put64(b + 40, t->s_old);
	put64(b + 48, t->s_new);
	put64(b + 56, t->nrg);
	put64(b + 64, t->rg_off);
	memcpy(b + 72, t->del_hash, MBOX_HASH_LEN);
	memcpy(b + 88, t->rg_hash, MBOX_HASH_LEN);
	mbox_hash128(b, JI_HASHED, b + JI_HASHED);
	return mbox_pwrite_full(fd, b, sizeof(b), 0);
}

/* Is b a whole, intact header block of this version? */
static bool
jblock_ok(const uint8_t *b, uint32_t version, size_t hashed)
{
	uint8_t sum[MBOX_HASH_LEN];

	if (memcmp(b, J_MAGIC, 8) != 0 ||
	    get64(b + 8) != (version | (uint64_t)MBOX_JOURNAL_HDR << 32))
		return false;
	mbox_hash128(b, hashed, sum);
	return memcmp(sum, b + hashed, MBOX_HASH_LEN) == 0;
}

static void
jhdr_parse(const uint8_t *b, struct jhdr *h, uint64_t poff)
{
	h->dev = get64(b + 16);
	h->ino = get64(b + 24);
	h->x = get64(b + 32);
	h->s_old = get64(b + 40);
	h->s_new = get64(b + 48);
	h->payload_sum = get64(b + 56);
	memcpy(h->old_tail_hash, b + 64, MBOX_HASH_LEN);
	h->poff = poff;
}

enum jkind { J_PAYLOAD, J_INTENT };

/*
 * 0: a complete, self-consistent journal, *kind saying whether its
 * payload is in place (J_PAYLOAD: h) or only the intent is (J_INTENT: t);
 * -1: not one (never committed); -2: I/O error; -3: a whole header block
 * of another version (or header size), which may well be committed: a
 * program that knew it must finish it, this one must not remove it.
 */
static int
jhdr_read(int fd, struct jhdr *h, struct jintent *t, enum jkind *kind)
{
	uint8_t b[MBOX_JOURNAL_HDR], b1[MBOX_JOURNAL_HDR];
	ssize_t n;

	if ((n = mbox_pread_full(fd, b, sizeof(b), 0)) < 0)
		return -2;
	if (n != (ssize_t)sizeof(b) || memcmp(b, J_MAGIC, 8) != 0)
		return -1;
	if (get64(b + 8) == (J_VERSION | (uint64_t)MBOX_JOURNAL_HDR << 32)) {
		if (!jblock_ok(b, J_VERSION, J_HASHED))
			return -1;
		jhdr_parse(b, h, MBOX_JOURNAL_HDR);
		*kind = J_PAYLOAD;
	} else if (get64(b + 8) ==
	    (J_VERSION_INTENT | (uint64_t)MBOX_JOURNAL_HDR << 32)) {
		if (!jblock_ok(b, J_VERSION_INTENT, JI_HASHED))
			return -1;
		t->dev = get64(b + 16);
		t->ino = get64(b + 24);
		t->x = get64(b + 32);
		t->s_old = get64(b + 40);
		t->s_new = get64(b + 48);
		t->nrg = get64(b + 56);
		t->rg_off = get64(b + 64);
		memcpy(t->del_hash, b + 72, MBOX_HASH_LEN);
		memcpy(t->rg_hash, b + 88, MBOX_HASH_LEN);
		if (t->x > t->s_new || t->s_new >= t->s_old ||
		    t->s_old > (uint64_t)INT64_MAX - J_POFF_INTENT ||
		    t->rg_off != J_POFF_INTENT + (t->s_new - t->x) ||
		    t->nrg == 0 || t->nrg > (t->s_old - t->s_new))
			return -1;
		*kind = J_INTENT;
		/* Block 1 is written (after the payload is durable) only
		 * once: intact and about the same expunge, or ignored. */
		if ((n = mbox_pread_full(fd, b1, sizeof(b1),
		    MBOX_JOURNAL_HDR)) < 0)
			return -2;
		if (n == (ssize_t)sizeof(b1) &&
		    jblock_ok(b1, J_VERSION_INTENT, J_HASHED)) {
			jhdr_parse(b1, h, J_POFF_INTENT);
			if (h->dev == t->dev && h->ino == t->ino &&
			    h->x == t->x && h->s_old == t->s_old &&
			    h->s_new == t->s_new)
				*kind = J_PAYLOAD;
		}
		if (*kind == J_INTENT)
			return 0;
	} else {
		return -3;
	}
	if (h->x > h->s_new || h->s_new >= h->s_old ||
	    h->s_old > (uint64_t)INT64_MAX - J_POFF_INTENT)
		return -1;
	return 0;
}

/* Make the journal durable under its final name (the commit point). */
static int
jcommit(const struct jloc *jl, int tfd, const struct jhdr *h)
{
	if (mbox_fsync(tfd) < 0 || jhdr_write(tfd, h, J_VERSION, 0) < 0 ||
	    mbox_fsync(tfd) < 0 ||
	    mbox_renameat(jl->dfd, jl->tmp, jl->name) < 0 ||
	    mbox_fsync(jl->dfd) < 0)
		return -1;
	return 0;
}

/* Step 3: replay the journal into the mailbox, then drop the journal. */
static int
japply(struct mbox *m, const struct jloc *jl, int jfd, const struct jhdr *h)
{
	if (mbox_copy_range(jfd, h->poff, m->fd, h->x,
	    h->s_new - h->x) < 0 || mbox_fsync(m->fd) < 0 ||
	    mbox_ftruncate(m->fd, h->s_new) < 0 || mbox_fsync(m->fd) < 0) {
		mbox_log(m, LOG_CRIT, "%s: expunge interrupted: %s; journal "
		    "%s/%s kept, it is replayed at the next login", m->path,
		    strerror(errno), jl->dir, jl->name);
		return MBOX_ERR_TEMP;
	}
	/* Once the truncate is durable a leftover journal is recognised as
	 * already applied, so failing to remove it loses nothing. */
	if (mbox_unlinkat(jl->dfd, jl->name) < 0 ||
	    mbox_fsync(jl->dfd) < 0)
		mbox_log(m, LOG_WARNING, "%s/%s: %s", jl->dir, jl->name,
		    strerror(errno));
	return MBOX_OK;
}

/* Deleted byte ranges, merged, in file order. */
struct range {
	uint64_t start, end;
};

/* mbox_sum64 over a stream cut at arbitrary places: mbox_sum64 wants
 * whole words except at the very end, so a partial word waits here. */
struct sumstream {
	uint64_t h, len;
	uint8_t tail[8];
};

static void
sum_add(struct sumstream *ss, const uint8_t *p, size_t n)
{
	size_t have = (size_t)(ss->len % 8), take, whole;

	ss->len += n;
	if (have != 0) {
		take = 8 - have < n ? 8 - have : n;
		memcpy(ss->tail + have, p, take);
		p += take;
		n -= take;
		if (have + take < 8)
			return;
		ss->h = mbox_sum64(ss->h, ss->tail, 8);
	}
	whole = n & ~(size_t)7;
	ss->h = mbox_sum64(ss->h, p, whole);
	memcpy(ss->tail, p + whole, n - whole);
}

static uint64_t
sum_end(const struct sumstream *ss)
{
	return mbox_sum64(ss->h, ss->tail, (size_t)(ss->len % 8));
}

/* State of a read pass over [pos, limit): it feeds the verifying
 * scanner (if any), and either sums what survives and hashes the old
 * tail [S_new, S_old) or, with del_hash, hashes the bytes below del_end
 * (the deleted messages being checked). */
struct jbuild {
	struct mbox *m;
	uint64_t pos, limit;
	uint64_t s_new, s_old, jpos;
	const struct range *rg;
	size_t nrg, k;
	struct sumstream pay;
	struct mbox_hash tail;
	struct mbox_hash *del_hash;
	uint64_t del_end;
	uint32_t cmp;		/* next entry the re-scan must match */
	uint32_t stop;		/* the re-scan is complete at this entry */
	int err;		/* errno of a failure inside a callback */
};

static int
jb_consume(struct jbuild *b, const uint8_t *buf, size_t n)
{
	uint64_t c = b->pos, e = b->pos + n, next, lo, hi;

	if (b->del_hash != NULL) {
		if (c < b->del_end)
			mbox_hash_update(b->del_hash, buf,
			    (size_t)((e < b->del_end ? e : b->del_end) - c));
		return 0;
	}
	lo = c > b->s_new ? c : b->s_new;
	hi = e < b->s_old ? e : b->s_old;
	if (lo < hi)
		mbox_hash_update(&b->tail, buf + (lo - c), (size_t)(hi - lo));
	while (c < e) {
		while (b->k < b->nrg && b->rg[b->k].end <= c)
			b->k++;
		if (b->k < b->nrg && b->rg[b->k].start <= c) {
			c = b->rg[b->k].end < e ? b->rg[b->k].end : e;
			continue;
		}
		next = b->k < b->nrg && b->rg[b->k].start < e ?
		    b->rg[b->k].start : e;
		sum_add(&b->pay, buf + (c - b->pos), (size_t)(next - c));
		b->jpos += next - c;
		c = next;
	}
	return 0;
}

static ssize_t
jb_read(void *ctx, void *buf, size_t len)
{
	struct jbuild *b = ctx;
	size_t chunk = mbox_io_chunk();
	ssize_t got;

	if (b->pos >= b->limit)
		return 0;
	if (len > chunk)
		len = chunk;
	if (len > b->limit - b->pos)
		len = (size_t)(b->limit - b->pos);
	got = mbox_pread_full(b->m->fd, buf, len, b->pos);
	if (got != (ssize_t)len) {
		b->err = got < 0 ? errno : EIO;
		return -1;
	}
	if (jb_consume(b, buf, len) < 0) {
		b->err = errno != 0 ? errno : EIO;
		return -1;
	}
	b->pos += len;
	return got;
}

/* The re-scan must find exactly the messages of the table: 1 if it does
 * not, 2 once it has found every one up to b->stop when that is not the
 * end of the table (the scan may stop there). */
static int
jb_msg(void *ctx, const struct mbox_scan_msg *sm)
{
	struct jbuild *b = ctx;
	const struct mbox *m = b->m;
	const struct mbox_msg *t;
	uint64_t region_end;

	if (b->cmp >= b->stop)
		return b->stop < m->nmsgs ? 2 : 1;
	t = &m->msgs[b->cmp];
	region_end = b->cmp + 1 < m->nmsgs ? m->msgs[b->cmp + 1].from_off :
	    m->scanned_end;
	b->cmp++;
	if (sm->from_off != t->from_off || sm->data_off != t->data_off ||
	    sm->end_off != t->end_off || sm->region_end != region_end ||
	    sm->size != t->size ||
	    memcmp(sm->digest, t->digest, MBOX_DIGEST_LEN) != 0 ||
	    sm->pseudo != ((t->flags & MSG_PSEUDO) != 0))
		return 1;
	return 0;
}

/* Copy the survivors of [x, s_old) to the journal at poff, in the
 * kernel. */
static int
jcopy(struct mbox *m, int jfd, uint64_t poff, uint64_t x, uint64_t s_old,
    const struct range *rg, size_t nrg)
{
	uint64_t c = x, jpos = 0, next;
	size_t k = 0;

	while (c < s_old) {
		if (k < nrg && rg[k].start <= c) {
			c = rg[k++].end;
			continue;
		}
		next = k < nrg ? rg[k].start : s_old;
		if (mbox_copy_range(m->fd, c, jfd, poff + jpos, next - c) < 0)
			return -1;
		jpos += next - c;
		c = next;
	}
	return 0;
}

/*
 * The read pass: read [X, S_old) once, checksum what survives and hash
 * the old bytes [S_new, S_old) into h. With first < UINT32_MAX the
 * scanner also re-parses [X, scanned end) and every message must match
 * the table; if one does not, *changed is set and the pass stops there
 * (strict) or goes on without the scanner. -1 on a read error (logged).
 */
static int
jsums(struct mbox *m, struct jhdr *h, uint32_t first, const struct range *rg,
    size_t nrg, bool strict, bool *changed)
{
	struct mbox_scan_opts so;
	struct jbuild b;
	uint8_t *buf;
	ssize_t n;
	int sr;

	*changed = false;
	memset(&b, 0, sizeof(b));
	b.m = m;
	b.pos = h->x;
	b.s_new = h->s_new;
	b.s_old = h->s_old;
	b.rg = rg;
	b.nrg = nrg;
	mbox_hash_init(&b.tail);
	if (first < UINT32_MAX) {
		b.limit = m->scanned_end;
		b.cmp = first;
		b.stop = m->nmsgs;
		memset(&so, 0, sizeof(so));
		so.format = m->cfg.format;
		so.start_off = h->x;
		so.pseudo_check = first == 0;
		sr = mbox_scan(&so, jb_read, &b, jb_msg, &b, NULL);
		m->stats.bytes_scanned += b.pos - h->x;
		if (sr < 0 || b.err != 0) {
			mbox_log(m, LOG_ERR, "%s: expunge: %s", m->path,
			    strerror(b.err != 0 ? b.err : errno));
			return -1;
		}
		if (sr != 0 || b.cmp != m->nmsgs) {
			*changed = true;
			if (strict)
				return 0;
		}
	}
	/* Mail delivered since the scan is summed, not parsed. */
	b.limit = h->s_old;
	buf = xmalloc(mbox_io_chunk());
	while ((n = jb_read(&b, buf, mbox_io_chunk())) > 0)
		;
	free(buf);
	if (n < 0 || b.jpos != h->s_new - h->x) {
		mbox_log(m, LOG_ERR, "%s: expunge: %s", m->path,
		    n < 0 ? strerror(b.err) : "size mismatch");
		return -1;
	}
	h->payload_sum = sum_end(&b.pay);
	mbox_hash_final(&b.tail, h->old_tail_hash);
	return 0;
}

/*
 * Step 2's journal: the survivors copied into "<journal>.tmp" behind a
 * version 2 header, committed by its rename. MBOX_OK with the journal
 * open in *jfd, or an error with the mailbox untouched.
 */
static int
jwrite(struct mbox *m, const struct jloc *jl, struct jhdr *h,
    const struct range *rg, size_t nrg, int *jfd)
{
	int fd;

	*jfd = -1;
	h->poff = MBOX_JOURNAL_HDR;
	(void)unlinkat(jl->dfd, jl->tmp, 0);
	fd = openat(jl->dfd, jl->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0 || jcopy(m, fd, h->poff, h->x, h->s_old, rg, nrg) < 0 ||
	    jcommit(jl, fd, h) < 0) {
		mbox_log(m, LOG_ERR, "%s/%s: %s; mailbox left unchanged",
		    jl->dir, jl->tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			(void)unlinkat(jl->dfd, jl->tmp, 0);
		}
		return MBOX_ERR_TEMP;
	}
	*jfd = fd;
	return MBOX_OK;
}

/*
 * The deleted messages alone, re-scanned run by run: each must match the
 * table, and the bytes of the runs are hashed into out (what an intent
 * records). Each run's scan reads up to the end of the From_ line that
 * follows it, so that its last message ends as it did in the full scan.
 * 0, 1 if something does not match, -1 on a read error (logged).
 */
static int
jverify_deleted(struct mbox *m, uint32_t first, uint8_t out[MBOX_HASH_LEN])
{
	struct mbox_scan_opts so;
	struct mbox_hash dh;
	struct jbuild b;
	uint32_t i = first, j;
	int sr;

	mbox_hash_init(&dh);
	while (i < m->nmsgs) {
		if (!(m->msgs[i].flags & MSG_DELETED)) {
			i++;
			continue;
		}
		for (j = i; j < m->nmsgs && (m->msgs[j].flags & MSG_DELETED);
		    j++)
			;
		memset(&b, 0, sizeof(b));
		b.m = m;
		b.pos = m->msgs[i].from_off;
		b.limit = j < m->nmsgs ? m->msgs[j].data_off : m->scanned_end;
		b.del_hash = &dh;
		b.del_end = j < m->nmsgs ? m->msgs[j].from_off :
		    m->scanned_end;
		b.cmp = i;
		b.stop = j;
		memset(&so, 0, sizeof(so));
		so.format = m->cfg.format;
		so.start_off = b.pos;
		so.pseudo_check = i == 0;
		so.bufsize = 256 * 1024;
		sr = mbox_scan(&so, jb_read, &b, jb_msg, &b, NULL);
		m->stats.bytes_scanned += b.pos - m->msgs[i].from_off;
		if (sr < 0 || b.err != 0) {
			mbox_log(m, LOG_ERR, "%s: expunge: %s", m->path,
			    strerror(b.err != 0 ? b.err : errno));
			return -1;
		}
		if ((sr != 0 && sr != 2) || b.cmp != j || b.pos < b.del_end)
			return 1;
		i = j;
	}
	mbox_hash_final(&dh, out);
	return 0;
}

/*
 * The commit of a large rewrite (cfg.commit_ack_min), acknowledged early.
 *
 * A. The deleted messages are re-scanned (jverify_deleted). The journal
 *    is created with room reserved (fallocate) for the whole payload, so
 *    that B cannot run out of space; the ranges are written behind that
 *    room, the intent header in block 0; fsync; rename; fsync of the
 *    directory: the commit point, then committed().
 * B. Steps 2 and 3 into the reserved room: the read pass (a mismatch
 *    outside the deleted messages no longer stops anything: those bytes
 *    are kept as they are, and the index is dropped), the copy, fsync,
 *    the payload header in block 1, fsync; then applied like any journal.
 *
 * Returns 1 to fall back to the plain commit (nothing done: this file
 * system cannot reserve space).
 */
static int
commit_early(struct mbox *m, const struct jloc *jl, uint32_t first,
    const struct range *rg, size_t nrg, struct jhdr *h, uint32_t ndel,
    mbox_committed_fn committed, void *ctx)
{
	struct jintent t;
	uint8_t *rb;
	size_t rlen = nrg * 16, k;
	bool changed, reserved;
	int fd = -1, v, r;

	v = jverify_deleted(m, first, t.del_hash);
	if (v != 0) {
		if (v > 0) {
			mbox_log(m, LOG_WARNING, "%s: changed since it was "
			    "scanned; not expunged", m->path);
			mbox_index_distrust(m);
		}
		return MBOX_ERR_TEMP;
	}
	t.dev = h->dev;
	t.ino = h->ino;
	t.x = h->x;
	t.s_old = h->s_old;
	t.s_new = h->s_new;
	t.nrg = nrg;
	t.rg_off = J_POFF_INTENT + (h->s_new - h->x);
	rb = xmalloc(rlen);
	for (k = 0; k < nrg; k++) {
		put64(rb + 16 * k, rg[k].start);
		put64(rb + 16 * k + 8, rg[k].end);
	}
	mbox_hash128(rb, rlen, t.rg_hash);

	(void)unlinkat(jl->dfd, jl->tmp, 0);
	fd = openat(jl->dfd, jl->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	reserved = fd >= 0 && mbox_fallocate(fd, t.rg_off + rlen) == 0;
	if (fd >= 0 && !reserved &&
	    (errno == EOPNOTSUPP || errno == ENOSYS)) {
		close(fd);
		(void)unlinkat(jl->dfd, jl->tmp, 0);
		free(rb);
		return 1;
	}
	if (!reserved || mbox_pwrite_full(fd, rb, rlen, t.rg_off) < 0 ||
	    jintent_write(fd, &t) < 0 || mbox_fsync(fd) < 0 ||
	    mbox_renameat(jl->dfd, jl->tmp, jl->name) < 0) {
		mbox_log(m, LOG_ERR, "%s/%s: %s; mailbox left unchanged",
		    jl->dir, jl->tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			(void)unlinkat(jl->dfd, jl->tmp, 0);
		}
		free(rb);
		return MBOX_ERR_TEMP;
	}
	free(rb);
	if (mbox_fsync(jl->dfd) < 0)
		goto kept;
	/* The commit point: from here the next open finishes the job. */
	mbox_session_finishing(m);
	if (committed != NULL)
		committed(ctx, ndel);

	h->poff = J_POFF_INTENT;
	if (jsums(m, h, first, rg, nrg, false, &changed) < 0)
		goto kept;
	if (changed) {
		mbox_log(m, LOG_WARNING, "%s: changed outside the deleted "
		    "messages since it was scanned; expunged, index dropped",
		    m->path);
		mbox_index_distrust(m);
	}
	if (jcopy(m, fd, h->poff, h->x, h->s_old, rg, nrg) < 0 ||
	    mbox_fsync(fd) < 0 ||
	    jhdr_write(fd, h, J_VERSION_INTENT, MBOX_JOURNAL_HDR) < 0 ||
	    mbox_fsync(fd) < 0)
		goto kept;
	r = japply(m, jl, fd, h);
	close(fd);
	return r;
kept:
	mbox_log(m, LOG_CRIT, "%s: expunge interrupted: %s; journal %s/%s "
	    "kept, it is completed at the next login", m->path,
	    strerror(errno), jl->dir, jl->name);
	close(fd);
	return MBOX_ERR_TEMP;
}

/* The table after a successful expunge: survivors, offsets shifted. */
static void
table_compact(struct mbox *m)
{
	uint64_t shift = 0, region_end;
	uint32_t i, j = 0;

	for (i = 0; i < m->nmsgs; i++) {
		region_end = i + 1 < m->nmsgs ? m->msgs[i + 1].from_off :
		    m->scanned_end;
		if (m->msgs[i].flags & MSG_DELETED) {
			shift += region_end - m->msgs[i].from_off;
			continue;
		}
		m->msgs[j] = m->msgs[i];
		m->msgs[j].from_off -= shift;
		m->msgs[j].data_off -= shift;
		m->msgs[j].end_off -= shift;
		j++;
	}
	m->nmsgs = j;
	m->scanned_end -= shift;
	mbox_uidls_reset(m);
}

static int
commit_locked(struct mbox *m, const struct jloc *jl, uint32_t first,
    uint32_t ndel, mbox_committed_fn committed, void *ctx)
{
	struct range *rg;
	struct jhdr h;
	struct stat st, pst;
	uint64_t removed = 0, region_end;
	uint32_t i, k;
	size_t nrg = 0;
	int jfd, r;

	if (fstatat(m->dirfd, m->base, &pst, AT_SYMLINK_NOFOLLOW) != 0 ||
	    pst.st_dev != m->dev || pst.st_ino != m->ino ||
	    fstat(m->fd, &st) != 0 || st.st_nlink != 1 ||
	    (uint64_t)st.st_size < m->scanned_end) {
		mbox_log(m, LOG_WARNING, "%s: replaced or truncated since it "
		    "was scanned; not expunged", m->path);
		return MBOX_ERR_TEMP;
	}
	/* The part before X is not rewritten; a sample of its From_ lines
	 * is enough to notice a rewrite by another program. */
	for (k = 0; k < 64 && first > 0; k++) {
		i = (uint32_t)((uint64_t)(first - 1) * k / 63);
		if (!mbox_from_at(m->fd, m->msgs[i].from_off)) {
			mbox_log(m, LOG_WARNING, "%s: changed since it was "
			    "scanned; not expunged", m->path);
			mbox_index_distrust(m);
			return MBOX_ERR_TEMP;
		}
	}
	rg = xreallocarray(NULL, m->nmsgs, sizeof(*rg));
	for (i = first; i < m->nmsgs; i++) {
		if (!(m->msgs[i].flags & MSG_DELETED))
			continue;
		region_end = i + 1 < m->nmsgs ? m->msgs[i + 1].from_off :
		    m->scanned_end;
		removed += region_end - m->msgs[i].from_off;
		if (nrg > 0 && rg[nrg - 1].end == m->msgs[i].from_off) {
			rg[nrg - 1].end = region_end;
		} else {
			rg[nrg].start = m->msgs[i].from_off;
			rg[nrg].end = region_end;
			nrg++;
		}
	}
	memset(&h, 0, sizeof(h));
	h.dev = (uint64_t)m->dev;
	h.ino = (uint64_t)m->ino;
	h.x = m->msgs[first].from_off;
	h.s_old = (uint64_t)st.st_size;
	h.s_new = (uint64_t)st.st_size - removed;
	r = 1;
	if (m->cfg.commit_ack_min != 0 &&
	    h.s_new - h.x >= m->cfg.commit_ack_min)
		r = commit_early(m, jl, first, rg, nrg, &h, ndel, committed,
		    ctx);
	if (r == 1) {
		bool changed;

		/* Step 2: verify and journal; nothing written on a
		 * mismatch. Step 3: apply. */
		r = MBOX_ERR_TEMP;
		if (jsums(m, &h, first, rg, nrg, true, &changed) < 0) {
			/* logged */
		} else if (changed) {
			mbox_log(m, LOG_WARNING, "%s: changed since it was "
			    "scanned; not expunged", m->path);
			mbox_index_distrust(m);
		} else if ((r = jwrite(m, jl, &h, rg, nrg, &jfd)) == MBOX_OK) {
			r = japply(m, jl, jfd, &h);
			close(jfd);
		}
	}
	free(rg);
	if (r == MBOX_OK)
		table_compact(m);
	return r;
}

int
mbox_commit(struct mbox *m, uint32_t *deleted)
{
	return mbox_commit_ack(m, deleted, NULL, NULL);
}

int
mbox_commit_ack(struct mbox *m, uint32_t *deleted,
    mbox_committed_fn committed, void *ctx)
{
	uint32_t i, ndel = 0, first = 0;
	struct jloc jl;
	int r;

	*deleted = 0;
	for (i = m->nmsgs; i-- > 0;) {
		if (m->msgs[i].flags & MSG_DELETED) {
			ndel++;
			first = i;
		}
	}
	if (ndel == 0 || m->fd < 0)
		return MBOX_OK;
	if (!jloc_get(m, 0, &jl) && !jloc_get(m, 1, &jl)) {
		mbox_log(m, LOG_ERR, "%s: no directory for the expunge "
		    "journal; not expunged", m->path);
		return MBOX_ERR_TEMP;
	}
	if ((r = mbox_lock(m)) != MBOX_OK)
		return r;
	r = commit_locked(m, &jl, first, ndel, committed, ctx);
	if (r == MBOX_OK)
		mbox_index_prepare(m);
	mbox_unlock(m);
	/* The index for the new layout, or after a mismatch one that makes
	 * the next open rescan (mbox_index_distrust). */
	mbox_index_write(m);
	if (r == MBOX_OK) {
		*deleted = ndel;
		/* "killed right after a whole commit"; nothing here can
		 * fail, so an I/O error at this point is not one */
		(void)MBOX_FAULT();
	}
	return r;
}

/*
 * Mail arrived after the crash (beyond S_old): write a fresh journal
 * whose payload is the old one plus that mail, and commit it in place of
 * the old one. The bytes [S_new', Z) it records are untouched by any
 * partial replay, which only writes below S_new.
 */
static int
jrebuild(struct mbox *m, const struct jloc *jl, int jfd, uint64_t z,
    struct jhdr *h, int *newfd)
{
	uint64_t add = z - h->s_old, len = h->s_new - h->x;
	int tfd;

	*newfd = -1;
	(void)unlinkat(jl->dfd, jl->tmp, 0);
	tfd = openat(jl->dfd, jl->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (tfd < 0)
		return -1;
	if (mbox_copy_range(jfd, h->poff, tfd, MBOX_JOURNAL_HDR,
	    len) < 0 || mbox_copy_range(m->fd, h->s_old, tfd,
	    MBOX_JOURNAL_HDR + len, add) < 0)
		goto fail;
	h->poff = MBOX_JOURNAL_HDR;
	h->s_new += add;
	h->s_old = z;
	if (mbox_sum_range(tfd, MBOX_JOURNAL_HDR, len + add,
	    &h->payload_sum) < 0 || mbox_hash_range(m->fd, h->s_new,
	    h->s_old - h->s_new, h->old_tail_hash) < 0 ||
	    jcommit(jl, tfd, h) < 0)
		goto fail;
	*newfd = tfd;
	return 0;
fail:
	close(tfd);
	(void)unlinkat(jl->dfd, jl->tmp, 0);
	return -1;
}

/* mbox_hash128 of the bytes of every range, one after the other. */
static int
hash_ranges(int fd, const struct range *rg, size_t nrg,
    uint8_t out[MBOX_HASH_LEN])
{
	size_t chunk = mbox_io_chunk(), n, k;
	uint8_t *buf = xmalloc(chunk);
	struct mbox_hash hs;
	uint64_t off;

	mbox_hash_init(&hs);
	for (k = 0; k < nrg; k++) {
		for (off = rg[k].start; off < rg[k].end; off += n) {
			n = rg[k].end - off < chunk ?
			    (size_t)(rg[k].end - off) : chunk;
			if (mbox_pread_full(fd, buf, n, off) != (ssize_t)n) {
				free(buf);
				return -1;
			}
			mbox_hash_update(&hs, buf, n);
		}
	}
	free(buf);
	mbox_hash_final(&hs, out);
	return 0;
}

/*
 * The ranges of an intent, read back and checked against its header and
 * against the mailbox of size `size`: each starts with a From_ line and
 * ends at one (or at the end of the file), and together they hold the
 * bytes that were to go. 0 with *out allocated, 1 if anything differs,
 * -1 on a read error.
 */
static int
intent_ranges(struct mbox *m, int jfd, const struct jintent *t,
    uint64_t jsize, uint64_t size, struct range **out)
{
	uint8_t sum[MBOX_HASH_LEN], *rb;
	struct range *rg;
	uint64_t removed = 0, prev;
	size_t k, nrg = (size_t)t->nrg;
	int r = 1;

	*out = NULL;
	if (t->nrg > SIZE_MAX / 16 || jsize < t->rg_off ||
	    jsize - t->rg_off != t->nrg * 16 || size < t->s_old)
		return 1;
	rb = xmalloc(nrg * 16);
	rg = xreallocarray(NULL, nrg, sizeof(*rg));
	if (mbox_pread_full(jfd, rb, nrg * 16, t->rg_off) !=
	    (ssize_t)(nrg * 16)) {
		r = -1;
		goto out;
	}
	mbox_hash128(rb, nrg * 16, sum);
	if (memcmp(sum, t->rg_hash, MBOX_HASH_LEN) != 0)
		goto out;
	prev = t->x;
	for (k = 0; k < nrg; k++) {
		rg[k].start = get64(rb + 16 * k);
		rg[k].end = get64(rb + 16 * k + 8);
		if (rg[k].start < prev || rg[k].end <= rg[k].start ||
		    rg[k].end > t->s_old || (k == 0 && rg[k].start != t->x))
			goto out;
		removed += rg[k].end - rg[k].start;
		prev = rg[k].end;
		/* A range that ended the file at the commit may now be
		 * followed by mail an MDA appended, perhaps after a newline
		 * of its own: only the hash below speaks for that end. */
		if (!mbox_from_at(m->fd, rg[k].start) ||
		    (rg[k].end < t->s_old && !mbox_from_at(m->fd, rg[k].end)))
			goto out;
	}
	if (removed != t->s_old - t->s_new)
		goto out;
	if (hash_ranges(m->fd, rg, nrg, sum) < 0) {
		r = -1;
		goto out;
	}
	if (memcmp(sum, t->del_hash, MBOX_HASH_LEN) != 0)
		goto out;
	*out = rg;
	rg = NULL;
	r = 0;
out:
	free(rb);
	free(rg);
	return r;
}

/*
 * A committed intent whose payload was never made durable: the mailbox
 * was not touched. If the ranges still hold exactly the bytes that were
 * to go, the expunge is done now, with mail that arrived since; if not,
 * a program that ignores the locks changed the file, and the intent is
 * dropped with the mailbox as it is (nothing is lost; the deleted
 * messages come back).
 */
static int
recover_intent(struct mbox *m, const struct jloc *jl, int jfd,
    const struct jintent *t, const struct stat *js)
{
	struct range *rg = NULL;
	struct stat st;
	struct jhdr h;
	char aside[NAME_MAX + 48];
	bool changed;
	int nfd = -1, wfd, v, r;

	if (fstat(m->fd, &st) != 0)
		return MBOX_ERR_TEMP;
	v = intent_ranges(m, jfd, t, (uint64_t)js->st_size,
	    (uint64_t)st.st_size, &rg);
	if (v < 0) {
		mbox_log(m, LOG_ERR, "%s: expunge recovery: %s", m->path,
		    strerror(errno));
		return MBOX_ERR_TEMP;
	}
	if (v > 0) {
		/* Set aside, not removed: if this was not another program
		 * after all, a human still has the intent. */
		snprintf(aside, sizeof(aside), "%s.dropped", jl->name);
		mbox_log(m, LOG_CRIT, "%s: changed since the expunge in %s/%s "
		    "was committed (by a program that ignores the locks?); "
		    "that expunge is dropped, the mailbox left as it is, the "
		    "journal moved to %s", m->path, jl->dir, jl->name, aside);
		if (mbox_renameat(jl->dfd, jl->name, aside) < 0)
			return MBOX_ERR_TEMP;
		(void)mbox_fsync(jl->dfd);
		return MBOX_OK;
	}
	/* The fresh journal below needs room for the payload: give back
	 * the room this one reserved for it (the ranges behind it stay, so
	 * this one remains a valid intent until it is replaced). */
	wfd = openat(jl->dfd, jl->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (wfd >= 0) {
		struct stat ws;

		if (fstat(wfd, &ws) == 0 && ws.st_dev == js->st_dev &&
		    ws.st_ino == js->st_ino && t->rg_off > J_POFF_INTENT)
			(void)fallocate(wfd, FALLOC_FL_PUNCH_HOLE |
			    FALLOC_FL_KEEP_SIZE, J_POFF_INTENT,
			    (off_t)(t->rg_off - J_POFF_INTENT));
		close(wfd);
	}
	memset(&h, 0, sizeof(h));
	h.dev = t->dev;
	h.ino = t->ino;
	h.x = t->x;
	h.s_old = (uint64_t)st.st_size;
	h.s_new = (uint64_t)st.st_size - (t->s_old - t->s_new);
	r = MBOX_ERR_TEMP;
	if (jsums(m, &h, UINT32_MAX, rg, (size_t)t->nrg, false,
	    &changed) == 0 &&
	    jwrite(m, jl, &h, rg, (size_t)t->nrg, &nfd) == MBOX_OK) {
		r = japply(m, jl, nfd, &h);
		close(nfd);
	}
	free(rg);
	if (r == MBOX_OK)
		mbox_log(m, LOG_NOTICE, "%s: interrupted expunge completed",
		    m->path);
	m->stats.recovered = r == MBOX_OK;
	return r;
}

/* Not inlined: its ~9 kB of buffers would otherwise be in
 * mbox_recover()'s frame, and every open calls that to look for a
 * journal; an idle session keeps whatever stack it once touched. */
static int __attribute__((noinline))
recover_one(struct mbox *m, const struct jloc *jl, int jfd)
{
	uint8_t sum[MBOX_HASH_LEN];
	uint64_t psum;
	struct stat js, st;
	struct jhdr h;
	struct jintent t;
	enum jkind kind = J_PAYLOAD;
	char aside[NAME_MAX + 48];
	uint64_t dev, ino;
	int nfd, r;

	if (fstat(jfd, &js) != 0)
		return MBOX_ERR_TEMP;
	if (!S_ISREG(js.st_mode) || js.st_uid != m->cfg.uid) {
		/* We never made this; someone else's file is not removed. */
		mbox_log(m, LOG_WARNING, "%s/%s: not a journal of ours, "
		    "ignored", jl->dir, jl->name);
		return MBOX_OK;
	}
	if ((r = jhdr_read(jfd, &h, &t, &kind)) != 0) {
		if (r == -2) {
			mbox_log(m, LOG_ERR, "%s/%s: %s", jl->dir, jl->name,
			    strerror(errno));
			return MBOX_ERR_TEMP;
		}
		if (r == -3) {
			mbox_log(m, LOG_CRIT, "%s/%s: expunge journal of "
			    "another postern version; %s may be half "
			    "expunged, not touching it", jl->dir, jl->name,
			    m->path);
			return MBOX_ERR_TEMP;
		}
		/* Not committed (the header is written and fsync'd before
		 * the rename that commits): the mailbox was never touched. */
		mbox_log(m, LOG_NOTICE, "%s/%s: incomplete journal removed",
		    jl->dir, jl->name);
		(void)mbox_unlinkat(jl->dfd, jl->name);
		return MBOX_OK;
	}
	dev = kind == J_INTENT ? t.dev : h.dev;
	ino = kind == J_INTENT ? t.ino : h.ino;
	if (dev != (uint64_t)m->dev || ino != (uint64_t)m->ino) {
		snprintf(aside, sizeof(aside), "%s.orphan", jl->name);
		mbox_log(m, LOG_ERR, "%s/%s: journal of another file (the "
		    "mailbox was replaced); moved to %s", jl->dir, jl->name,
		    aside);
		(void)renameat(jl->dfd, jl->name, jl->dfd, aside);
		return MBOX_OK;
	}
	if (kind == J_INTENT)
		return recover_intent(m, jl, jfd, &t, &js);
	/* A version 2 journal is exactly header and payload; a version 3
	 * one has the ranges behind it. */
	if ((h.poff == MBOX_JOURNAL_HDR ?
	    (uint64_t)js.st_size != h.poff + (h.s_new - h.x) :
	    (uint64_t)js.st_size < h.poff + (h.s_new - h.x)) ||
	    mbox_sum_range(jfd, h.poff, h.s_new - h.x, &psum) != 0 ||
	    psum != h.payload_sum) {
		mbox_log(m, LOG_CRIT, "%s/%s: journal damaged; mailbox %s "
		    "may need repair by hand, not touching it", jl->dir,
		    jl->name, m->path);
		return MBOX_ERR_TEMP;
	}
	if (fstat(m->fd, &st) != 0)
		return MBOX_ERR_TEMP;
	if ((uint64_t)st.st_size >= h.s_old &&
	    mbox_hash_range(m->fd, h.s_new, h.s_old - h.s_new, sum) == 0 &&
	    memcmp(sum, h.old_tail_hash, MBOX_HASH_LEN) == 0) {
		/* Not truncated yet: replay, with mail that arrived since.
		 * The session that wrote the journal may have failed to make
		 * it (or its name) durable; it must be, before the mailbox
		 * is written, or a power loss during the replay could leave
		 * a half-rewritten mailbox and a journal that is not there
		 * or says only "intent". */
		if (mbox_fsync(jfd) < 0 || mbox_fsync(jl->dfd) < 0) {
			mbox_log(m, LOG_ERR, "%s/%s: %s", jl->dir, jl->name,
			    strerror(errno));
			return MBOX_ERR_TEMP;
		}
		nfd = -1;
		if ((uint64_t)st.st_size > h.s_old &&
		    jrebuild(m, jl, jfd, (uint64_t)st.st_size, &h, &nfd) < 0) {
			mbox_log(m, LOG_ERR, "%s: cannot finish the "
			    "interrupted expunge: %s", m->path,
			    strerror(errno));
			return MBOX_ERR_TEMP;
		}
		r = japply(m, jl, nfd >= 0 ? nfd : jfd, &h);
		if (nfd >= 0)
			close(nfd);
		if (r == MBOX_OK)
			mbox_log(m, LOG_NOTICE, "%s: interrupted expunge "
			    "completed", m->path);
		m->stats.recovered = r == MBOX_OK;
		return r;
	}
	if ((uint64_t)st.st_size >= h.s_new &&
	    mbox_sum_range(m->fd, h.x, h.s_new - h.x, &psum) == 0 &&
	    psum == h.payload_sum) {
		/* Already complete; only the journal was left. */
		if (mbox_unlinkat(jl->dfd, jl->name) < 0 && errno != ENOENT)
			return MBOX_ERR_TEMP;
		(void)mbox_fsync(jl->dfd);
		m->stats.recovered = true;
		return MBOX_OK;
	}
	mbox_log(m, LOG_CRIT, "%s: does not match expunge journal %s/%s "
	    "(changed by another program?); not touching it", m->path,
	    jl->dir, jl->name);
	return MBOX_ERR_TEMP;
}

int
mbox_recover(struct mbox *m)
{
	struct jloc jl;
	int which, fd, r;

	/* An expunge journal in an index directory we can no longer write
	 * means the mailbox may be half rewritten and we could not finish
	 * the job: do not serve it, say why. */
	if (m->idx_rofd >= 0) {
		char name[NAME_MAX + 32];
		struct stat st;

		snprintf(name, sizeof(name), "%s.journal", m->base);
		if (fstatat(m->idx_rofd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			mbox_log(m, LOG_CRIT, "%s/%s: expunge journal in an "
			    "index directory we cannot write; %s may be half "
			    "expunged, not touching it", m->idxdir, name,
			    m->path);
			return MBOX_ERR_TEMP;
		}
	}

	for (which = 0; which < 2; which++) {
		if (!jloc_get(m, which, &jl))
			continue;
		/* A temporary journal was never committed. */
		(void)unlinkat(jl.dfd, jl.tmp, 0);
		fd = openat(jl.dfd, jl.name, O_RDONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			if (errno == ELOOP) {
				/* a symlink: we never make those */
				mbox_log(m, LOG_WARNING, "%s/%s: symbolic "
				    "link, ignored", jl.dir, jl.name);
				continue;
			}
			mbox_log(m, LOG_ERR, "%s/%s: %s", jl.dir, jl.name,
			    strerror(errno));
			return MBOX_ERR_TEMP;
		}
		if (m->fd < 0) {
			mbox_log(m, LOG_ERR, "%s/%s: expunge journal, but the "
			    "mailbox is gone; left in place", jl.dir, jl.name);
			close(fd);
			continue;
		}
		r = recover_one(m, &jl, fd);
		close(fd);
		if (r != MBOX_OK)
			return r;
	}
	return MBOX_OK;
}
