/*
 * mbox_index.c - the UIDL index: parse, validate against the mailbox,
 * write atomically. The index is a cache that makes a second open of a
 * large mailbox cost a few reads instead of a scan, and it remembers
 * UIDL suffixes; it is validated, never trusted blindly: same device,
 * inode and size prefix, same sampled From_ lines and same last 64 KiB,
 * and the mtime must be unchanged unless the mailbox only grew.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "mbox_index.h"
#include "mbox_int.h"
#include "util.h"

/* Validation samples: this many From_ lines, spread over the mailbox. */
#define VAL_SAMPLES		16
#define VAL_SAMPLE_BYTES	64
#define VAL_TAIL_BYTES		(64 * 1024)
/* Largest suffix we accept from an index: far beyond any real count,
 * far enough from UINT32_MAX that incrementing cannot wrap. */
#define MAX_SUFFIX		0x7fffffffu

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Records are struct mbox_msg in little-endian byte order, so on most
 * hosts they are read straight into the table with no decoding. */
_Static_assert(sizeof(struct mbox_msg) == MBOX_INDEX_REC_SIZE,
    "index record layout");
_Static_assert(offsetof(struct mbox_msg, digest) == 32 &&
    offsetof(struct mbox_msg, suffix) == 48 &&
    offsetof(struct mbox_msg, flags) == 52, "index record layout");

static void
rec_from_le(struct mbox_msg *m)
{
	m->from_off = le64toh(m->from_off);
	m->data_off = le64toh(m->data_off);
	m->end_off = le64toh(m->end_off);
	m->size = le64toh(m->size);
	m->suffix = le32toh(m->suffix);
	m->flags = le32toh(m->flags);
}

size_t
mbox_index_file_size(uint32_t n)
{
	return MBOX_INDEX_HDR_SIZE + (size_t)n * MBOX_INDEX_REC_SIZE +
	    MBOX_INDEX_SUM_SIZE;
}

void
mbox_index_encode_hdr(const struct mbox_index_hdr *h,
    uint8_t out[MBOX_INDEX_HDR_SIZE])
{
	memset(out, 0, MBOX_INDEX_HDR_SIZE);
	memcpy(out, MBOX_INDEX_MAGIC, 8);
	put32(out + 8, MBOX_INDEX_VERSION);
	put32(out + 12, MBOX_INDEX_HDR_SIZE);
	put32(out + 16, MBOX_INDEX_REC_SIZE);
	put32(out + 20, h->format);
	put64(out + 24, h->dev);
	put64(out + 32, h->ino);
	put64(out + 40, h->size);
	put64(out + 48, (uint64_t)h->mtime_sec);
	put32(out + 56, h->mtime_nsec);
	put32(out + 60, h->nmsgs);
	memcpy(out + 64, h->validation, MBOX_HASH_LEN);
}

void
mbox_index_encode_rec(const struct mbox_msg *m,
    uint8_t out[MBOX_INDEX_REC_SIZE])
{
#if __BYTE_ORDER == __LITTLE_ENDIAN
	/* The record is the struct (see the asserts above): a copy, and
	 * only the stored flags. A 100,000-message index is written at
	 * every cold open. */
	memcpy(out, m, MBOX_INDEX_REC_SIZE);
	put32(out + 52, m->flags & MSG_STORED_FLAGS);
#else
	put64(out, m->from_off);
	put64(out + 8, m->data_off);
	put64(out + 16, m->end_off);
	put64(out + 24, m->size);
	memcpy(out + 32, m->digest, MBOX_DIGEST_LEN);
	put32(out + 48, m->suffix);
	put32(out + 52, m->flags & MSG_STORED_FLAGS);
#endif
}

