/*
 * test-mbox-retr.c - RETR/TOP through the public API on real files: the
 * octets LIST/STAT report equal the octets RETR sends (before stuffing)
 * for every message of many generated mailboxes, the bytes equal the
 * reference parser's, TOP, errors, chunking of the sink, refusal to
 * serve bytes from a mailbox that changed under us, and that opening and
 * RETR of a 64 MB message stream it (peak memory grows by far less).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbox.h"
#include "mbox_testlib.h"
#include "params.h"
#include "tap.h"

/* Every LF preceded by CR, no CR elsewhere before LF issues, ends CRLF. */
static bool
wire_clean(const struct tl_buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if (b->p[i] == '\n' && (i == 0 || b->p[i - 1] != '\r'))
			return false;
	return b->len == 0 || (b->len >= 2 && b->p[b->len - 2] == '\r' &&
	    b->p[b->len - 1] == '\n');
}

static void
test_generated(void)
{
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "mbox"), *idx;
	struct tl_buf in = { 0 }, out = { 0 }, want = { 0 }, top = { 0 };
	int bad_size = 0, bad_bytes = 0, bad_wire = 0, bad_top = 0;
	int bad_stat = 0, bad_open = 0, nmsg = 0;
	uint32_t seed;

	for (seed = 1; seed <= 80; seed++) {
		struct mbox_config cfg;
		struct mbox *m;
		struct tl_omsg *o;
		size_t n, first;
		uint32_t i, cnt, smsgs;
		uint64_t size, sum = 0, soct;

		in.len = 0;
		idx = tl_path(dir, seed % 6 == 1 ? "idx1" : "idx");
		unlink(path);	/* a new inode: no warning about the index */
		tl_gen_mbox(seed + 1000, 1 + seed % 40, &in);
		tl_write(path, in.p, in.len);
		tl_cfg(&cfg, path, seed % 2 ? idx : NULL);
		cfg.format = seed % 3 == 0 ? MBOX_FMT_MBOXRD : MBOX_FMT_MBOXO;
		n = tl_oracle(in.p, in.len, cfg.format, &o);
		first = n > 0 && o[0].pseudo ? 1 : 0;
		if (mbox_open(&cfg, &m) != MBOX_OK) {
			bad_open++;
			tl_oracle_free(o, n);
			continue;
		}
		cnt = mbox_count(m);
		if (cnt != n - first)
			bad_size++;
		for (i = 1; i <= cnt && i + first - 1 < n; i++) {
			const struct tl_omsg *om = &o[i + first - 1];

			nmsg++;
			if (mbox_info(m, i, &size, NULL) != MBOX_OK ||
			    size != om->served.len)
				bad_size++;
			sum += size;
			if (tl_retr(m, i, -1, &out) != MBOX_OK) {
				bad_bytes++;
				continue;
			}
			tl_stuff(&om->served, &want);
			if (out.len != want.len || memcmp(out.p, want.p, out.len))
				bad_bytes++;
			if (!wire_clean(&out))
				bad_wire++;
			tl_top(&om->served, (int64_t)(seed % 4), &top);
			tl_stuff(&top, &want);
			if (tl_retr(m, i, (int64_t)(seed % 4), &out) != MBOX_OK ||
			    out.len != want.len || memcmp(out.p, want.p, out.len))
				bad_top++;
		}
		mbox_stat(m, &smsgs, &soct);
		if (smsgs != cnt || soct != sum)
			bad_stat++;
		mbox_close(m);
		tl_oracle_free(o, n);
	}
	ok(nmsg > 1000, "generated files: %d messages served", nmsg);
	is_int(bad_open, 0, "generated files: every mailbox opens");
	is_int(bad_size, 0, "generated files: LIST size == reference size");
	is_int(bad_bytes, 0, "generated files: RETR bytes == reference bytes");
	is_int(bad_wire, 0, "generated files: CRLF only, final CRLF");
	is_int(bad_top, 0, "generated files: TOP bytes == reference");
	is_int(bad_stat, 0, "generated files: STAT == sum of LIST");
	tl_buf_free(&in);
	tl_buf_free(&out);
	tl_buf_free(&want);
	tl_buf_free(&top);
}

