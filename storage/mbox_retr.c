/*
 * mbox_retr.c - RETR and TOP: stream one message through a fixed input
 * and output buffer, turning mbox bytes into what RFC 1939 sends (CRLF
 * line ends, ">From " unquoted, lines starting with '.' stuffed, a final
 * CRLF guaranteed). Before the first byte is sent the message's
 * boundaries are checked against the file, so a mailbox changed behind
 * our back gives an error, never someone else's bytes.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "mbox_int.h"
#include "mbox_scan.h"
#include "params.h"

struct xf {
	const struct mbox_xform_opts *o;
	mbox_read_fn rd;
	void *rctx;
	mbox_sink sink;
	void *sctx;
	uint8_t *in, *p, *e;
	size_t cap;
	bool eof;
	uint8_t *out;
	size_t olen;
	uint64_t octets;
	int err;
};

static void
xf_flush(struct xf *x, bool last)
{
	if (x->err == MBOX_OK && (x->olen > 0 || last) &&
	    x->sink(x->sctx, x->out, x->olen, last) != 0)
		x->err = MBOX_ERR_SINK;
	x->olen = 0;
}

/* Append to the output; counted is false only for stuffing dots. */
static void
xf_emit(struct xf *x, const void *src, size_t len, bool counted)
{
	const uint8_t *s = src;
	size_t n;

	if (counted)
		x->octets += len;
	while (len > 0 && x->err == MBOX_OK) {
		n = x->cap - x->olen;
		if (n > len)
			n = len;
		memcpy(x->out + x->olen, s, n);
		x->olen += n;
		s += n;
		len -= n;
		if (x->olen == x->cap)
			xf_flush(x, false);
	}
}

/* Keep the unconsumed bytes and read until need bytes or end of input. */
static void
xf_refill(struct xf *x, size_t need)
{
	size_t keep = (size_t)(x->e - x->p);
	ssize_t n;

	if (x->p > x->in) {
		memmove(x->in, x->p, keep);
		x->p = x->in;
		x->e = x->in + keep;
	}
	while (!x->eof && x->err == MBOX_OK && (size_t)(x->e - x->p) < need) {
		n = x->rd(x->rctx, x->e, x->cap - (size_t)(x->e - x->in));
		if (n < 0)
			x->err = MBOX_ERR_TEMP;
		else if (n == 0)
			x->eof = true;
		else
			x->e += n;
	}
}

/* mboxrd line with a long '>' run: send the run minus one '>', and the
 * one only if no "From " follows (all '>' look alike, so order is moot). */
static void
xf_gt_run(struct xf *x)
{
	const uint8_t *q;

	x->p++;
	for (;;) {
		for (q = x->p; q < x->e && *q == '>'; q++)
			;
		xf_emit(x, x->p, (size_t)(q - x->p), true);
		x->p = (uint8_t *)q;
		if (x->p < x->e || x->eof || x->err != MBOX_OK)
			break;
		xf_refill(x, 1);
	}
	if ((size_t)(x->e - x->p) < 5 && !x->eof)
		xf_refill(x, 5);
	if (!((size_t)(x->e - x->p) >= 5 && memcmp(x->p, "From ", 5) == 0))
		xf_emit(x, ">", 1, true);
}

