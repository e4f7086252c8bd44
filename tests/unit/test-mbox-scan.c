/*
 * test-mbox-scan.c - the pure parsers (mbox_scan, mbox_xform) against a
 * table of hand-made mailboxes with hand-computed sizes, against the
 * naive oracle of mbox_testlib.c, and against themselves under every
 * way of cutting the input into reads.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbox_hash.h"
#include "mbox_scan.h"
#include "mbox_testlib.h"
#include "tap.h"

struct mem_reader {
	const uint8_t *p;
	size_t len, off, chunk;
	uint32_t rnd;		/* nonzero: random chunk sizes */
};

static ssize_t
mem_read(void *ctx, void *buf, size_t len)
{
	struct mem_reader *r = ctx;
	size_t n = r->len - r->off;

	if (n > len)
		n = len;
	if (r->rnd != 0) {
		size_t c = 1 + tl_rand(&r->rnd) % 97;

		if (n > c)
			n = c;
	} else if (r->chunk != 0 && n > r->chunk) {
		n = r->chunk;
	}
	memcpy(buf, r->p + r->off, n);
	r->off += n;
	return (ssize_t)n;
}

struct msgs {
	struct mbox_scan_msg v[4096];
	size_t n;
};

static int
collect(void *ctx, const struct mbox_scan_msg *m)
{
	struct msgs *ms = ctx;

	if (ms->n < sizeof(ms->v) / sizeof(ms->v[0]))
		ms->v[ms->n] = *m;
	ms->n++;
	return 0;
}

/* Set while a test wants the baseline scan code only (no AVX2). */
static bool scan_portable;

static int
scan_mem(const uint8_t *p, size_t len, enum mbox_format fmt, size_t chunk,
    uint32_t rnd, size_t bufsize, struct msgs *out)
{
	struct mem_reader r = { p, len, 0, chunk, rnd };
	struct mbox_scan_opts o;
	struct mbox_scan_result res;
	int rc;

	memset(&o, 0, sizeof(o));
	o.format = fmt;
	o.pseudo_check = true;
	o.bufsize = bufsize;
	o.portable = scan_portable;
	out->n = 0;
	rc = mbox_scan(&o, mem_read, &r, collect, out, &res);
	if (rc == 0 && (res.end_off != len || res.bytes != len ||
	    res.nmsgs != out->n))
		return -2;
	return rc;
}

static bool
same_msgs(const struct msgs *a, const struct msgs *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n && i < 4096; i++)
		if (memcmp(&a->v[i], &b->v[i], offsetof(struct mbox_scan_msg,
		    pseudo)) != 0 || a->v[i].pseudo != b->v[i].pseudo)
			return false;
	return true;
}

/* Does the scan agree with the oracle? Returns a reason or NULL. */
static const char *
check_oracle(const uint8_t *p, size_t len, enum mbox_format fmt,
    const struct msgs *ms)
{
	struct tl_omsg *o;
	size_t n = tl_oracle(p, len, fmt, &o), i;
	const char *why = NULL;

	if (n != ms->n)
		why = "message count";
	for (i = 0; why == NULL && i < n; i++) {
		const struct mbox_scan_msg *m = &ms->v[i];

		if (m->from_off != o[i].from_off || m->data_off != o[i].data_off)
			why = "start offsets";
		else if (m->end_off != o[i].stop || m->region_end != o[i].region_end)
			why = "end offsets";
		else if (m->size != o[i].served.len)
			why = "size";
		else if (m->pseudo != o[i].pseudo)
			why = "pseudo flag";
	}
	tl_oracle_free(o, n);
	return why;
}