static int
failing_sink(void *ctx, const void *buf, size_t len, bool last)
{
	(void)ctx;
	(void)buf;
	(void)len;
	(void)last;
	return -1;
}

static void
test_errors_and_chunks(void)
{
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "mbox");
	struct tl_buf in = { 0 }, out = { 0 }, body = { 0 };
	struct mbox_config cfg;
	struct mbox *m;
	const char *last = "..a dot-stuffed line of some length\r\n";
	const char *late = "From c@x Fri\nS: late\n\nlate\n";
	size_t i;

	for (i = 0; i < 20000; i++)
		tl_buf_adds(&body, i == 0 ? ".a dot-stuffed line of some length" :
		    "\n.a dot-stuffed line of some length");
	tl_gen_msg(&in, "a@x", "one", "short");
	tl_gen_msg(&in, "b@x", "big", (const char *)body.p);
	tl_write(path, in.p, in.len);
	tl_cfg(&cfg, path, NULL);
	ok(mbox_open(&cfg, &m) == MBOX_OK, "open");
	is_int(mbox_retr(m, 0, -1, tl_sink, &out), MBOX_ERR_NOMSG,
	    "RETR 0: no such message");
	is_int(mbox_retr(m, 3, -1, tl_sink, &out), MBOX_ERR_NOMSG,
	    "RETR 3 of 2: no such message");
	is_int(mbox_retr(m, 2, -1, failing_sink, NULL), MBOX_ERR_SINK,
	    "failing sink reported");
	tl_sink_calls = tl_sink_max = 0;
	is_int(tl_retr(m, 2, -1, &out), MBOX_OK, "RETR of a 700 KB message");
	ok(tl_sink_calls > 5 && tl_sink_max <= STORE_DATA_CHUNK,
	    "streamed in %zu chunks of at most %zu bytes", tl_sink_calls,
	    tl_sink_max);
	ok(out.len > 20000 * 37 && memcmp(out.p + out.len - strlen(last),
	    last, strlen(last)) == 0,
	    "every '.' line stuffed, CRLF");
	is_int(mbox_dele(m, 1), MBOX_OK, "DELE 1");
	is_int(mbox_dele(m, 1), MBOX_ERR_DELETED, "DELE 1 again");
	is_int(mbox_retr(m, 1, -1, tl_sink, &out), MBOX_ERR_DELETED,
	    "RETR of a deleted message");
	is_int(mbox_info(m, 1, NULL, NULL), MBOX_ERR_DELETED,
	    "LIST of a deleted message");
	mbox_rset(m);
	is_int(tl_retr(m, 1, 0, &out), MBOX_OK, "RSET undeletes; TOP 1 0");
	ok(out.len > 0 && memcmp(out.p + out.len - 4, "\r\n\r\n", 4) == 0 &&
	    strstr((char *)out.p, "short") == NULL,
	    "TOP 0: the header and the blank line, no body");

	/* Mail delivered during the session does not disturb RETR. */
	tl_append(path, late, strlen(late));
	is_int(tl_retr(m, 1, -1, &out), MBOX_OK, "RETR after an append");
	is_int(mbox_count(m), 2, "appended mail is not in this session");

	/* Someone rewrites the mailbox in place: offsets are wrong now. */
	in.len = 0;
	tl_buf_adds(&in, "X");
	tl_gen_msg(&in, "a@x", "one", "short");
	tl_gen_msg(&in, "b@x", "big", "small now");
	tl_write(path, in.p, in.len);
	out.len = 0;
	is_int(tl_retr(m, 2, -1, &out), MBOX_ERR_TEMP,
	    "RETR of a shifted message: temporary error");
	is_int(out.len, 0, "and not a byte of the wrong message sent");
	tl_write(path, "", 0);
	is_int(tl_retr(m, 1, -1, &out), MBOX_ERR_TEMP,
	    "RETR from a truncated mailbox: temporary error");
	mbox_close(m);
	tl_buf_free(&in);
	tl_buf_free(&out);
	tl_buf_free(&body);
}