/* The rest of a line, up to and including its LF (or the end). */
static void
xf_line_body(struct xf *x)
{
	const uint8_t *q;
	bool pending_cr = false;
	size_t len;

	while (x->err == MBOX_OK) {
		q = memchr(x->p, '\n', (size_t)(x->e - x->p));
		if (q != NULL) {
			len = (size_t)(q - x->p);
			if (pending_cr && len > 0)
				xf_emit(x, "\r", 1, true);
			if (len > 0 && q[-1] == '\r')
				len--;
			if (x->cap - x->olen > len + 2) {
				/* The common case, in one step: the line and
				 * its CRLF fit without filling the output (so
				 * no flush is due). */
				memcpy(x->out + x->olen, x->p, len);
				x->out[x->olen + len] = '\r';
				x->out[x->olen + len + 1] = '\n';
				x->olen += len + 2;
				x->octets += len + 2;
			} else {
				xf_emit(x, x->p, len, true);
				xf_emit(x, "\r\n", 2, true);
			}
			x->p = (uint8_t *)q + 1;
			return;
		}
		/* No LF here: send what we have but hold back a final CR,
		 * which is dropped if the next byte is the LF. */
		len = (size_t)(x->e - x->p);
		if (pending_cr && len > 0) {
			xf_emit(x, "\r", 1, true);
			pending_cr = false;
		}
		if (len > 0 && x->e[-1] == '\r') {
			pending_cr = true;
			len--;
		}
		xf_emit(x, x->p, len, true);
		x->p = x->e;
		if (!x->eof)
			xf_refill(x, 1);
		if (x->p == x->e) {
			/* Last line without LF: complete it. */
			if (pending_cr)
				xf_emit(x, "\r", 1, true);
			xf_emit(x, "\r\n", 2, true);
			return;
		}
	}
}

/*
 * A run of ordinary lines: not starting with '.', '>', 'F', CR or LF, so
 * nothing to unquote or stuff, never blank, never a From_ line (class 0
 * whatever follows; mbox_xform asks for no X-IMAP test). Each must be
 * whole in the input and fit the output without filling it; then only
 * its line end changes. This is most of every message, done here
 * without the main loop's per-line steps. body_left: TOP's budget of
 * body lines, or NULL for none. Returns whether it took a line.
 */
static bool
xf_plain_lines(struct xf *x, int64_t *body_left)
{
	bool took = false;

	while (x->p < x->e) {
		const uint8_t *q;
		size_t len;

		switch (*x->p) {
		case '.':
		case '>':
		case 'F':
		case '\r':
		case '\n':
			return took;
		default:
			break;
		}
		if (body_left != NULL && *body_left == 0)
			return took;
		q = memchr(x->p, '\n', (size_t)(x->e - x->p));
		if (q == NULL)
			return took;
		len = (size_t)(q - x->p);
		if (q[-1] == '\r')
			len--;	/* q > x->p: the line does not start with CR */
		if (x->cap - x->olen <= len + 2)
			return took;
		memcpy(x->out + x->olen, x->p, len);
		x->out[x->olen + len] = '\r';
		x->out[x->olen + len + 1] = '\n';
		x->olen += len + 2;
		x->octets += len + 2;
		x->p = (uint8_t *)q + 1;
		if (body_left != NULL)
			(*body_left)--;
		took = true;
	}
	return took;
}

size_t
mbox_xform_bufsize(const struct mbox_xform_opts *o)
{
	size_t cap = o->bufsize == 0 ? STORE_DATA_CHUNK : o->bufsize;

	return cap < MBOX_BUF_MIN ? MBOX_BUF_MIN : cap;
}

