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

/* Can a line starting with c need attention (not just counting)? */
static inline bool
special_start(uint8_t c, bool want_x)
{
	return c == 'F' || c == '>' || c == '\n' || c == '\r' ||
	    (want_x && (c == 'X' || c == 'x'));
}

/*
 * Most lines need nothing but counting: skip them in bulk. From p (p[-1]
 * readable) find the first LF before e - 1 that is followed by a byte
 * that may start a line that matters (special_start); count the LFs and
 * CR LF pairs up to and including it. Returns that LF, or NULL; *next is
 * then the byte after the last LF counted (NULL if none). A blank line
 * always stops the skip (LF followed by LF or CR), so every skipped line
 * is a plain, non-blank one.
 */
static const uint8_t *
skip_plain(const uint8_t *p, const uint8_t *e, bool want_x, uint64_t *nlf,
    uint64_t *ncrlf, const uint8_t **next)
{
	uint64_t n = 0, c = 0;
	const uint8_t *last = NULL;

#ifdef __SSE2__
	const __m128i lfv = _mm_set1_epi8('\n'), crv = _mm_set1_epi8('\r'),
	    fv = _mm_set1_epi8('F'), gtv = _mm_set1_epi8('>'),
	    xuv = _mm_set1_epi8('X'), xlv = _mm_set1_epi8('x');

	/* Three overlapping loads give, for each byte, the one before it
	 * (CR LF pairs) and the one after it (the next line's start). */
	while (e - p >= 17) {
		__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned lf = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v1,
		    lfv));
		__m128i v0, v2, sp;
		unsigned crb, stop, upto;

		if (lf == 0) {
			p += 16;
			continue;
		}
		v0 = _mm_loadu_si128((const __m128i *)(const void *)(p - 1));
		v2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
		crb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v0, crv));
		sp = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v2, fv),
		    _mm_cmpeq_epi8(v2, gtv)), _mm_or_si128(_mm_cmpeq_epi8(v2,
		    lfv), _mm_cmpeq_epi8(v2, crv)));
		if (want_x)
			sp = _mm_or_si128(sp, _mm_or_si128(_mm_cmpeq_epi8(v2,
			    xuv), _mm_cmpeq_epi8(v2, xlv)));
		stop = lf & (unsigned)_mm_movemask_epi8(sp);
		upto = stop != 0 ? (2u << __builtin_ctz(stop)) - 1 : 0xffffu;
		n += popcount16(lf & upto);
		c += popcount16(lf & crb & upto);
		if (stop != 0) {
			*nlf += n;
			*ncrlf += c;
			*next = p + __builtin_ctz(stop) + 1;
			return p + __builtin_ctz(stop);
		}
		last = p + (31 - __builtin_clz(lf)) + 1;
		p += 16;
	}
#endif
	for (; p + 1 < e; p++) {
		if (*p != '\n')
			continue;
		n++;
		c += p[-1] == '\r';
		last = p + 1;
		if (special_start(p[1], want_x)) {
			*nlf += n;
			*ncrlf += c;
			*next = last;
			return p;
		}
	}
	*nlf += n;
	*ncrlf += c;
	*next = last;
	return NULL;
}

/* Consume one line; s->p is at its start with a full window or EOF. */
static int
scan_line(struct scan *s)
{
	uint64_t ls_off = OFF(s, s->p);
	const uint8_t *q;
	unsigned c;
	bool cr;
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

		q = skip_plain(s->p + 1, s->e, s->in_hdr && s->may_pseudo,
		    &s->nlf, &s->ncr, &next);
		if (q != NULL || next != NULL)
			s->prev_blank = false;
		if (q != NULL) {
			s->p = (uint8_t *)q + 1;
			return 0;
		}
		if (next != NULL) {
			/* the lines before next are done; the one starting
			 * there is plain and continues below */
			ls_off = OFF(s, next);
			s->p = (uint8_t *)next;
		}
	}
	for (;;) {
		q = memchr(s->p, '\n', (size_t)(s->e - s->p));
		if (q != NULL) {
			cr = OFF(s, q) > ls_off &&
			    (q > s->buf ? q[-1] : s->last_gone) == '\r';
			s->p = (uint8_t *)q + 1;
			return line_end(s, true, cr, (c & MBOX_LC_BLANK) != 0);
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