static const char *
check_rec(const struct mbox_msg *r, uint32_t i, uint64_t region_end)
{
	uint64_t len;

	if (r->flags & ~MSG_STORED_FLAGS)
		return "unknown flags";
	if ((r->flags & MSG_PSEUDO) && i != 0)
		return "pseudo message not first";
	if (r->suffix == 0 || r->suffix > MAX_SUFFIX)
		return "bad UIDL suffix";
	if (r->from_off > region_end || region_end - r->from_off < 5 ||
	    r->data_off < r->from_off + 5 || r->data_off > r->end_off ||
	    r->end_off > region_end || region_end - r->end_off > 2)
		return "inconsistent offsets";
	len = r->end_off - r->data_off;
	if (len == 0 ? r->size != 0 :
	    (r->size < 2 || r->size > 2 * len + 2))
		return "impossible size";
	return NULL;
}

/* The fixed header; file_len is the size of the whole file. */
static int
parse_hdr(const uint8_t *buf, size_t file_len, struct mbox_index_hdr *h,
    const char **why)
{
	size_t k;

	*why = "truncated";
	if (file_len < MBOX_INDEX_HDR_SIZE + MBOX_INDEX_SUM_SIZE)
		return -1;
	*why = "bad header";
	if (memcmp(buf, MBOX_INDEX_MAGIC, 8) != 0)
		return -1;
	*why = "index of another version";
	if (get32(buf + 8) != MBOX_INDEX_VERSION)
		return -1;
	*why = "bad header";
	if (get32(buf + 12) != MBOX_INDEX_HDR_SIZE ||
	    get32(buf + 16) != MBOX_INDEX_REC_SIZE)
		return -1;
	for (k = 64 + MBOX_HASH_LEN; k < MBOX_INDEX_HDR_SIZE; k++)
		if (buf[k] != 0)
			return -1;
	memset(h, 0, sizeof(*h));
	h->format = get32(buf + 20);
	h->dev = get64(buf + 24);
	h->ino = get64(buf + 32);
	h->size = get64(buf + 40);
	h->mtime_sec = (int64_t)get64(buf + 48);
	h->mtime_nsec = get32(buf + 56);
	h->nmsgs = get32(buf + 60);
	memcpy(h->validation, buf + 64, MBOX_HASH_LEN);
	if (h->format > MBOX_FMT_MBOXRD || h->mtime_nsec >= 1000000000u ||
	    h->size > (uint64_t)INT64_MAX)
		return -1;
	if (h->nmsgs > MBOX_MAX_MSGS ||
	    mbox_index_file_size(h->nmsgs) != file_len) {
		*why = "wrong length";
		return -1;
	}
	return 0;
}

/* Records in host order: each consistent with its neighbours and with
 * the size covered, UIDLs unique. */
static int
check_recs(const struct mbox_index_hdr *h, const struct mbox_msg *v,
    const char **why)
{
	uint64_t region_end;
	uint32_t i, n = h->nmsgs;

	for (i = 0; i < n; i++) {
		region_end = i + 1 < n ? v[i + 1].from_off : h->size;
		if ((*why = check_rec(&v[i], i, region_end)) != NULL)
			return -1;
	}
	if (!mbox_uidl_unique(v, n)) {
		*why = "duplicate UIDLs";
		return -1;
	}
	*why = NULL;
	return 0;
}

int
mbox_index_parse(const uint8_t *buf, size_t len, struct mbox_index_hdr *h,
    struct mbox_msg **msgs, const char **why)
{
	struct mbox_msg *v = NULL;
	uint32_t i;

	*msgs = NULL;
	if (parse_hdr(buf, len, h, why) != 0)
		return -1;
	if (mbox_sum64(mbox_sum64(0, buf, MBOX_INDEX_HDR_SIZE),
	    buf + MBOX_INDEX_HDR_SIZE, len - MBOX_INDEX_HDR_SIZE -
	    MBOX_INDEX_SUM_SIZE) != get64(buf + len - MBOX_INDEX_SUM_SIZE)) {
		*why = "checksum mismatch";
		return -1;
	}
	if (h->nmsgs > 0) {
		v = xreallocarray(NULL, h->nmsgs, sizeof(*v));
		memcpy(v, buf + MBOX_INDEX_HDR_SIZE,
		    (size_t)h->nmsgs * MBOX_INDEX_REC_SIZE);
		for (i = 0; i < h->nmsgs; i++)
			rec_from_le(&v[i]);
	}
	if (check_recs(h, v, why) != 0) {
		free(v);
		return -1;
	}
	*msgs = v;
	return 0;
}