int
mbox_xform(const struct mbox_xform_opts *o, mbox_read_fn rd, void *rctx,
    mbox_sink sink, void *sctx, uint64_t *octets)
{
	struct xf x;
	bool in_hdr = true;
	int64_t body_left = o->body_lines;
	uint8_t *own = NULL;
	unsigned c;

	memset(&x, 0, sizeof(x));
	x.o = o;
	x.rd = rd;
	x.rctx = rctx;
	x.sink = sink;
	x.sctx = sctx;
	x.cap = mbox_xform_bufsize(o);
	if (o->bufs == NULL) {
		own = malloc(2 * x.cap);
		if (own == NULL)
			return MBOX_ERR_TEMP;
	}
	x.in = o->bufs != NULL ? o->bufs : own;
	x.out = x.in + x.cap;
	x.p = x.e = x.in;
	while (x.err == MBOX_OK) {
		if ((size_t)(x.e - x.p) < MBOX_LINE_PFX && !x.eof)
			xf_refill(&x, MBOX_LINE_PFX);
		if (x.p == x.e || x.err != MBOX_OK)
			break;
		if (xf_plain_lines(&x, in_hdr || o->body_lines < 0 ? NULL :
		    &body_left))
			continue;
		if (!in_hdr && o->body_lines >= 0) {
			if (body_left == 0)
				break;
			body_left--;
		}
		c = mbox_line_class(x.p, (size_t)(x.e - x.p), o->format, false);
		if (c & MBOX_LC_QUOTED)
			x.p++;
		else if (c & MBOX_LC_GTRUN)
			xf_gt_run(&x);
		else if (*x.p == '.')
			xf_emit(&x, ".", 1, false);
		xf_line_body(&x);
		if (c & MBOX_LC_BLANK)
			in_hdr = false;
	}
	if (o->held != NULL && o->bufs != NULL)
		*o->held = x.err == MBOX_OK ? x.olen : 0;
	else
		xf_flush(&x, true);
	free(own);
	*octets = x.octets;
	return x.err;
}

struct range_reader {
	int fd;
	uint64_t off, end;
};

static ssize_t
range_read(void *ctx, void *buf, size_t len)
{
	struct range_reader *rr = ctx;
	ssize_t n;

	if (rr->off >= rr->end)
		return 0;
	if (len > rr->end - rr->off)
		len = (size_t)(rr->end - rr->off);
	n = mbox_pread_full(rr->fd, buf, len, rr->off);
	if (n <= 0)
		return -1;	/* the file shrank under us */
	rr->off += (uint64_t)n;
	return n;
}

/*
 * A few bytes of the mailbox read at once. The checks below look at
 * bytes close together (the From_ line and the byte before it; the end
 * of the content, the separator and the next "From "), and one pread
 * for each was most of RETR's system calls. A byte outside the window
 * (or past a short read) is read from the file as before, so every
 * check sees what it would have seen.
 */
struct peek {
	int fd;
	uint64_t off;
	size_t len;
	uint8_t b[256];
};

static void
peek_load(struct peek *p, uint64_t off, size_t want)
{
	ssize_t n;

	if (want > sizeof(p->b))
		want = sizeof(p->b);
	n = mbox_pread_full(p->fd, p->b, want, off);
	p->off = off;
	p->len = n > 0 ? (size_t)n : 0;
}

static bool
peek_get(const struct peek *p, uint64_t off, void *out, size_t n)
{
	if (off >= p->off && off - p->off <= p->len &&
	    n <= p->len - (size_t)(off - p->off)) {
		memcpy(out, p->b + (off - p->off), n);
		return true;
	}
	return mbox_pread_full(p->fd, out, n, off) == (ssize_t)n;
}

/* mbox_from_at() through the window. */
static bool
peek_from_at(const struct peek *p, uint64_t off)
{
	uint8_t b[6];

	if (off == 0)
		return peek_get(p, 0, b, 5) && memcmp(b, "From ", 5) == 0;
	return peek_get(p, off - 1, b, 6) && b[0] == '\n' &&
	    memcmp(b + 1, "From ", 5) == 0;
}

/*
 * Is message i still where the table says? Its From_ line must start a
 * line, the content must end on a line end, and what follows must be the
 * separator (blank line, next From_ line) or the scanned end.
 */
