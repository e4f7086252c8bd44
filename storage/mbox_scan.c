/*
 * mbox_scan.c - the mailbox scanner: one pass over the bytes of an mbox
 * that reports every message with its boundaries, the octets RETR will
 * send for it and its UIDL digest.
 *
 * Rules (those of Python's mailbox.mbox, which most tools agree with):
 * any line starting with "From " starts a message; a blank line right
 * before it belongs to the separator, and so does a blank last line of
 * the file (so a message's size does not change when mail is appended
 * after it); only LF ends a line and a CR right before it is dropped;
 * bytes before the first From_ line are a preamble.
 *
 * Speed comes from reading large chunks and finding line ends with
 * memchr(); each line start is classified once from at most
 * MBOX_LINE_PFX bytes, and the served size is derived from counts
 * (size = content bytes + LFs - CRs before LF - quoted lines, + 2 for a
 * last line without LF) instead of per-byte work.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* An AVX2 copy of the skip loop, chosen at run time (GCC and clang on
 * x86-64). */
#if defined(__x86_64__) && defined(__SSE2__) && defined(__GNUC__)
#define MBOX_SCAN_AVX2
#include <immintrin.h>
#endif

#include "mbox_hash.h"
#include "mbox_scan.h"

struct scan {
	const struct mbox_scan_opts *o;
	mbox_read_fn rd;
	void *rctx;
	mbox_msg_fn cb;
	void *mctx;

	uint8_t *buf;
	size_t cap;
	uint8_t *p, *e;		/* unconsumed bytes */
	uint64_t base;		/* file offset of buf[0] */
	uint8_t last_gone;	/* the byte at base - 1 */
	bool eof;
	uint64_t bytes;

	struct mbox_hash md;
	bool hash_on;		/* bytes from hs on go into the digest */
	size_t hash_left;	/* budget of the current part (From_/header) */
	const uint8_t *hs;

	bool in_msg, in_from, in_hdr, may_pseudo;
	struct mbox_scan_msg cur;
	uint64_t nlf, ncr, nq;	/* LFs, CRs before LF, quoted lines */
	bool prev_blank, last_nolf;
	uint8_t blank_len;
	uint32_t nmsgs;
#ifdef MBOX_SCAN_AVX2
	bool avx2;		/* skip_plain_avx2 */
#endif
};

#define OFF(s, ptr)	((s)->base + (uint64_t)((ptr) - (s)->buf))

/* Add the bytes [hs, upto) to the digest, within the part's budget. */
static void
hash_flush(struct scan *s, const uint8_t *upto)
{
	size_t n;

	if (s->hash_on && upto > s->hs) {
		n = (size_t)(upto - s->hs);
		if (n > s->hash_left)
			n = s->hash_left;
		mbox_hash_update(&s->md, s->hs, n);
		s->hash_left -= n;
		if (s->hash_left == 0)
			s->hash_on = false;
	}
	s->hs = upto;
}

/*
 * Drop the consumed bytes and read until at least need bytes are
 * available or the input ends. Only the unconsumed tail (at most a line
 * start window) is ever moved.
 */
static int
refill(struct scan *s, size_t need)
{
	size_t keep = (size_t)(s->e - s->p);
	ssize_t n;

	hash_flush(s, s->p);
	if (s->p > s->buf) {
		s->last_gone = s->p[-1];
		memmove(s->buf, s->p, keep);
		s->base += (uint64_t)(s->p - s->buf);
		s->p = s->buf;
		s->e = s->buf + keep;
	}
	s->hs = s->p;
	while (!s->eof && (size_t)(s->e - s->p) < need) {
		n = s->rd(s->rctx, s->e, s->cap - (size_t)(s->e - s->buf));
		if (n < 0)
			return -1;
		if (n == 0) {
			s->eof = true;
			break;
		}
		s->e += n;
		s->bytes += (uint64_t)n;
	}
	return 0;
}

static void
msg_start(struct scan *s)
{
	s->in_msg = true;
	s->in_from = true;
	s->in_hdr = false;
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur.from_off = OFF(s, s->p);
	s->nlf = s->ncr = s->nq = 0;
	s->prev_blank = s->last_nolf = false;
	s->may_pseudo = s->o->pseudo_check && s->nmsgs == 0;
	mbox_hash_init(&s->md);
	s->hash_on = true;
	s->hash_left = MBOX_DIGEST_FROM_CAP;
	s->hs = s->p;
}