/* A sink that takes one chunk, then fails: a RETR cut short. */
static int
sink_fails_second(void *ctx, const void *buf, size_t len, bool last)
{
	size_t *calls = ctx;

	(void)buf;
	(void)len;
	(void)last;
	return (*calls)++ == 0 ? 0 : -1;
}

/*
 * One session serves many messages through the same transform buffers
 * (kept in struct mbox from the first RETR to mbox_close): a big message
 * after a small one and the other way round, TOP in between, a RETR cut
 * short by its sink, and runs of empty lines whose CRLF ends exactly at
 * the end of the output buffer (one of the two parities does). Every
 * answer must equal the reference parser's, byte for byte: nothing left
 * over from the message before.
 */
static void
test_session_reuse(void)
{
	static const uint32_t order[] = { 1, 2, 3, 4, 1, 5, 3, 2, 4, 5, 1, 3 };
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "mbox");
	struct tl_buf in = { 0 }, out = { 0 }, want = { 0 }, body = { 0 };
	struct tl_buf big = { 0 };
	struct mbox_config cfg;
	struct tl_omsg *o;
	struct mbox *m;
	size_t n, i, calls = 0;
	int bad = 0, bad_top = 0;

	for (i = 0; i < 150000; i++)
		tl_buf_adds(&body, "\n");
	tl_buf_add(&body, "", 1);
	for (i = 0; i < 9000; i++)
		tl_buf_adds(&big, i % 7 == 0 ? ".dot line\n>From me\n" :
		    "an ordinary line of text, long enough to matter...\n");
	tl_buf_add(&big, "", 1);
	tl_gen_msg(&in, "a@x", "tiny", "hi");
	tl_gen_msg(&in, "b@x", "big", (const char *)big.p);
	tl_gen_msg(&in, "c@x", "empty lines", (const char *)body.p);
	body.p[0] = 'x';	/* the other parity */
	tl_gen_msg(&in, "d@x", "empty lines", (const char *)body.p);
	tl_gen_msg(&in, "e@x", "small", ".\n..\nend");
	tl_write(path, in.p, in.len);
	tl_cfg(&cfg, path, NULL);
	n = tl_oracle(in.p, in.len, cfg.format, &o);
	is_int((int)n, 5, "five messages");
	ok(mbox_open(&cfg, &m) == MBOX_OK, "open");
	for (i = 0; i < sizeof(order) / sizeof(order[0]) && n == 5; i++) {
		const struct tl_omsg *om = &o[order[i] - 1];

		if (tl_retr(m, order[i], -1, &out) != MBOX_OK)
			bad++;
		tl_stuff(&om->served, &want);
		if (out.len != want.len || memcmp(out.p, want.p, out.len) != 0)
			bad++;
		if (i == 4)
			is_int(mbox_retr(m, 2, -1, sink_fails_second, &calls),
			    MBOX_ERR_SINK, "a RETR cut short by its sink");
		if (i % 3 == 1) {
			struct tl_buf top = { 0 };

			tl_top(&om->served, 3, &top);
			tl_stuff(&top, &want);
			if (tl_retr(m, order[i], 3, &out) != MBOX_OK ||
			    out.len != want.len ||
			    memcmp(out.p, want.p, out.len) != 0)
				bad_top++;
			tl_buf_free(&top);
		}
	}
	is_int(bad, 0, "12 RETRs in one session: each byte-exact");
	is_int(bad_top, 0, "TOPs between them: each byte-exact");
	mbox_close(m);
	tl_oracle_free(o, n);
	tl_buf_free(&in);
	tl_buf_free(&out);
	tl_buf_free(&want);
	tl_buf_free(&body);
	tl_buf_free(&big);
}