/* xform of every message equals the stuffed oracle text, under chunking. */
static const char *
check_xform(const uint8_t *p, size_t len, enum mbox_format fmt,
    const struct msgs *ms, size_t chunk, size_t bufsize)
{
	struct tl_omsg *o;
	struct tl_buf out = { 0 }, want = { 0 }, top = { 0 };
	size_t n = tl_oracle(p, len, fmt, &o), i;
	const char *why = NULL;
	int64_t lines;

	for (i = 0; why == NULL && i < n && i < ms->n; i++) {
		for (lines = -1; why == NULL && lines <= 2; lines++) {
			struct mem_reader r = { p + ms->v[i].data_off,
			    ms->v[i].end_off - ms->v[i].data_off, 0, chunk, 0 };
			struct mbox_xform_opts xo = { .format = fmt,
			    .body_lines = lines, .bufsize = bufsize };
			uint64_t octets = 0;

			out.len = 0;
			tl_buf_add(&out, "", 0);
			if (mbox_xform(&xo, mem_read, &r, tl_sink, &out,
			    &octets) != MBOX_OK) {
				why = "xform failed";
				break;
			}
			if (lines < 0) {
				tl_stuff(&o[i].served, &want);
				if (octets != ms->v[i].size)
					why = "octets != size";
			} else {
				tl_top(&o[i].served, lines, &top);
				tl_stuff(&top, &want);
				if (octets != top.len)
					why = "TOP octets";
			}
			if (why == NULL && (out.len != want.len ||
			    memcmp(out.p, want.p, out.len) != 0))
				why = lines < 0 ? "RETR bytes" : "TOP bytes";
		}
	}
	tl_buf_free(&out);
	tl_buf_free(&want);
	tl_buf_free(&top);
	tl_oracle_free(o, n);
	return why;
}

struct tcase {
	const char *name;
	const char *in;
	size_t len;		/* 0: strlen */
	enum mbox_format fmt;
	int count;
	long sizes[3];		/* hand-computed, -1 = not checked */
	int pseudo_first;
};

#define S(x)	x, sizeof(x) - 1
static const struct tcase cases[] = {
	{ "empty file", S(""), 0, 0, { -1 }, 0 },
	{ "preamble only", S("hello\nworld\n"), 0, 0, { -1 }, 0 },
	{ "no leading From_: preamble kept out",
	  S("junk\n\nFrom a\nS: 1\n\nb\n"), 0, 1, { 11 }, 0 },
	{ "two messages, blank separator",
	  S("From a\nS: 1\n\nbody\n\nFrom b\nS: 2\n\nb2\n"), 0, 2, { 14, 12 }, 0 },
	{ "CRLF mailbox",
	  S("From a\r\nS: 1\r\n\r\nbody\r\n\r\nFrom b\r\nS: 2\r\n\r\nb2\r\n"),
	  0, 2, { 14, 12 }, 0 },
	{ "last message without final newline",
	  S("From a\nS: 1\n\nlast"), 0, 1, { 14 }, 0 },
	{ "NUL bytes", S("From a\nS: \0\n\nb\0dy\n"), 0, 1, { 14 }, 0 },
	{ "From_ in body without blank line",
	  S("From a\nS: 1\n\nx\nFrom b\ny\n"), 0, 2, { 11, 3 }, 0 },
	{ "empty message", S("From a\nFrom b\nS\n"), 0, 2, { 0, 3 }, 0 },
	{ "From_ line at EOF without LF",
	  S("From a\nx\n\nFrom b"), 0, 2, { 3, 0 }, 0 },
	{ "only one trailing blank line belongs to the separator",
	  S("From a\nx\n\n\n"), 0, 1, { 5 }, 0 },
	{ "mboxo unquotes exactly >From",
	  S("From a\n\n>From x\n>>From y\n>Fromz\n"), MBOX_FMT_MBOXO, 1,
	  { 28 }, 0 },
	{ "mboxrd unquotes >+From",
	  S("From a\n\n>From x\n>>From y\n>Fromz\n"), MBOX_FMT_MBOXRD, 1,
	  { 27 }, 0 },
	{ "lone CRs stay, CR before LF goes",
	  S("From a\n\na\rb\r\r\n\r\n"), 0, 1, { 8 }, 0 },
	{ "CR LF blank line is a separator's",
	  S("From a\nx\n\r\nFrom b\n"), 0, 2, { 3, 0 }, 0 },
	{ "lone CR does not end a line",
	  S("From a\nx\n\rFrom b\n"), 0, 1, { 12 }, 0 },
	{ "From_ lookalikes are content",
	  S("From a\n\nFrom\nFROM x\nfrom y\n From z\n"), 0, 1, { 33 }, 0 },
	{ "dot lines", S("From a\n.\n..\n\n.x\n"), 0, 1, { 13 }, 0 },
	{ "pseudo message hidden",
	  S("From MAILER-DAEMON Thu Jan  1 00:00:00 2024\nSubject: DON'T DELETE "
	  "THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1 2\n\nbody\n\n"
	  "From a\nS\n\nb\n"), 0, 2, { -1, 8 }, 1 },
	{ "X-IMAPbase, any case",
	  S("From x\nx-imapBASE: 1\n\nFrom a\n"), 0, 2, { -1, 0 }, 1 },
	{ "X-IMAP only counts in the first message",
	  S("From a\nS\n\nFrom b\nX-IMAP: 1\n\n"), 0, 2, { 3, 11 }, 0 },
	{ "X-IMAP in the body is not a header",
	  S("From a\nS\n\nX-IMAP: 1\n"), 0, 1, { -1 }, 0 },
	{ "sender's Content-Length, Status and X-UIDL are not trusted",
	  S("From a\nContent-Length: 1\nStatus: RO\nX-UIDL: x\n\n0123456789\n"),
	  0, 1, { 56 }, 0 },
};