/* The current message ends where the next region starts (next_off). */
static int
msg_end(struct scan *s, uint64_t next_off)
{
	uint8_t le[8];
	uint64_t end = next_off;
	unsigned i;

	if (!s->in_msg)
		return 0;
	if (s->prev_blank) {
		end -= s->blank_len;
		s->nlf--;
		if (s->blank_len == 2)
			s->ncr--;
	}
	s->cur.end_off = end;
	s->cur.region_end = next_off;
	s->cur.size = (end - s->cur.data_off) + s->nlf - s->ncr - s->nq +
	    (s->last_nolf ? 2 : 0);
	hash_flush(s, s->p);
	for (i = 0; i < 8; i++)
		le[i] = (uint8_t)(s->cur.size >> (8 * i));
	mbox_hash_update(&s->md, le, sizeof(le));
	mbox_hash_final(&s->md, s->cur.digest);
	s->in_msg = false;
	s->hash_on = false;
	s->nmsgs++;
	return s->cb != NULL ? s->cb(s->mctx, &s->cur) : 0;
}

/* A line ended: at a LF (lf), or at the end of input. */
static int
line_end(struct scan *s, bool lf, bool cr, bool blank)
{
	if (!s->in_msg)
		return 0;
	if (s->in_from) {
		s->cur.data_off = OFF(s, s->p);
		hash_flush(s, s->p);
		s->in_from = false;
		s->in_hdr = true;
		s->hash_on = true;
		s->hash_left = MBOX_DIGEST_HDR_CAP;
		s->hs = s->p;
		return 0;
	}
	if (lf) {
		s->nlf++;
		if (cr)
			s->ncr++;
		s->prev_blank = blank;
		s->blank_len = cr ? 2 : 1;
	} else {
		s->last_nolf = true;
		s->prev_blank = false;
	}
	return 0;
}

/*
 * mboxrd: the line starts with more '>' than the window holds. Skip the
 * run, then look for "From ". Returns 1 if the line is quoted.
 */
static int
gt_run(struct scan *s)
{
	for (;;) {
		while (s->p < s->e && *s->p == '>')
			s->p++;
		if (s->p < s->e || s->eof)
			break;
		if (refill(s, 1) < 0)
			return -1;
	}
	if ((size_t)(s->e - s->p) < 5 && !s->eof && refill(s, 5) < 0)
		return -1;
	return (size_t)(s->e - s->p) >= 5 && memcmp(s->p, "From ", 5) == 0;
}

#ifdef __SSE2__
/* Bits set in a 16-bit mask, without the libgcc call that baseline
 * x86-64 (no POPCNT) makes of __builtin_popcount. */
static inline unsigned
popcount16(unsigned v)
{
	v = v - ((v >> 1) & 0x5555u);
	v = (v & 0x3333u) + ((v >> 2) & 0x3333u);
	v = (v + (v >> 4)) & 0x0f0fu;
	return (v + (v >> 8)) & 0x1fu;
}
#endif

#ifdef __SSE2__
/* The sum of the 16 byte lanes of v. */
static inline uint64_t
lane_sum(__m128i v)
{
	__m128i t = _mm_sad_epu8(v, _mm_setzero_si128());

	return (uint64_t)_mm_cvtsi128_si64(t) +
	    (uint64_t)_mm_cvtsi128_si64(_mm_srli_si128(t, 8));
}
#endif

/*
 * Can a line starting with c need attention (not just counting)? In a
 * header a blank line (LF, or CR LF) ends it; in a body, and in the
 * preamble, blank lines are only counted (see last_line_blank).
 */
static inline bool
special_start(uint8_t c, bool hdr, bool want_x)
{
	return c == 'F' || c == '>' || (hdr && (c == '\n' || c == '\r')) ||
	    (want_x && (c == 'X' || c == 'x'));
}

/*
 * The line starting at l (after a LF) may matter: decide with the one
 * classifier whether the skip must stop there, so that scan_line sees
 * it (a From_ line, the header's end, X-IMAP, a '>' run longer than the
 * window, or too few bytes left to tell), or whether it is content
 * that needs no more than counting (a quoted line is counted here).
 */