static bool
mbox_boundaries_ok(const struct mbox *m, uint32_t i)
{
	const struct mbox_msg *msg = &m->msgs[i];
	uint64_t next = i + 1 < m->nmsgs ? m->msgs[i + 1].from_off :
	    m->scanned_end;
	uint8_t b[8];
	size_t gap = (size_t)(next - msg->end_off);
	struct peek pk = { .fd = m->fd };
	uint64_t at;
	struct stat st;

	if (fstat(m->fd, &st) != 0 || (uint64_t)st.st_size < m->scanned_end)
		return false;
	/* The byte before the From_ line up to the LF that ends it. */
	at = msg->from_off > 0 ? msg->from_off - 1 : 0;
	peek_load(&pk, at, msg->data_off > at + 6 ?
	    (size_t)(msg->data_off - at < sizeof(pk.b) ? msg->data_off - at :
	    sizeof(pk.b)) : 6);
	if (!peek_from_at(&pk, msg->from_off))
		return false;
	if (msg->data_off > msg->from_off && msg->data_off < m->scanned_end &&
	    (!peek_get(&pk, msg->data_off - 1, b, 1) || b[0] != '\n'))
		return false;
	if (gap > 2)
		return false;
	/* The content's last byte, the separator, the next "From ". */
	at = msg->end_off > 0 ? msg->end_off - 1 : 0;
	peek_load(&pk, at, 1 + gap + 6);
	if (gap > 0) {
		if (!peek_get(&pk, msg->end_off, b, gap) ||
		    b[gap - 1] != '\n' || (gap == 2 && b[0] != '\r'))
			return false;
	}
	if (msg->end_off > msg->data_off && next < m->scanned_end &&
	    (!peek_get(&pk, msg->end_off - 1, b, 1) || b[0] != '\n'))
		return false;	/* content must end on a line end */
	if (next < m->scanned_end && !peek_from_at(&pk, next))
		return false;
	return true;
}

int
mbox_retr(struct mbox *m, uint32_t msgno, int64_t body_lines,
    mbox_sink sink, void *ctx)
{
	struct mbox_xform_opts o;
	struct range_reader rr;
	struct mbox_msg *msg;
	uint64_t octets = 0;
	size_t held = 0;
	uint32_t i;
	int r;

	if (msgno == 0 || msgno > mbox_count(m))
		return MBOX_ERR_NOMSG;
	i = msgno - 1 + m->first_visible;
	msg = &m->msgs[i];
	if (msg->flags & MSG_DELETED)
		return MBOX_ERR_DELETED;
	if (!mbox_boundaries_ok(m, i)) {
		mbox_log(m, LOG_WARNING, "mailbox %s changed under us "
		    "(message %u is no longer where it was)", m->path, msgno);
		mbox_index_distrust(m);
		mbox_index_write(m);
		return MBOX_ERR_TEMP;
	}
	memset(&o, 0, sizeof(o));
	o.format = m->cfg.format;
	o.body_lines = body_lines;
	/* Allocated on the first RETR, kept until mbox_close(): 256 KiB
	 * per message was a fresh mmap (glibc's threshold is 128 KiB) and
	 * its page faults. */
	if (m->xform_bufs == NULL) {
		m->xform_bufs = malloc(2 * mbox_xform_bufsize(&o));
		if (m->xform_bufs == NULL)
			return MBOX_ERR_TEMP;
	}
	o.bufs = m->xform_bufs;
	o.held = &held;
	rr.fd = m->fd;
	rr.off = msg->data_off;
	rr.end = msg->end_off;
	r = mbox_xform(&o, range_read, &rr, sink, ctx, &octets);
	if (r == MBOX_OK && (body_lines < 0 ? octets != msg->size :
	    octets > msg->size)) {
		/* Too late to take back the bytes sent, but the last chunk
		 * is not: the caller never sees last and must not end the
		 * response as if it were complete. */
		mbox_log(m, LOG_ERR, "mailbox %s: message %u sent %llu octets, "
		    "expected %llu: changed under us", m->path, msgno,
		    (unsigned long long)octets, (unsigned long long)msg->size);
		mbox_index_distrust(m);
		mbox_index_write(m);
		r = MBOX_ERR_TEMP;
	}
	/* Checked: the last chunk may go now, and says so. */
	if (r == MBOX_OK && sink(ctx, m->xform_bufs + mbox_xform_bufsize(&o),
	    held, true) != 0)
		r = MBOX_ERR_SINK;
	return r;
}