/*
 * Each boundary check of RETR on its own: one byte of the mailbox
 * changed in place (same size) around message 2, and RETR 2 must refuse
 * without sending a byte; restored, it is served again. The checks read
 * the bytes around the From_ line and around the end of the content in
 * one go each; this makes sure none of them is skipped.
 */
static void
test_boundary_checks(void)
{
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "mbox");
	struct tl_buf in = { 0 }, out = { 0 }, good = { 0 };
	struct mbox_config cfg;
	struct mbox *m;
	const char *f2, *f3, *lf2;
	static const char *what[] = {
		"the separator before the From_ line",
		"the 'F' of the From_ line",
		"the LF that ends the From_ line",
		"the content's last LF",
		"the blank line after the content",
		"the 'F' of the next From_ line",
	};
	size_t offs[6];

	tl_gen_msg(&in, "a@x", "one", "first body");
	tl_gen_msg(&in, "b@x", "two", "second body");
	tl_gen_msg(&in, "c@x", "three", "third body");
	tl_write(path, in.p, in.len);
	f2 = strstr((const char *)in.p, "\nFrom b@x") + 1;
	f3 = strstr((const char *)in.p, "\nFrom c@x") + 1;
	lf2 = strchr(f2, '\n');
	offs[0] = (size_t)(f2 - (const char *)in.p) - 1;
	offs[1] = offs[0] + 1;
	offs[2] = (size_t)(lf2 - (const char *)in.p);
	offs[3] = (size_t)(f3 - (const char *)in.p) - 2;
	offs[4] = offs[3] + 1;
	offs[5] = offs[4] + 1;
	tl_cfg(&cfg, path, NULL);
	ok(mbox_open(&cfg, &m) == MBOX_OK, "open");
	is_int(tl_retr(m, 2, -1, &good), MBOX_OK, "RETR 2");
	for (size_t k = 0; k < 6; k++) {
		uint8_t keep = in.p[offs[k]];

		in.p[offs[k]] = keep == 'F' ? 'G' : 'x';
		tl_write(path, in.p, in.len);
		out.len = 0;
		ok(tl_retr(m, 2, -1, &out) == MBOX_ERR_TEMP && out.len == 0,
		    "%s changed: RETR 2 refused, nothing sent", what[k]);
		in.p[offs[k]] = keep;
		tl_write(path, in.p, in.len);
		ok(tl_retr(m, 2, -1, &out) == MBOX_OK && out.len == good.len &&
		    memcmp(out.p, good.p, out.len) == 0,
		    "restored: RETR 2 served again");
	}
	mbox_close(m);
	tl_buf_free(&in);
	tl_buf_free(&out);
	tl_buf_free(&good);
}

/* The process's peak resident set size in kB (VmHWM), or -1. */
static long
peak_rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Start a new peak from the current resident set (Linux >= 4.0: "5"
 * to clear_refs resets VmHWM). Where that fails the old peak stays and
 * the growth measured can only be smaller than the real one: the test
 * says so in its description. */
static bool
reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	bool done;

	if (fd == -1)
		return false;
	done = write(fd, "5", 1) == 1;
	close(fd);
	return done;
}

struct count_sink {
	uint64_t octets, lines, stuffed;
	bool crlf_ok, last;
	uint8_t prev[2];	/* the last two bytes seen */
	bool at_line_start;
};

/* Checks the wire form on the fly and keeps nothing of it. */
static int
count_sink(void *ctx, const void *buf, size_t len, bool last)
{
	struct count_sink *c = ctx;
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		if (c->at_line_start && p[i] == '.')
			c->stuffed++;
		if (p[i] == '\n') {
			if (c->prev[1] != '\r')
				c->crlf_ok = false;
			c->lines++;
		}
		c->at_line_start = p[i] == '\n';
		c->prev[0] = c->prev[1];
		c->prev[1] = p[i];
	}
	c->octets += len;
	c->last = last;
	return 0;
}

