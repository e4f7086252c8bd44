/*
 * fuzz-mbox-scan.c - a hostile mailbox through the storage engine's two
 * parsers, mbox_scan() and mbox_xform(), with small buffers and short
 * reads so that every refill path runs. The results are compared with a
 * plain whole-buffer model of the same rules written here, message by
 * message and byte by byte:
 *
 *  - boundaries, served size, pseudo message and UIDL digest of every
 *    message (the model: Python mailbox.mbox's splitting rules as
 *    mbox_scan.h documents them);
 *  - RETR and TOP output (CRLF, unquoting, dot-stuffing, final CRLF),
 *    and RETR's octet count equal to the size LIST announced;
 *  - the incremental path of the index (mailbox grown since the last
 *    session: keep all but the last known message, rescan from it):
 *    same table as a full scan, wherever the old end was.
 *
 * The full scan runs one of the scanner's code paths, the incremental
 * scan the other (baseline SSE2, and the AVX2 loop where the CPU has
 * it), so the two are checked against each other and the model.
 *
 * Input: 5 parameter bytes (format, pseudo check and code path of the
 * full scan in bits 0, 1, 2; scan buffer / 16;
 * read chunk; RETR buffer / 128 << 3 | TOP lines; old end for the
 * incremental scan, / 255 of the length), then the mailbox.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "fuzz.h"
#include "mbox_hash.h"
#include "mbox_scan.h"

#define MAX_MSGS	4096

struct msgs {
	struct mbox_scan_msg m[MAX_MSGS];
	uint32_t n;
};

struct reader {
	const uint8_t *d;
	size_t len, pos, chunk;
};

static ssize_t
rd(void *ctx, void *buf, size_t len)
{
	struct reader *r = ctx;
	size_t n = r->len - r->pos;

	if (n > len)
		n = len;
	if (n > r->chunk)
		n = r->chunk;	/* short reads, like a slow file system */
	memcpy(buf, r->d + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

static int
collect(void *ctx, const struct mbox_scan_msg *sm)
{
	struct msgs *ms = ctx;

	if (ms->n == MAX_MSGS)
		return 7;
	ms->m[ms->n++] = *sm;
	return 0;
}

/* ---- the model ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void
put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		FUZZ_CHECK(b->p != NULL);
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Line [s, *e): *e is after its LF or at the end; *lf says which. */
static size_t
line_end(const uint8_t *d, size_t len, size_t s, bool *lf)
{
	const uint8_t *q = memchr(d + s, '\n', len - s);

	*lf = q != NULL;
	return q != NULL ? (size_t)(q - d) + 1 : len;
}

static bool
is_blank(const uint8_t *d, size_t s, size_t e, bool lf)
{
	return lf && (e - s == 1 || (e - s == 2 && d[s] == '\r'));
}

static bool
is_quoted(const uint8_t *t, size_t n, enum mbox_format fmt)
{
	size_t k = 0;

	if (n == 0 || t[0] != '>')
		return false;
	if (fmt == MBOX_FMT_MBOXO)
		return n >= 6 && memcmp(t + 1, "From ", 5) == 0;
	while (k < n && t[k] == '>')
		k++;
	return n - k >= 5 && memcmp(t + k, "From ", 5) == 0;
}

/* RETR (body_lines < 0) or TOP of the content c[0, n). Returns the
 * octets RETR counts (everything but the stuffing dots). */
static uint64_t
model_xform(const uint8_t *c, size_t n, enum mbox_format fmt,
    int64_t body_lines, struct buf *out)
{
	size_t s = 0, e, tl;
	uint64_t octets = 0;
	bool lf, in_hdr = true;
	int64_t left = body_lines;

	while (s < n) {
		const uint8_t *t = c + s;

		e = line_end(c, n, s, &lf);
		if (!in_hdr && body_lines >= 0) {
			if (left == 0)
				break;
			left--;
		}
		tl = e - s - (lf ? 1 : 0);
		if (lf && tl > 0 && t[tl - 1] == '\r')
			tl--;	/* only a CR right before the LF goes */
		if (is_quoted(t, tl, fmt)) {
			t++;
			tl--;
		} else if (tl > 0 && t[0] == '.') {
			put(out, ".", 1);	/* stuffing: not counted */
		}
		put(out, t, tl);
		put(out, "\r\n", 2);
		octets += tl + 2;
		if (is_blank(c, s, e, lf))
			in_hdr = false;
		s = e;
	}
	return octets;
}

static bool
ximap(const uint8_t *t, size_t n)
{
	return (n >= 7 && strncasecmp((const char *)t, "X-IMAP:", 7) == 0) ||
	    (n >= 11 && strncasecmp((const char *)t, "X-IMAPbase:", 11) == 0);
}

static void
model_close(const uint8_t *d, struct mbox_scan_msg *m, uint64_t base,
    size_t from, size_t data, size_t region_end, enum mbox_format fmt,
    bool pseudo_check)
{
	size_t s, e, end = region_end, last = data, hdr_end = region_end;
	bool lf, hdr_done = false;
	struct buf junk = { 0 };
	uint8_t *dg_in;
	size_t fl, hl;

	for (s = data; s < region_end; s = e) {
		e = line_end(d, region_end, s, &lf);
		last = s;
		if (!hdr_done && is_blank(d, s, e, lf)) {
			hdr_done = true;
			hdr_end = s;
		}
		if (!hdr_done && pseudo_check && ximap(d + s, e - s))
			m->pseudo = true;
	}
	/* A blank last line belongs to the separator (or the file end). */
	if (region_end > data) {
		e = line_end(d, region_end, last, &lf);
		if (is_blank(d, last, e, lf))
			end = last;
	}
	m->from_off = base + from;
	m->data_off = base + data;
	m->end_off = base + end;
	m->region_end = base + region_end;
	m->size = model_xform(d + data, end - data, fmt, -1, &junk);
	free(junk.p);

	/* The digest in one call over the concatenation, where the
	 * scanner feeds its streaming hash in whatever pieces its buffer
	 * boundaries give. */
	fl = data - from < MBOX_DIGEST_FROM_CAP ? data - from :
	    MBOX_DIGEST_FROM_CAP;
	hl = hdr_end - data < MBOX_DIGEST_HDR_CAP ? hdr_end - data :
	    MBOX_DIGEST_HDR_CAP;
	dg_in = malloc(fl + hl + 8);
	FUZZ_CHECK(dg_in != NULL);
	memcpy(dg_in, d + from, fl);
	memcpy(dg_in + fl, d + data, hl);
	for (int i = 0; i < 8; i++)
		dg_in[fl + hl + i] = (uint8_t)(m->size >> (8 * i));
	mbox_hash128(dg_in, fl + hl + 8, m->digest);
	free(dg_in);
}

static void
model_scan(const uint8_t *d, size_t len, uint64_t base, enum mbox_format fmt,
    bool pseudo_check, struct msgs *out)
{
	size_t s = 0, e, from = 0, data = 0;
	bool lf, in_msg = false;

	out->n = 0;
	for (; s < len; s = e) {
		e = line_end(d, len, s, &lf);
		if (len - s >= 5 && memcmp(d + s, "From ", 5) == 0) {
			if (in_msg && out->n < MAX_MSGS) {
				memset(&out->m[out->n], 0, sizeof(out->m[0]));
				model_close(d, &out->m[out->n], base, from, data,
				    s, fmt, pseudo_check && out->n == 0);
				out->n++;
			}
			in_msg = true;
			from = s;
			data = e;
		}
	}
	if (in_msg && out->n < MAX_MSGS) {
		memset(&out->m[out->n], 0, sizeof(out->m[0]));
		model_close(d, &out->m[out->n], base, from, data, len, fmt,
		    pseudo_check && out->n == 0);
		out->n++;
	}
}

/* ---- comparisons ---- */

static void
same_msg(const struct mbox_scan_msg *a, const struct mbox_scan_msg *b)
{
	FUZZ_CHECK(a->from_off == b->from_off);
	FUZZ_CHECK(a->data_off == b->data_off);
	FUZZ_CHECK(a->end_off == b->end_off);
	FUZZ_CHECK(a->region_end == b->region_end);
	FUZZ_CHECK(a->size == b->size);
	FUZZ_CHECK(a->pseudo == b->pseudo);
	FUZZ_CHECK(memcmp(a->digest, b->digest, MBOX_DIGEST_LEN) == 0);
}

struct sink {
	struct buf b;
	size_t max_chunk;
	bool ended;		/* the chunk marked last came */
};

static int
sink(void *ctx, const void *p, size_t n, bool last)
{
	struct sink *s = ctx;

	FUZZ_CHECK(!s->ended);
	FUZZ_CHECK((n > 0 || last) && n <= s->max_chunk);
	s->ended = last;
	put(&s->b, p, n);
	return 0;
}

/* What a client would take for the end of the response, or a bare LF. */
static void
check_wire(const struct buf *o)
{
	if (o->len == 0)
		return;
	FUZZ_CHECK(o->len >= 2 && memcmp(o->p + o->len - 2, "\r\n", 2) == 0);
	FUZZ_CHECK(!(o->len >= 3 && memcmp(o->p, ".\r\n", 3) == 0));
	for (size_t i = 0; i < o->len; i++) {
		if (o->p[i] != '\n')
			continue;
		FUZZ_CHECK(i > 0 && o->p[i - 1] == '\r');
		FUZZ_CHECK(!(o->len - i - 1 >= 3 &&
		    memcmp(o->p + i + 1, ".\r\n", 3) == 0));
	}
}

static void
check_xform(const uint8_t *d, const struct mbox_scan_msg *m, uint64_t base,
    enum mbox_format fmt, size_t bufsize, int64_t top, size_t chunk)
{
	struct mbox_xform_opts o;
	struct reader r;
	struct sink s;
	struct buf want = { 0 };
	uint64_t octets = 0, want_octets;
	size_t off = (size_t)(m->data_off - base), n = (size_t)(m->end_off - m->data_off);

	uint8_t *bufs = NULL;

	for (int pass = 0; pass < 2; pass++) {
		int64_t lines = pass == 0 ? -1 : top;

		memset(&o, 0, sizeof(o));
		o.format = fmt;
		o.body_lines = lines;
		o.bufsize = bufsize;
		if (pass == 1) {
			/* The caller's buffers, as a session reuses them:
			 * full of bytes that must never be read as input. */
			size_t cap = mbox_xform_bufsize(&o);

			bufs = malloc(2 * cap);
			FUZZ_CHECK(bufs != NULL);
			for (size_t i = 0; i < 2 * cap; i++)
				bufs[i] = (uint8_t)"From x\n.\r>"[i % 10];
			o.bufs = bufs;
		}
		memset(&s, 0, sizeof(s));
		s.max_chunk = bufsize < MBOX_BUF_MIN ? MBOX_BUF_MIN : bufsize;
		r.d = d + off;
		r.len = n;
		r.pos = 0;
		r.chunk = chunk;
		FUZZ_CHECK(mbox_xform(&o, rd, &r, sink, &s, &octets) == MBOX_OK);
		FUZZ_CHECK(s.ended);
		want.len = 0;
		want_octets = model_xform(d + off, n, fmt, lines, &want);
		FUZZ_CHECK(octets == want_octets);
		FUZZ_CHECK(s.b.len == want.len);
		FUZZ_CHECK(want.len == 0 || memcmp(s.b.p, want.p, want.len) == 0);
		check_wire(&s.b);
		if (pass == 0)
			FUZZ_CHECK(octets == m->size);	/* LIST == RETR */
		else
			FUZZ_CHECK(octets <= m->size);
		free(s.b.p);
	}
	free(bufs);
	free(want.p);
}

static int
scan(const uint8_t *d, size_t len, uint64_t base, enum mbox_format fmt,
    bool pseudo_check, size_t bufsize, size_t chunk, bool portable,
    struct msgs *out, struct mbox_scan_result *res)
{
	struct mbox_scan_opts o;
	struct reader r = { d, len, 0, chunk };

	memset(&o, 0, sizeof(o));
	o.format = fmt;
	o.start_off = base;
	o.pseudo_check = pseudo_check;
	o.bufsize = bufsize;
	o.portable = portable;
	out->n = 0;
	return mbox_scan(&o, rd, &r, collect, out, res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct msgs full, model, part, rest;
	struct mbox_scan_result res;
	enum mbox_format fmt;
	bool pseudo_check, portable;
	size_t bufsize, chunk, xbuf, split, len;
	int64_t top;
	const uint8_t *d;
	int r;

	if (size < 5)
		return 0;
	fmt = (data[0] & 1) ? MBOX_FMT_MBOXRD : MBOX_FMT_MBOXO;
	pseudo_check = (data[0] & 2) != 0;
	/* The full scan with one code path, the incremental one with the
	 * other (SSE2 vs the AVX2 loop where the CPU has it). */
	portable = (data[0] & 4) != 0;
	/* Buffers from the minimum (the engine raises anything smaller to
	 * MBOX_BUF_MIN) to 4 KiB: the default sizes (1 MiB, 128 KiB) run
	 * the same code and would only make each run slower. */
	bufsize = (size_t)data[1] * 16 + 16;
	chunk = data[2] == 0 ? SIZE_MAX : (size_t)data[2];
	xbuf = (size_t)(data[3] >> 3) * 128 + 16;
	top = (data[3] & 7) == 7 ? 1000 : (int64_t)(data[3] & 7);
	d = data + 5;
	len = size - 5;
	split = len * data[4] / 255;

	/* 1. The full scan against the model. */
	r = scan(d, len, 0, fmt, pseudo_check, bufsize, chunk, portable, &full,
	    &res);
	if (r == 7)
		return 0;	/* more messages than this target keeps */
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(res.end_off == len && res.bytes == len);
	FUZZ_CHECK(res.nmsgs == full.n);
	model_scan(d, len, 0, fmt, pseudo_check, &model);
	FUZZ_CHECK(model.n == full.n);
	for (uint32_t i = 0; i < full.n; i++) {
		const struct mbox_scan_msg *m = &full.m[i];

		FUZZ_CHECK(m->from_off + 5 <= m->data_off);
		FUZZ_CHECK(m->data_off <= m->end_off && m->end_off <= m->region_end);
		FUZZ_CHECK(m->region_end - m->end_off <= 2);
		FUZZ_CHECK(i + 1 == full.n ? m->region_end == len :
		    m->region_end == full.m[i + 1].from_off);
		same_msg(m, &model.m[i]);
		/* 2. RETR and TOP of every message. */
		check_xform(d, m, 0, fmt, xbuf, top, chunk);
	}

	/* 3. The incremental path: the mailbox ended at split last time. */
	r = scan(d, split, 0, fmt, pseudo_check, bufsize, chunk, !portable,
	    &part, &res);
	FUZZ_CHECK(r == 0);
	if (part.n > 0) {
		uint64_t from = part.m[part.n - 1].from_off;

		r = scan(d + from, len - (size_t)from, from, fmt,
		    pseudo_check && part.n == 1, bufsize, chunk, !portable,
		    &rest, &res);
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(res.end_off == len);
		FUZZ_CHECK(part.n - 1 + rest.n == full.n);
		for (uint32_t i = 0; i + 1 < part.n; i++)
			same_msg(&part.m[i], &full.m[i]);
		for (uint32_t i = 0; i < rest.n; i++)
			same_msg(&rest.m[i], &full.m[part.n - 1 + i]);
	}
	return 0;
}
