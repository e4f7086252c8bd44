/*
 * mbox_index.c - the UIDL index: parse, validate against the mailbox,
 * write atomically. The index is a cache that makes a second open of a
 * large mailbox cost a few reads instead of a scan, and it remembers
 * UIDL suffixes; it is validated, never trusted blindly: same device,
 * inode and size prefix, same sampled From_ lines and same last 64 KiB,
 * and the mtime must be unchanged unless the mailbox only grew.
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

#include <openssl/evp.h>

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
	memcpy(out + 64, h->validation, 32);
}

void
mbox_index_encode_rec(const struct mbox_msg *m, uint8_t out[MBOX_INDEX_REC_SIZE])
{
	put64(out, m->from_off);
	put64(out + 8, m->data_off);
	put64(out + 16, m->end_off);
	put64(out + 24, m->size);
	memcpy(out + 32, m->digest, MBOX_DIGEST_LEN);
	put32(out + 48, m->suffix);
	put32(out + 52, m->flags & MSG_STORED_FLAGS);
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

int
mbox_index_parse(const uint8_t *buf, size_t len, struct mbox_index_hdr *h,
    struct mbox_msg **msgs, const char **why)
{
	uint8_t sum[EVP_MAX_MD_SIZE];
	unsigned sumlen;
	struct mbox_msg *v = NULL;
	const uint8_t *p;
	uint64_t region_end;
	uint32_t i, n;
	size_t k;

	*msgs = NULL;
	*why = "truncated";
	if (len < MBOX_INDEX_HDR_SIZE + MBOX_INDEX_SUM_SIZE)
		return -1;
	*why = "bad header";
	if (memcmp(buf, MBOX_INDEX_MAGIC, 8) != 0 ||
	    get32(buf + 8) != MBOX_INDEX_VERSION ||
	    get32(buf + 12) != MBOX_INDEX_HDR_SIZE ||
	    get32(buf + 16) != MBOX_INDEX_REC_SIZE)
		return -1;
	for (k = 96; k < MBOX_INDEX_HDR_SIZE; k++)
		if (buf[k] != 0)
			return -1;
	n = get32(buf + 60);
	if (n > MBOX_MAX_MSGS || mbox_index_file_size(n) != len) {
		*why = "wrong length";
		return -1;
	}
	*why = "checksum mismatch";
	if (EVP_Digest(buf, len - MBOX_INDEX_SUM_SIZE, sum, &sumlen,
	    (const EVP_MD *)mbox_sha256(), NULL) != 1 ||
	    memcmp(sum, buf + len - MBOX_INDEX_SUM_SIZE, 32) != 0)
		return -1;
	memset(h, 0, sizeof(*h));
	h->format = get32(buf + 20);
	h->dev = get64(buf + 24);
	h->ino = get64(buf + 32);
	h->size = get64(buf + 40);
	h->mtime_sec = (int64_t)get64(buf + 48);
	h->mtime_nsec = get32(buf + 56);
	h->nmsgs = n;
	memcpy(h->validation, buf + 64, 32);
	*why = "bad header";
	if (h->format > MBOX_FMT_MBOXRD || h->mtime_nsec >= 1000000000u ||
	    h->size > (uint64_t)INT64_MAX)
		return -1;
	if (n > 0)
		v = xreallocarray(NULL, n, sizeof(*v));
	p = buf + MBOX_INDEX_HDR_SIZE;
	for (i = 0; i < n; i++, p += MBOX_INDEX_REC_SIZE) {
		v[i].from_off = get64(p);
		v[i].data_off = get64(p + 8);
		v[i].end_off = get64(p + 16);
		v[i].size = get64(p + 24);
		memcpy(v[i].digest, p + 32, MBOX_DIGEST_LEN);
		v[i].suffix = get32(p + 48);
		v[i].flags = get32(p + 52);
	}
	for (i = 0; i < n; i++) {
		region_end = i + 1 < n ? v[i + 1].from_off : h->size;
		if ((*why = check_rec(&v[i], i, region_end)) != NULL) {
			free(v);
			return -1;
		}
	}
	if (!mbox_uidl_unique(v, n)) {
		*why = "duplicate UIDLs";
		free(v);
		return -1;
	}
	*why = NULL;
	*msgs = v;
	return 0;
}

/*
 * SHA-256 over up to VAL_SAMPLES sampled From_ line starts (with their
 * offsets) and the last VAL_TAIL_BYTES of [0, size). It reads at most
 * about 65 KiB, yet catches a mailbox rewritten by another program, a
 * replaced file, and truncation followed by new mail.
 */