static void
run_case(const struct tcase *c)
{
	const uint8_t *p = (const uint8_t *)c->in;
	static const size_t chunks[] = { 1, 2, 5, 7, 16, 17, 63, 64 };
	struct msgs *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	const char *why;
	size_t k;
	bool inv = true;
	int i;

	ok(scan_mem(p, c->len, c->fmt, 0, 0, 0, a) == 0, "%s: scans", c->name);
	is_int(a->n, c->count, "%s: %d messages", c->name, c->count);
	for (i = 0; i < 3 && i < c->count; i++)
		if (c->sizes[i] >= 0)
			is_int(a->v[i].size, c->sizes[i], "%s: size of #%d",
			    c->name, i + 1);
	if (c->count > 0)
		is_int(a->v[0].pseudo, c->pseudo_first, "%s: pseudo flag",
		    c->name);
	why = check_oracle(p, c->len, c->fmt, a);
	ok(why == NULL, "%s: agrees with the oracle%s%s", c->name,
	    why ? ": " : "", why ? why : "");
	for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		if (scan_mem(p, c->len, c->fmt, chunks[k], 0, MBOX_BUF_MIN,
		    b) != 0 || !same_msgs(a, b))
			inv = false;
	}
	ok(inv, "%s: same result for every read size", c->name);
	why = check_xform(p, c->len, c->fmt, a, 1, MBOX_BUF_MIN);
	ok(why == NULL, "%s: RETR/TOP bytes, 1-byte reads%s%s", c->name,
	    why ? ": " : "", why ? why : "");
	why = check_xform(p, c->len, c->fmt, a, 0, 0);
	ok(why == NULL, "%s: RETR/TOP bytes, large reads%s%s", c->name,
	    why ? ": " : "", why ? why : "");
	free(a);
	free(b);
}

/* A line far larger than every buffer, alone and as a From_ line. */
static void
test_long_lines(void)
{
	struct tl_buf in = { 0 };
	struct msgs *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	size_t big = 3 * 1024 * 1024, i;
	const char *why;

	tl_buf_adds(&in, "From ");
	for (i = 0; i < big; i++)
		tl_buf_add(&in, i % 1000 == 999 ? "\r" : "f", 1);
	tl_buf_adds(&in, "\nS: 1\n\n");
	for (i = 0; i < big; i++)
		tl_buf_add(&in, i % 4096 == 0 ? "\r" : "x", 1);
	tl_buf_adds(&in, "\r\n\nFrom b\n\n");
	for (i = 0; i < 40000; i++)
		tl_buf_add(&in, ">", 1);
	tl_buf_adds(&in, "From the deep\n");
	ok(scan_mem(in.p, in.len, MBOX_FMT_MBOXRD, 0, 0, 0, a) == 0 &&
	    a->n == 2, "3 MB lines: two messages");
	is_int(a->v[0].size, 6 + 2 + big + 2, "3 MB line: size");
	is_int(a->v[1].size, 2 + 39999 + 13 + 2, "40000 '>' run: one removed");
	ok(scan_mem(in.p, in.len, MBOX_FMT_MBOXRD, 4096, 0, MBOX_BUF_MIN, b) == 0 &&
	    same_msgs(a, b), "3 MB lines: same with 64-byte buffer");
	why = check_oracle(in.p, in.len, MBOX_FMT_MBOXRD, a);
	ok(why == NULL, "3 MB lines: oracle agrees (%s)", why ? why : "yes");
	why = check_xform(in.p, in.len, MBOX_FMT_MBOXRD, a, 1000, MBOX_BUF_MIN);
	ok(why == NULL, "3 MB lines: RETR bytes (%s)", why ? why : "yes");
	tl_buf_free(&in);
	free(a);
	free(b);
}