/*
 * mbox_hash128 over up to VAL_SAMPLES sampled From_ line starts (with
 * their offsets) and the last VAL_TAIL_BYTES of [0, size). It reads at
 * most about 65 KiB, yet catches a mailbox rewritten by another program,
 * a replaced file, and truncation followed by new mail.
 */
int
mbox_validation_hash(int fd, const struct mbox_msg *msgs, uint32_t n,
    uint64_t size, uint8_t out[MBOX_HASH_LEN])
{
	uint8_t b[VAL_SAMPLE_BYTES], le[8];
	struct mbox_hash md;
	uint64_t off, tail, prev = UINT64_MAX;
	uint32_t k, i;
	size_t len;

	mbox_hash_init(&md);
	for (k = 0; n > 0 && k < VAL_SAMPLES; k++) {
		i = (uint32_t)((uint64_t)(n - 1) * k / (VAL_SAMPLES - 1));
		off = msgs[i].from_off;
		if (off == prev || off >= size)
			continue;
		prev = off;
		len = size - off < sizeof(b) ? (size_t)(size - off) : sizeof(b);
		if (mbox_pread_full(fd, b, len, off) != (ssize_t)len)
			return -1;
		put64(le, off);
		mbox_hash_update(&md, le, 8);
		mbox_hash_update(&md, b, len);
	}
	tail = size < VAL_TAIL_BYTES ? size : VAL_TAIL_BYTES;
	if (tail > 0) {
		uint8_t *tb = xmalloc((size_t)tail);

		if (mbox_pread_full(fd, tb, (size_t)tail, size - tail) !=
		    (ssize_t)tail) {
			free(tb);
			return -1;
		}
		mbox_hash_update(&md, tb, (size_t)tail);
		free(tb);
	}
	put64(le, size);
	mbox_hash_update(&md, le, 8);
	mbox_hash_final(&md, out);
	return 0;
}

/*
 * The loader's version of mbox_index_parse: the same checks, but the
 * records are read straight into the table (a 100,000-message index is
 * 5.6 MB; a second copy would cost as much as the rest of a warm open).
 */
static int
index_read(int fd, size_t len, struct mbox_index_hdr *h,
    struct mbox_msg **msgs, const char **why)
{
	uint8_t hb[MBOX_INDEX_HDR_SIZE], sum[MBOX_INDEX_SUM_SIZE];
	struct mbox_msg *v = NULL;
	size_t rlen;
	uint32_t i;

	*msgs = NULL;
	*why = "short read";
	if (len < sizeof(hb) ||
	    mbox_pread_full(fd, hb, sizeof(hb), 0) != (ssize_t)sizeof(hb))
		return -1;
	if (parse_hdr(hb, len, h, why) != 0)
		return -1;
	rlen = (size_t)h->nmsgs * MBOX_INDEX_REC_SIZE;
	if (h->nmsgs > 0) {
		v = xreallocarray(NULL, h->nmsgs, sizeof(*v));
		mbox_prefault(v, rlen);
	}
	*why = "short read";
	if ((rlen > 0 && mbox_pread_full(fd, v, rlen, sizeof(hb)) !=
	    (ssize_t)rlen) || mbox_pread_full(fd, sum, sizeof(sum),
	    sizeof(hb) + rlen) != (ssize_t)sizeof(sum))
		goto fail;
	*why = "checksum mismatch";
	if (mbox_sum64(mbox_sum64(0, hb, sizeof(hb)), v, rlen) !=
	    get64(sum))
		goto fail;
	for (i = 0; i < h->nmsgs; i++)
		rec_from_le(&v[i]);
	if (check_recs(h, v, why) != 0)
		goto fail;
	*msgs = v;
	return 0;
fail:
	free(v);
	return -1;
}

static void
index_name(const struct mbox *m, char *out, size_t outsz, const char *ext)
{
	snprintf(out, outsz, "%s.index%s", m->base, ext);
}