static inline bool
must_stop(struct scan *s, const uint8_t *l, bool hdr, bool want_x)
{
	size_t avail = (size_t)(s->e - l);
	unsigned c;

	if (avail < MBOX_LINE_PFX && !s->eof)
		return true;
	c = mbox_line_class(l, avail, s->o->format, want_x);
	if ((c & (MBOX_LC_FROM | MBOX_LC_XIMAP | MBOX_LC_GTRUN)) ||
	    (hdr && (c & MBOX_LC_BLANK)))
		return true;
	if (c & MBOX_LC_QUOTED)
		s->nq++;
	return false;
}

/*
 * The last bytes of a skip (fewer than a vector block), one by one; n,
 * c and last carry what the vector loop counted.
 */
static inline __attribute__((always_inline)) const uint8_t *
skip_tail(struct scan *s, const uint8_t *p, const uint8_t **next, bool hdr,
    bool want_x, uint64_t n, uint64_t c, const uint8_t *last)
{
	const uint8_t *e = s->e;

	for (; p + 1 < e; p++) {
		if (*p != '\n')
			continue;
		n++;
		c += p[-1] == '\r';
		last = p + 1;
		if (special_start(p[1], hdr, want_x) &&
		    must_stop(s, p + 1, hdr, want_x)) {
			s->nlf += n;
			s->ncr += c;
			*next = last;
			return p;
		}
	}
	s->nlf += n;
	s->ncr += c;
	*next = last;
	return NULL;
}

#ifdef __SSE2__
/* One 16-byte block at p: its LF mask, its CR LF mask (CR before LF)
 * and its candidates (LFs followed by a byte special_start accepts). */
struct blk {
	__m128i lf, cr;
	unsigned cand;
};

static inline __attribute__((always_inline)) void
blk_load(struct blk *k, const uint8_t *p, bool hdr, bool want_x)
{
	__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(p - 1));
	__m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
	__m128i sp;

	k->lf = _mm_cmpeq_epi8(v1, _mm_set1_epi8('\n'));
	k->cr = _mm_and_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8('\r')), k->lf);
	sp = _mm_or_si128(_mm_cmpeq_epi8(v2, _mm_set1_epi8('F')),
	    _mm_cmpeq_epi8(v2, _mm_set1_epi8('>')));
	if (hdr)
		sp = _mm_or_si128(sp, _mm_or_si128(_mm_cmpeq_epi8(v2,
		    _mm_set1_epi8('\n')), _mm_cmpeq_epi8(v2,
		    _mm_set1_epi8('\r'))));
	if (want_x)
		sp = _mm_or_si128(sp, _mm_or_si128(_mm_cmpeq_epi8(v2,
		    _mm_set1_epi8('X')), _mm_cmpeq_epi8(v2, _mm_set1_epi8('x'))));
	k->cand = (unsigned)_mm_movemask_epi8(_mm_and_si128(sp, k->lf));
}
#endif

/*
 * Most lines need nothing but counting: skip them in bulk. From p (p[-1]
 * readable, p inside the line that starts at s->p) find the first LF
 * before s->e - 1 whose next line must_stop; count the LFs and CR LF
 * pairs up to and including it. Returns that LF, or NULL; *next is then
 * the byte after the last LF counted (NULL if none), and the line
 * starting there has been looked at (it is content; its end is still to
 * be found). Quoted lines passed on the way are counted in s->nq.
 *
 * hdr and want_x are constants in each caller (skip_plain), so that
 * every mode gets its own loop without tests of the mode in it.
 */