/* Digest properties the UIDL scheme relies on. */
static void
test_digests(void)
{
	struct msgs *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	const char *one = "From a Mon\nS: 1\n\nbody\n";
	const char *grown = "From a Mon\nS: 1\n\nbody\n\nFrom b Tue\nS: 2\n\nx\n";
	const char *hdr_only = "From a Mon\nS: 1\n";
	const char *hdr_grown = "From a Mon\nS: 1\n\nFrom b Tue\nS: 2\n";
	const char *twin = "From a Mon\nS: 1\n\nbody\n\nFrom a Mon\nS: 1\n\nbody\n";
	const char *other_date = "From a Tue\nS: 1\n\nbody\n";

	scan_mem((const uint8_t *)one, strlen(one), 0, 0, 0, 0, a);
	scan_mem((const uint8_t *)grown, strlen(grown), 0, 0, 0, 0, b);
	ok(a->n == 1 && b->n == 2 && a->v[0].size == b->v[0].size &&
	    memcmp(a->v[0].digest, b->v[0].digest, MBOX_DIGEST_LEN) == 0,
	    "appending mail changes neither size nor digest of the last one");
	scan_mem((const uint8_t *)hdr_only, strlen(hdr_only), 0, 0, 0, 0, a);
	scan_mem((const uint8_t *)hdr_grown, strlen(hdr_grown), 0, 0, 0, 0, b);
	ok(a->n == 1 && b->n == 2 && a->v[0].size == b->v[0].size &&
	    memcmp(a->v[0].digest, b->v[0].digest, MBOX_DIGEST_LEN) == 0,
	    "header-only message: separator blank line not in the digest");
	scan_mem((const uint8_t *)twin, strlen(twin), 0, 0, 0, 0, a);
	ok(a->n == 2 && memcmp(a->v[0].digest, a->v[1].digest,
	    MBOX_DIGEST_LEN) == 0, "byte-identical messages share a digest");
	scan_mem((const uint8_t *)other_date, strlen(other_date), 0, 0, 0, 0, b);
	ok(b->n == 1 && memcmp(a->v[0].digest, b->v[0].digest,
	    MBOX_DIGEST_LEN) != 0, "the From_ line is part of the digest");

	/* The scheme, pinned: H(From_ line || header || size as 8 bytes LE)
	 * with the engine's hash, and its value for one message. A change
	 * here changes every UIDL: it needs a new MBOX_INDEX_VERSION and a
	 * NEWS entry. */
	{
		const char *f = "From a@b Sat Nov 21 10:00:00 2026\n";
		const char *h = "Subject: one\n";
		char mb[128], hex[2 * MBOX_DIGEST_LEN + 1];
		uint8_t in[128], want[MBOX_HASH_LEN];
		size_t n = 0;
		int i;

		snprintf(mb, sizeof(mb), "%s%s\nbody\n", f, h);
		memcpy(in, f, strlen(f));
		n = strlen(f);
		memcpy(in + n, h, strlen(h));
		n += strlen(h);
		for (i = 0; i < 8; i++)
			in[n + (size_t)i] = (uint8_t)((uint64_t)22 >> (8 * i));
		mbox_hash128(in, n + 8, want);
		scan_mem((const uint8_t *)mb, strlen(mb), 0, 0, 0, 0, a);
		for (i = 0; i < MBOX_DIGEST_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", a->v[0].digest[i]);
		ok(a->n == 1 && a->v[0].size == 22 &&
		    memcmp(a->v[0].digest, want, MBOX_DIGEST_LEN) == 0,
		    "digest = hash(From_ line, header, size)");
		ok(strcmp(hex, "67c5aeb54849dfa40a854dc5d54226fa") == 0,
		    "digest of a fixed message is pinned (%s)", hex);
	}
	free(a);
	free(b);
}

/*
 * The engine's hash: MurmurHash3_x64_128 exactly (SMHasher's
 * verification value: hashes of 0..255-byte keys with seeds 256..1,
 * hashed again), and the streaming form equal to one call however the
 * input is cut. UIDLs depend on both.
 */
static void
test_hash(void)
{
	uint8_t key[256], hashes[MBOX_HASH_LEN * 256], fin[MBOX_HASH_LEN];
	uint8_t buf[1500], one[MBOX_HASH_LEN], two[MBOX_HASH_LEN];
	struct mbox_hash h;
	uint32_t x = 12345, v;
	size_t n, off, k;
	int i, bad = 0;

	for (i = 0; i < 256; i++) {
		key[i] = (uint8_t)i;
		mbox_hash128_seed(key, (size_t)i, 256u - (uint32_t)i,
		    hashes + i * MBOX_HASH_LEN);
	}
	mbox_hash128_seed(hashes, sizeof(hashes), 0, fin);
	v = (uint32_t)fin[0] | (uint32_t)fin[1] << 8 | (uint32_t)fin[2] << 16 |
	    (uint32_t)fin[3] << 24;
	ok(v == 0x6384ba69u, "hash: MurmurHash3_x64_128 verification value "
	    "(%08x)", v);
	for (k = 0; k < sizeof(buf); k++) {
		x = x * 1103515245u + 12345u;
		buf[k] = (uint8_t)(x >> 16);
	}
	for (i = 0; i < 3000; i++) {
		x = x * 1103515245u + 12345u;
		n = (x >> 8) % sizeof(buf);
		mbox_hash128(buf, n, one);
		mbox_hash_init(&h);
		for (off = 0; off < n; off += k) {
			x = x * 1103515245u + 12345u;
			k = (x >> 8) % 40;
			if (k > n - off)
				k = n - off;
			mbox_hash_update(&h, buf + off, k);
		}
		mbox_hash_final(&h, two);
		bad += memcmp(one, two, MBOX_HASH_LEN) != 0;
	}
	is_int(bad, 0, "hash: streamed in random pieces == one call");
}

/* Many generated mailboxes: oracle agreement, chunk invariance, and
 * size == RETR octets for every message, in both formats. */
static void
test_generated(void)
{
	struct msgs *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int bad_oracle = 0, bad_chunk = 0, bad_xform = 0, bad_port = 0;
	int total = 0;
	const char *why;
	uint32_t seed;
	int fmt;

	for (seed = 1; seed <= 150; seed++) {
		struct tl_buf in = { 0 };

		tl_gen_mbox(seed, 1 + seed % 25, &in);
		for (fmt = 0; fmt <= 1; fmt++) {
			if (scan_mem(in.p, in.len, fmt, 0, 0, 0, a) != 0) {
				bad_oracle++;
				continue;
			}
			total += (int)a->n;
			if ((why = check_oracle(in.p, in.len, fmt, a)) != NULL) {
				printf("# seed %u fmt %d: %s\n", seed, fmt, why);
				bad_oracle++;
			}
			if (scan_mem(in.p, in.len, fmt, 0, seed, MBOX_BUF_MIN +
			    seed % 50, b) != 0 || !same_msgs(a, b))
				bad_chunk++;
			scan_portable = true;
			if (scan_mem(in.p, in.len, fmt, 0, 0, 0, b) != 0 ||
			    !same_msgs(a, b))
				bad_port++;
			scan_portable = false;
			if ((why = check_xform(in.p, in.len, fmt, a,
			    seed % 3 == 0 ? 1 : 100, MBOX_BUF_MIN)) != NULL) {
				printf("# seed %u fmt %d: %s\n", seed, fmt, why);
				bad_xform++;
			}
		}
		tl_buf_free(&in);
	}
	ok(total > 2000, "generated: %d messages in 300 mailboxes", total);
	is_int(bad_oracle, 0, "generated: scanner agrees with the oracle");
	is_int(bad_chunk, 0, "generated: random read sizes change nothing");
	is_int(bad_port, 0, "generated: baseline (SSE2) and run-time chosen "
	    "(AVX2 where the CPU has it) scan code agree");
	is_int(bad_xform, 0, "generated: RETR/TOP bytes and size == octets");
	free(a);
	free(b);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcase c = cases[i];

		if (c.len == 0)
			c.len = strlen(c.in);
		run_case(&c);
	}
	test_long_lines();
	test_digests();
	test_hash();
	test_generated();
	return tap_done();
}