/*
 * A 64 MB message: mbox_open (the scan) and mbox_retr must stream it
 * through fixed buffers. Loading it whole would raise the peak resident
 * set by at least 64 MB; the bound allows 16.
 */
static void
test_streaming_memory(void)
{
	enum { MSG_MB = 64, LINE = 72, BOUND_KB = 16 * 1024 };
	const char *dir = tl_tmpdir();
	char *path = tl_path(dir, "big");
	static char block[LINE * 1024];
	struct mbox_config cfg;
	struct count_sink c = { .crlf_ok = true, .at_line_start = true };
	struct mbox *m;
	uint64_t lines = 0, dots = 0, size = 0, want;
	long base, peak;
	bool reset;
	int fd;
	static const char head[] = "From big@example.org Sat Nov 21 10:00:00 2026\n"
	    "From: big@example.org\nSubject: 64 MB\n\n";

	/* Written a block at a time: the test holds no copy either. Every
	 * 1024th line starts with a dot, so stuffing is exercised. */
	for (size_t i = 0; i < sizeof(block) / LINE; i++) {
		memset(block + i * LINE, 'a' + (int)(i % 26), LINE - 1);
		block[i * LINE + LINE - 1] = '\n';
	}
	block[0] = '.';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok(fd != -1, "create a 64 MB mailbox");
	if (fd == -1)
		return;
	ok(write(fd, head, sizeof(head) - 1) == (ssize_t)sizeof(head) - 1,
	    "write its header");
	for (size_t done = 0; done < (size_t)MSG_MB << 20; done += sizeof(block)) {
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			break;
		lines += sizeof(block) / LINE;
		dots++;
	}
	close(fd);
	ok(lines * LINE >= (uint64_t)MSG_MB << 20, "%llu body lines written",
	    (unsigned long long)lines);

	tl_cfg(&cfg, path, NULL);
	reset = reset_peak_rss();
	base = peak_rss_kb();
	if (mbox_open(&cfg, &m) != MBOX_OK) {
		ok(0, "open the 64 MB mailbox");
		return;
	}
	peak = peak_rss_kb();
	ok(base > 0 && peak - base < BOUND_KB,
	    "opening (scanning) it raised peak memory by %ld kB (< %d kB)%s",
	    peak - base, BOUND_KB, reset ? "" : " (peak not reset)");
	/* Served: the three header lines and the body, without the From_
	 * line, every LF as CRLF. */
	want = sizeof(head) - 1 - (size_t)(strchr(head, '\n') - head + 1) +
	    3 + lines * (LINE + 1);
	ok(mbox_info(m, 1, &size, NULL) == MBOX_OK && size == want,
	    "LIST size %llu: the header and body with CRLF line ends (%llu)",
	    (unsigned long long)size, (unsigned long long)want);

	reset = reset_peak_rss();
	base = peak_rss_kb();
	is_int(mbox_retr(m, 1, -1, count_sink, &c), MBOX_OK, "RETR of 64 MB");
	peak = peak_rss_kb();
	ok(base > 0 && peak - base < BOUND_KB,
	    "RETR raised peak memory by %ld kB (< %d kB)%s", peak - base,
	    BOUND_KB, reset ? "" : " (peak not reset)");
	ok(c.last && c.crlf_ok && c.octets == size + c.stuffed &&
	    c.stuffed == dots && c.lines == lines + 3,
	    "every byte sent once, CRLF lines, %llu dot-stuffed, ends CRLF "
	    "(%llu octets)", (unsigned long long)c.stuffed,
	    (unsigned long long)c.octets);
	mbox_close(m);
	unlink(path);
}

int
main(void)
{
	test_generated();
	test_errors_and_chunks();
	test_session_reuse();
	test_boundary_checks();
	test_streaming_memory();
	return tap_done();
}