/*
 * An all-zero validation hash marks an index whose records are known not
 * to describe the mailbox (mbox_index_distrust): kept only so that a
 * rescan can reuse its UIDLs. A real hash that happens to be all zero
 * (2^-128) only costs one needless rescan.
 */
static bool
validation_is_distrust(const uint8_t v[MBOX_HASH_LEN])
{
	size_t k;

	for (k = 0; k < MBOX_HASH_LEN; k++)
		if (v[k] != 0)
			return false;
	return true;
}

/*
 * Read and check the index. *verdict says how it relates to the mailbox
 * (st is the mailbox, locked): NONE, STALE (old records still returned,
 * to keep UIDLs across a rescan), SAME or GROWN.
 */
void
mbox_index_load_and_check(struct mbox *m, const struct stat *st,
    struct mbox_msg **old, uint32_t *nold, int *verdict)
{
	struct mbox_index_hdr h;
	char name[NAME_MAX + 32];
	uint8_t val[MBOX_HASH_LEN];
	const char *why;
	struct stat ist;
	int fd;

	*old = NULL;
	*nold = 0;
	*verdict = MBOX_IDXV_NONE;
	if (m->idxfd < 0)
		return;
	index_name(m, name, sizeof(name), "");
	fd = openat(m->idxfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			mbox_log(m, LOG_WARNING, "%s/%s: %s", m->idxdir, name,
			    strerror(errno));
		return;
	}
	if (fstat(fd, &ist) != 0 || !S_ISREG(ist.st_mode) ||
	    ist.st_uid != m->cfg.uid || ist.st_size < 0 ||
	    (uint64_t)ist.st_size > mbox_index_file_size(MBOX_MAX_MSGS)) {
		mbox_log(m, LOG_WARNING, "%s/%s: not a plausible index, "
		    "ignored", m->idxdir, name);
		close(fd);
		return;
	}
	if (index_read(fd, (size_t)ist.st_size, &h, old, &why) != 0) {
		mbox_log(m, LOG_NOTICE, "%s/%s: %s; rebuilding the index",
		    m->idxdir, name, why);
		close(fd);
		return;
	}
	close(fd);
	*nold = h.nmsgs;
	*verdict = MBOX_IDXV_STALE;
	if (validation_is_distrust(h.validation))
		return;		/* written by mbox_index_distrust() */
	if (h.format != (uint32_t)m->cfg.format ||
	    h.dev != (uint64_t)st->st_dev || h.ino != (uint64_t)st->st_ino ||
	    (uint64_t)st->st_size < h.size)
		return;
	if (mbox_validation_hash(m->fd, *old, *nold, h.size, val) != 0 ||
	    memcmp(val, h.validation, sizeof(val)) != 0)
		return;
	if ((uint64_t)st->st_size > h.size) {
		*verdict = MBOX_IDXV_GROWN;
	} else if (h.mtime_sec == (int64_t)st->st_mtim.tv_sec &&
	    h.mtime_nsec == (uint32_t)st->st_mtim.tv_nsec) {
		*verdict = MBOX_IDXV_SAME;
	}
	if (*verdict != MBOX_IDXV_STALE)
		m->scanned_end = h.size;
}

/* Under the mailbox lock: record what the index must say about the file. */
void
mbox_index_prepare(struct mbox *m)
{
	struct stat st;

	m->idx_dirty = false;
	if (m->idxfd < 0 || m->fd < 0 || fstat(m->fd, &st) != 0)
		return;
	if (m->idx_distrust) {
		/* A commit that succeeded after RETR or an earlier commit
		 * found the file unlike the table: the records of the part
		 * it did not re-scan are still suspect. */
		memset(m->idx_validation, 0, MBOX_HASH_LEN);
	} else if (mbox_validation_hash(m->fd, m->msgs, m->nmsgs,
	    m->scanned_end, m->idx_validation) != 0)
		return;
	m->idx_mtime_sec = (int64_t)st.st_mtim.tv_sec;
	m->idx_mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	m->idx_dirty = true;
}