static inline __attribute__((always_inline)) const uint8_t *
skip_mode(struct scan *s, const uint8_t *p, const uint8_t **next, bool hdr,
    bool want_x)
{
	const uint8_t *last = NULL;
	uint64_t n = 0, c = 0;

#ifdef __SSE2__
	const uint8_t *e = s->e;

	/*
	 * LFs and CR LF pairs of whole blocks are summed per byte lane (a
	 * compare gives -1 where it matches) and folded into n and c before
	 * a lane can wrap: no bit counting in the common case. Every block
	 * gets the same work, LF or not: a branch on "this block has a LF"
	 * goes either way at random (a third of the blocks) and its
	 * mispredictions cost more than the work. Three overlapping loads
	 * give, for each byte, the one before it (CR LF pairs) and the one
	 * after it (the next line's start).
	 */
	const __m128i zero = _mm_setzero_si128();
	__m128i acc_lf = zero, acc_cr = zero;
	const uint8_t *p0 = p, *lastlf;
	unsigned nacc = 0, upto, b;
	struct blk k, k2;

	for (;;) {
		/* 32 bytes a step while no line start needs a look. */
		while (e - p >= 33) {
			blk_load(&k, p, hdr, want_x);
			blk_load(&k2, p + 16, hdr, want_x);
			if ((k.cand | k2.cand) != 0)
				break;
			acc_lf = _mm_sub_epi8(_mm_sub_epi8(acc_lf, k.lf), k2.lf);
			acc_cr = _mm_sub_epi8(_mm_sub_epi8(acc_cr, k.cr), k2.cr);
			p += 32;
			if ((nacc += 2) >= 254) {
				n += lane_sum(acc_lf);
				c += lane_sum(acc_cr);
				acc_lf = acc_cr = zero;
				nacc = 0;
			}
		}
		if (e - p < 17)
			break;
		/* One block, looking at its candidates. */
		blk_load(&k, p, hdr, want_x);
		for (; k.cand != 0; k.cand &= k.cand - 1) {
			b = (unsigned)__builtin_ctz(k.cand);
			if (!must_stop(s, p + b + 1, hdr, want_x))
				continue;
			upto = (2u << b) - 1;
			n += lane_sum(acc_lf) + popcount16(
			    (unsigned)_mm_movemask_epi8(k.lf) & upto);
			c += lane_sum(acc_cr) + popcount16(
			    (unsigned)_mm_movemask_epi8(k.cr) & upto);
			s->nlf += n;
			s->ncr += c;
			*next = p + b + 1;
			return p + b;
		}
		acc_lf = _mm_sub_epi8(acc_lf, k.lf);
		acc_cr = _mm_sub_epi8(acc_cr, k.cr);
		p += 16;
		if (++nacc >= 254) {
			n += lane_sum(acc_lf);
			c += lane_sum(acc_cr);
			acc_lf = acc_cr = zero;
			nacc = 0;
		}
	}
	n += lane_sum(acc_lf);
	c += lane_sum(acc_cr);
	if (p > p0 && (lastlf = memrchr(p0, '\n', (size_t)(p - p0))) != NULL)
		last = lastlf + 1;
#endif
	return skip_tail(s, p, next, hdr, want_x, n, c, last);
}

#ifdef MBOX_SCAN_AVX2
/*
 * The same loop with 32-byte blocks, for CPUs with AVX2 (chosen at run
 * time: the build stays baseline x86-64). It does half the
 * instructions per byte of the SSE2 loop; the tests and the fuzz target
 * run both (mbox_scan_opts.portable) and compare.
 */
struct blk2 {
	__m256i lf, cr;
	uint32_t cand;
};

static inline __attribute__((always_inline, target("avx2"))) void
blk2_load(struct blk2 *k, const uint8_t *p, bool hdr, bool want_x)
{
	__m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)p);
	__m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)
	    (p - 1));
	__m256i v2 = _mm256_loadu_si256((const __m256i *)(const void *)
	    (p + 1));
	__m256i sp;

	k->lf = _mm256_cmpeq_epi8(v1, _mm256_set1_epi8('\n'));
	k->cr = _mm256_and_si256(_mm256_cmpeq_epi8(v0,
	    _mm256_set1_epi8('\r')), k->lf);
	sp = _mm256_or_si256(_mm256_cmpeq_epi8(v2, _mm256_set1_epi8('F')),
	    _mm256_cmpeq_epi8(v2, _mm256_set1_epi8('>')));
	if (hdr)
		sp = _mm256_or_si256(sp, _mm256_or_si256(_mm256_cmpeq_epi8(v2,
		    _mm256_set1_epi8('\n')), _mm256_cmpeq_epi8(v2,
		    _mm256_set1_epi8('\r'))));
	if (want_x)
		sp = _mm256_or_si256(sp, _mm256_or_si256(_mm256_cmpeq_epi8(v2,
		    _mm256_set1_epi8('X')), _mm256_cmpeq_epi8(v2,
		    _mm256_set1_epi8('x'))));
	k->cand = (uint32_t)_mm256_movemask_epi8(_mm256_and_si256(sp, k->lf));
}