int
mbox_validation_hash(int fd, const struct mbox_msg *msgs, uint32_t n,
    uint64_t size, uint8_t out[32])
{
	uint8_t b[VAL_SAMPLE_BYTES], le[8];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t off, tail, prev = UINT64_MAX;
	unsigned dlen;
	uint32_t k, i;
	size_t len;
	int r = -1;

	if (md == NULL || EVP_DigestInit_ex(md, mbox_sha256(), NULL) != 1)
		goto out;
	for (k = 0; n > 0 && k < VAL_SAMPLES; k++) {
		i = (uint32_t)((uint64_t)(n - 1) * k / (VAL_SAMPLES - 1));
		off = msgs[i].from_off;
		if (off == prev || off >= size)
			continue;
		prev = off;
		len = size - off < sizeof(b) ? (size_t)(size - off) : sizeof(b);
		if (mbox_pread_full(fd, b, len, off) != (ssize_t)len)
			goto out;
		put64(le, off);
		if (EVP_DigestUpdate(md, le, 8) != 1 ||
		    EVP_DigestUpdate(md, b, len) != 1)
			goto out;
	}
	tail = size < VAL_TAIL_BYTES ? size : VAL_TAIL_BYTES;
	if (tail > 0) {
		uint8_t *tb = xmalloc((size_t)tail);

		if (mbox_pread_full(fd, tb, (size_t)tail, size - tail) !=
		    (ssize_t)tail || EVP_DigestUpdate(md, tb, (size_t)tail) != 1) {
			free(tb);
			goto out;
		}
		free(tb);
	}
	put64(le, size);
	if (EVP_DigestUpdate(md, le, 8) == 1 &&
	    EVP_DigestFinal_ex(md, out, &dlen) == 1)
		r = 0;
out:
	EVP_MD_CTX_free(md);
	return r;
}

static void
index_name(const struct mbox *m, char *out, size_t outsz, const char *ext)
{
	snprintf(out, outsz, "%s.index%s", m->base, ext);
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
	uint8_t val[32], *buf = NULL;
	const char *why;
	struct stat ist;
	ssize_t got;
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
		mbox_log(m, LOG_WARNING, "%s/%s: not a plausible index, ignored",
		    m->idxdir, name);
		close(fd);
		return;
	}
	buf = xmalloc((size_t)ist.st_size);
	got = mbox_pread_full(fd, buf, (size_t)ist.st_size, 0);
	close(fd);
	if (got != (ssize_t)ist.st_size ||
	    mbox_index_parse(buf, (size_t)got, &h, old, &why) != 0) {
		mbox_log(m, LOG_NOTICE, "%s/%s: %s; rebuilding the index",
		    m->idxdir, name, got < 0 ? strerror(errno) :
		    got != (ssize_t)ist.st_size ? "short read" : why);
		free(buf);
		return;
	}
	free(buf);
	*nold = h.nmsgs;
	*verdict = MBOX_IDXV_STALE;
	if (h.format != (uint32_t)m->cfg.format || h.dev != (uint64_t)st->st_dev ||
	    h.ino != (uint64_t)st->st_ino || (uint64_t)st->st_size < h.size)
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
	if (mbox_validation_hash(m->fd, m->msgs, m->nmsgs, m->scanned_end,
	    m->idx_validation) != 0)
		return;
	m->idx_mtime_sec = (int64_t)st.st_mtim.tv_sec;
	m->idx_mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	m->idx_dirty = true;
}

/* After unlocking: write the index to a temporary file, fsync, rename. */
void
mbox_index_write(struct mbox *m)
{
	char name[NAME_MAX + 32], tmp[NAME_MAX + 32];
	uint8_t *buf, sum[EVP_MAX_MD_SIZE];
	struct mbox_index_hdr h;
	EVP_MD_CTX *md;
	size_t used = 0, bufsz = 64 * 1024;
	uint64_t off = 0;
	unsigned sumlen;
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
	memcpy(h.validation, m->idx_validation, 32);

	(void)unlinkat(m->idxfd, tmp, 0);
	fd = openat(m->idxfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0) {
		mbox_log(m, LOG_WARNING, "%s/%s: %s", m->idxdir, tmp,
		    strerror(errno));
		return;
	}
	buf = xmalloc(bufsz);
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, mbox_sha256(), NULL) != 1)
		goto out;
	mbox_index_encode_hdr(&h, buf);
	used = MBOX_INDEX_HDR_SIZE;
	for (i = 0; i <= m->nmsgs; i++) {
		if (i == m->nmsgs || used + MBOX_INDEX_REC_SIZE > bufsz) {
			if (EVP_DigestUpdate(md, buf, used) != 1 ||
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
	if (EVP_DigestFinal_ex(md, sum, &sumlen) != 1 ||
	    mbox_pwrite_full(fd, sum, MBOX_INDEX_SUM_SIZE, off) < 0 ||
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
	EVP_MD_CTX_free(md);
	free(buf);
}