/*
 * The mailbox does not match the table built from the index (RETR found
 * a message elsewhere or of another size, commit's re-scan disagreed):
 * the index's cheap validation missed a change, typically a header
 * rewritten in place (Dovecot's and UW imapd's status padding) followed
 * by new mail. Rewrite the index so that the next open rescans the whole
 * mailbox; its records stay, so the rescan keeps the UIDLs of the
 * messages it finds again. Without this, every later session would load
 * the same wrong records and fail the same way. The caller writes it
 * with mbox_index_write() once the mailbox is unlocked.
 */
void
mbox_index_distrust(struct mbox *m)
{
	if (m->idx_distrust)
		return;
	m->idx_distrust = true;
	if (m->idxfd < 0)
		return;
	mbox_log(m, LOG_NOTICE, "%s: the index will be rebuilt at the next "
	    "login", m->path);
	memset(m->idx_validation, 0, MBOX_HASH_LEN);
	m->idx_dirty = true;
}

/* After unlocking: write the index to a temporary file, fsync, rename. */
void
mbox_index_write(struct mbox *m)
{
	char name[NAME_MAX + 32], tmp[NAME_MAX + 32];
	uint8_t *buf, trailer[MBOX_INDEX_SUM_SIZE];
	struct mbox_index_hdr h;
	size_t used, bufsz = 64 * 1024;
	uint64_t off = 0, sum;
	uint32_t i;
	int fd, ok = 0;

	if (!m->idx_dirty || m->idxfd < 0)
		return;
	m->idx_dirty = false;
	index_name(m, name, sizeof(name), "");
	index_name(m, tmp, sizeof(tmp), ".tmp");
	memset(&h, 0, sizeof(h));
	h.format = (uint32_t)m->cfg.format;
	h.dev = (uint64_t)m->dev;
	h.ino = (uint64_t)m->ino;
	h.size = m->scanned_end;
	h.mtime_sec = m->idx_mtime_sec;
	h.mtime_nsec = m->idx_mtime_nsec;
	h.nmsgs = m->nmsgs;
	memcpy(h.validation, m->idx_validation, MBOX_HASH_LEN);

	(void)unlinkat(m->idxfd, tmp, 0);
	fd = openat(m->idxfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0) {
		mbox_log(m, LOG_WARNING, "%s/%s: %s", m->idxdir, tmp,
		    strerror(errno));
		return;
	}
	buf = xmalloc(bufsz);
	mbox_index_encode_hdr(&h, buf);
	sum = mbox_sum64(0, buf, MBOX_INDEX_HDR_SIZE);
	if (mbox_pwrite_full(fd, buf, MBOX_INDEX_HDR_SIZE, 0) < 0)
		goto out;
	off = MBOX_INDEX_HDR_SIZE;
	used = 0;
	for (i = 0; i <= m->nmsgs; i++) {
		if (i == m->nmsgs || used + MBOX_INDEX_REC_SIZE > bufsz) {
			/* whole 56-byte records: multiples of 8 */
			sum = mbox_sum64(sum, buf, used);
			if (used > 0 &&
			    mbox_pwrite_full(fd, buf, used, off) < 0)
				goto out;
			off += used;
			used = 0;
		}
		if (i < m->nmsgs) {
			mbox_index_encode_rec(&m->msgs[i], buf + used);
			used += MBOX_INDEX_REC_SIZE;
		}
	}
	put64(trailer, sum);
	if (mbox_pwrite_full(fd, trailer, sizeof(trailer), off) < 0 ||
	    mbox_fsync(fd) < 0)
		goto out;
	ok = 1;
out:
	if (!ok)
		mbox_log(m, LOG_WARNING, "%s/%s: cannot write the index: %s",
		    m->idxdir, tmp, strerror(errno));
	close(fd);
	if (!ok || mbox_renameat(m->idxfd, tmp, name) != 0) {
		if (ok)
			mbox_log(m, LOG_WARNING, "%s/%s: %s", m->idxdir, name,
			    strerror(errno));
		(void)unlinkat(m->idxfd, tmp, 0);
	}
	free(buf);
}