static inline __attribute__((always_inline, target("avx2"))) uint64_t
lane_sum2(__m256i v)
{
	__m256i t = _mm256_sad_epu8(v, _mm256_setzero_si256());

	return (uint64_t)_mm256_extract_epi64(t, 0) +
	    (uint64_t)_mm256_extract_epi64(t, 1) +
	    (uint64_t)_mm256_extract_epi64(t, 2) +
	    (uint64_t)_mm256_extract_epi64(t, 3);
}

static inline __attribute__((always_inline, target("avx2,popcnt")))
const uint8_t *
skip_mode_avx2(struct scan *s, const uint8_t *p, const uint8_t **next,
    bool hdr, bool want_x)
{
	const uint8_t *e = s->e, *last = NULL, *p0 = p, *lastlf;
	const __m256i zero = _mm256_setzero_si256();
	__m256i acc_lf = zero, acc_cr = zero;
	uint64_t n = 0, c = 0;
	uint32_t upto;
	unsigned nacc = 0, b;
	struct blk2 k, k2;

	for (;;) {
		while (e - p >= 65) {
			blk2_load(&k, p, hdr, want_x);
			blk2_load(&k2, p + 32, hdr, want_x);
			if ((k.cand | k2.cand) != 0)
				break;
			acc_lf = _mm256_sub_epi8(_mm256_sub_epi8(acc_lf, k.lf),
			    k2.lf);
			acc_cr = _mm256_sub_epi8(_mm256_sub_epi8(acc_cr, k.cr),
			    k2.cr);
			p += 64;
			if ((nacc += 2) >= 254) {
				n += lane_sum2(acc_lf);
				c += lane_sum2(acc_cr);
				acc_lf = acc_cr = zero;
				nacc = 0;
			}
		}
		if (e - p < 33)
			break;
		blk2_load(&k, p, hdr, want_x);
		for (; k.cand != 0; k.cand &= k.cand - 1) {
			b = (unsigned)__builtin_ctz(k.cand);
			if (!must_stop(s, p + b + 1, hdr, want_x))
				continue;
			upto = (uint32_t)((2ull << b) - 1);
			n += lane_sum2(acc_lf) + (uint64_t)__builtin_popcount(
			    (uint32_t)_mm256_movemask_epi8(k.lf) & upto);
			c += lane_sum2(acc_cr) + (uint64_t)__builtin_popcount(
			    (uint32_t)_mm256_movemask_epi8(k.cr) & upto);
			s->nlf += n;
			s->ncr += c;
			*next = p + b + 1;
			return p + b;
		}
		acc_lf = _mm256_sub_epi8(acc_lf, k.lf);
		acc_cr = _mm256_sub_epi8(acc_cr, k.cr);
		p += 32;
		if (++nacc >= 254) {
			n += lane_sum2(acc_lf);
			c += lane_sum2(acc_cr);
			acc_lf = acc_cr = zero;
			nacc = 0;
		}
	}
	n += lane_sum2(acc_lf);
	c += lane_sum2(acc_cr);
	if (p > p0 && (lastlf = memrchr(p0, '\n', (size_t)(p - p0))) != NULL)
		last = lastlf + 1;
	return skip_tail(s, p, next, hdr, want_x, n, c, last);
}

static __attribute__((target("avx2,popcnt"))) const uint8_t *
skip_plain_avx2(struct scan *s, const uint8_t *p, const uint8_t **next)
{
	if (!s->in_hdr)
		return skip_mode_avx2(s, p, next, false, false);
	if (!s->may_pseudo)
		return skip_mode_avx2(s, p, next, true, false);
	return skip_mode_avx2(s, p, next, true, true);
}
#endif

static const uint8_t *
skip_plain(struct scan *s, const uint8_t *p, const uint8_t **next)
{
#ifdef MBOX_SCAN_AVX2
	if (s->avx2)
		return skip_plain_avx2(s, p, next);
#endif
	if (!s->in_hdr)
		return skip_mode(s, p, next, false, false);
	if (!s->may_pseudo)
		return skip_mode(s, p, next, true, false);
	return skip_mode(s, p, next, true, true);
}

/*
 * After a skip: is the last line it counted, ending at the LF z, blank?
 * Only lines after the current one (which starts at s->p and is not
 * blank, or it would not have been skipped) can be, so the bytes looked
 * at are in the buffer.
 */
static void
last_line_blank(struct scan *s, const uint8_t *z)
{
	s->prev_blank = false;
	if (z - 1 > s->p && z[-1] == '\n') {
		s->prev_blank = true;
		s->blank_len = 1;
	} else if (z - 2 > s->p && z[-1] == '\r' && z[-2] == '\n') {
		s->prev_blank = true;
		s->blank_len = 2;
	}
}

/* Consume one line; s->p is at its start with a full window or EOF. */
static int
scan_line(struct scan *s)
{
	uint64_t ls_off = OFF(s, s->p);
	const uint8_t *q;
	unsigned c;
	bool cr, blank;
	int r;

	c = mbox_line_class(s->p, (size_t)(s->e - s->p), s->o->format,
	    s->in_hdr && s->may_pseudo);
	if (c & MBOX_LC_FROM) {
		if ((r = msg_end(s, ls_off)) != 0)
			return r;
		msg_start(s);
	} else if (s->in_msg) {
		if ((c & MBOX_LC_BLANK) && s->in_hdr) {
			/* The header ends; its blank line is not hashed, so a
			 * separator blank line cannot change a digest. */
			hash_flush(s, s->p);
			s->hash_on = false;
			s->in_hdr = false;
		}
		if (c & MBOX_LC_XIMAP)
			s->cur.pseudo = true;
		if (c & MBOX_LC_QUOTED)
			s->nq++;
	}
	if (c & MBOX_LC_GTRUN) {
		if ((r = gt_run(s)) < 0)
			return -1;
		if (r == 1 && s->in_msg && !s->in_from)
			s->nq++;
	} else if (!(c & (MBOX_LC_FROM | MBOX_LC_BLANK)) && !s->in_from &&
	    s->p < s->e) {
		const uint8_t *next;

		q = skip_plain(s, s->p + 1, &next);
		if (q != NULL || next != NULL)
			last_line_blank(s, q != NULL ? q : next - 1);
		if (q != NULL) {
			s->p = (uint8_t *)q + 1;
			return 0;
		}
		if (next != NULL) {
			/* the lines before next are done; the one starting
			 * there is content and continues below */
			ls_off = OFF(s, next);
			s->p = (uint8_t *)next;
		}
	}
	for (;;) {
		q = memchr(s->p, '\n', (size_t)(s->e - s->p));
		if (q != NULL) {
			cr = OFF(s, q) > ls_off &&
			    (q > s->buf ? q[-1] : s->last_gone) == '\r';
			/* blank: LF or CR LF alone (this line may be one the
			 * skip reached, not the one classified as c) */
			blank = OFF(s, q) == ls_off ||
			    (OFF(s, q) == ls_off + 1 && cr);
			s->p = (uint8_t *)q + 1;
			return line_end(s, true, cr, blank);
		}
		s->p = s->e;
		if (!s->eof && refill(s, 1) < 0)
			return -1;
		if (s->p == s->e)
			return line_end(s, false, false, false);
	}
}

int
mbox_scan(const struct mbox_scan_opts *o, mbox_read_fn rd, void *rctx,
    mbox_msg_fn cb, void *mctx, struct mbox_scan_result *res)
{
	struct scan s;
	int r = 0, saved;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.rd = rd;
	s.rctx = rctx;
	s.cb = cb;
	s.mctx = mctx;
	s.cap = o->bufsize == 0 ? MBOX_SCAN_BUF_DEFAULT : o->bufsize;
	if (s.cap < MBOX_BUF_MIN)
		s.cap = MBOX_BUF_MIN;
	s.base = o->start_off;
#ifdef MBOX_SCAN_AVX2
	s.avx2 = !o->portable && __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("popcnt");
#endif
	s.buf = malloc(s.cap);
	if (s.buf == NULL) {
		errno = ENOMEM;
		return -1;
	}
	s.p = s.e = s.buf;
	for (;;) {
		if ((size_t)(s.e - s.p) < MBOX_LINE_PFX && !s.eof &&
		    refill(&s, MBOX_LINE_PFX) < 0) {
			r = -1;
			break;
		}
		if (s.p == s.e) {
			r = msg_end(&s, OFF(&s, s.p));
			break;
		}
		if ((r = scan_line(&s)) != 0)
			break;
	}
	saved = errno;
	if (res != NULL) {
		res->end_off = OFF(&s, s.p);
		res->bytes = s.bytes;
		res->nmsgs = s.nmsgs;
	}
	free(s.buf);
	errno = saved;
	return r;
}
