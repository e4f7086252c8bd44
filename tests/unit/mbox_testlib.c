/*
 * mbox_testlib.c - helpers for the mailbox engine's unit tests; see
 * mbox_testlib.h. The oracle is intentionally simple-minded (whole
 * buffer, one line at a time) so that it checks the engine rather than
 * repeating it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "mbox_testlib.h"

size_t tl_sink_calls, tl_sink_max, tl_sink_after_last;
bool tl_sink_last;
char tl_last_log[1024];
int tl_log_count;
static char tl_log_all[16384];

void
tl_buf_add(struct tl_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

void
tl_buf_adds(struct tl_buf *b, const char *s)
{
	tl_buf_add(b, s, strlen(s));
}

void
tl_buf_free(struct tl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

bool
tl_buf_eq(const struct tl_buf *a, const struct tl_buf *b)
{
	return a->len == b->len && (a->len == 0 ||
	    memcmp(a->p, b->p, a->len) == 0);
}

bool
tl_file_is(const char *path, const struct tl_buf *want)
{
	struct tl_buf now = { 0 };
	bool eq = tl_read(path, &now) && tl_buf_eq(&now, want);

	tl_buf_free(&now);
	return eq;
}

int
tl_sink(void *ctx, const void *buf, size_t len, bool last)
{
	if (tl_sink_last)
		tl_sink_after_last++;
	tl_sink_last = last;
	tl_sink_calls++;
	if (len > tl_sink_max)
		tl_sink_max = len;
	tl_buf_add(ctx, buf, len);
	return 0;
}

static char *tl_root;
/* Paths handed out live until exit; kept here so they can be freed. */
static char **tl_keep;
static size_t tl_nkeep;

static char *
keep(char *p)
{
	tl_keep = realloc(tl_keep, (tl_nkeep + 1) * sizeof(*tl_keep));
	if (tl_keep == NULL)
		abort();
	tl_keep[tl_nkeep++] = p;
	return p;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
tl_rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
tl_cleanup(void)
{
	if (tl_root != NULL && getenv("TL_KEEP") == NULL)
		tl_rm_rf(tl_root);
	while (tl_nkeep > 0)
		free(tl_keep[--tl_nkeep]);
	free(tl_keep);
	free(tl_root);
}

const char *
tl_tmpdir(void)
{
	static unsigned seq;
	const char *t = getenv("TMPDIR");
	char *d;

	if (tl_root == NULL) {
		if (asprintf(&tl_root, "%s/postern-mbox-test.XXXXXX",
		    t != NULL && *t != '\0' ? t : "/tmp") < 0 ||
		    mkdtemp(tl_root) == NULL)
			abort();
		atexit(tl_cleanup);
	}
	if (asprintf(&d, "%s/d%u", tl_root, ++seq) < 0 || mkdir(d, 0755) != 0)
		abort();
	return keep(d);
}

char *
tl_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return keep(p);
}

static void
tl_put(const char *path, const void *data, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);
	const uint8_t *p = data;
	ssize_t n;

	if (fd < 0)
		abort();
	while (len > 0) {
		n = write(fd, p, len);
		if (n <= 0)
			abort();
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

void
tl_write(const char *path, const void *data, size_t len)
{
	tl_put(path, data, len, O_TRUNC);
}

void
tl_append(const char *path, const void *data, size_t len)
{
	tl_put(path, data, len, O_APPEND);
}

bool
tl_read(const char *path, struct tl_buf *b)
{
	uint8_t tmp[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	b->len = 0;
	if (fd < 0)
		return false;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		tl_buf_add(b, tmp, (size_t)n);
	if (b->p == NULL)
		tl_buf_add(b, "", 0);
	close(fd);
	return n == 0;
}

bool
tl_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int
tl_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- the oracle ---- */

static bool
starts(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);

	return n >= k && memcmp(p, s, k) == 0;
}

static bool
is_blank(const uint8_t *p, size_t n)
{
	return (n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' &&
	    p[1] == '\n');
}

size_t
tl_oracle(const uint8_t *buf, size_t len, enum mbox_format fmt,
    struct tl_omsg **out)
{
	struct tl_omsg *v = NULL;
	size_t n = 0, pos = 0, ll, blank_len = 0, i;
	bool last_empty = false, open_msg = false;
	const uint8_t *nl;

	/* Pass 1: boundaries, exactly as Python's _generate_toc. */
	while (pos < len) {
		nl = memchr(buf + pos, '\n', len - pos);
		ll = nl != NULL ? (size_t)(nl - (buf + pos)) + 1 : len - pos;
		if (starts(buf + pos, ll, "From ")) {
			if (open_msg)
				v[n - 1].stop = last_empty ? pos - blank_len : pos;
			if (open_msg)
				v[n - 1].region_end = pos;
			v = realloc(v, (n + 1) * sizeof(*v));
			memset(&v[n], 0, sizeof(v[n]));
			v[n].from_off = pos;
			v[n].data_off = pos + ll;
			n++;
			open_msg = true;
			last_empty = false;
		} else if (is_blank(buf + pos, ll)) {
			last_empty = true;
			blank_len = ll;
		} else {
			last_empty = false;
		}
		pos += ll;
	}
	if (open_msg) {
		v[n - 1].stop = last_empty ? len - blank_len : len;
		v[n - 1].region_end = len;
	}
	/* Pass 2: what each message must look like when served. */
	for (i = 0; i < n; i++) {
		size_t p = v[i].data_off, e = v[i].stop;
		bool in_hdr = true;

		while (p < e) {
			const uint8_t *l = buf + p;
			size_t k, body;

			nl = memchr(l, '\n', e - p);
			ll = nl != NULL ? (size_t)(nl - l) + 1 : e - p;
			body = nl != NULL ? ll - 1 : ll;
			if (nl != NULL && body > 0 && l[body - 1] == '\r')
				body--;
			if (in_hdr && i == 0 && (
			    (ll >= 7 && strncasecmp((const char *)l, "X-IMAP:", 7) == 0) ||
			    (ll >= 11 && strncasecmp((const char *)l, "X-IMAPbase:", 11) == 0)))
				v[i].pseudo = true;
			if (body == 0 && nl != NULL)
				in_hdr = false;
			k = 0;
			if (fmt == MBOX_FMT_MBOXO) {
				if (starts(l, body, ">From "))
					k = 1;
			} else {
				size_t g = 0;

				while (g < body && l[g] == '>')
					g++;
				if (g > 0 && starts(l + g, body - g, "From "))
					k = 1;
			}
			tl_buf_add(&v[i].served, l + k, body - k);
			tl_buf_add(&v[i].served, "\r\n", 2);
			p += ll;
		}
		if (v[i].served.p == NULL)
			tl_buf_add(&v[i].served, "", 0);
	}
	*out = v;
	return n;
}

void
tl_oracle_free(struct tl_omsg *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		tl_buf_free(&v[i].served);
	free(v);
}

void
tl_expect_deleted(const struct tl_buf *orig, enum mbox_format fmt,
    const int *del, int ndel, struct tl_buf *out)
{
	struct tl_omsg *o;
	size_t n = tl_oracle(orig->p, orig->len, fmt, &o), i;
	size_t pos = 0, first = n > 0 && o[0].pseudo ? 1 : 0;
	int k;

	out->len = 0;
	tl_buf_add(out, "", 0);
	for (i = first; i < n; i++) {
		for (k = 0; k < ndel; k++)
			if ((size_t)del[k] == i - first + 1)
				break;
		if (k == ndel)
			continue;
		tl_buf_add(out, orig->p + pos, o[i].from_off - pos);
		pos = o[i].region_end;
	}
	tl_buf_add(out, orig->p + pos, orig->len - pos);
	tl_oracle_free(o, n);
}

void
tl_top(const struct tl_buf *s, int64_t n, struct tl_buf *out)
{
	size_t p = 0, ll;
	bool in_hdr = true;
	const uint8_t *nl;

	out->len = 0;
	tl_buf_add(out, "", 0);
	while (p < s->len) {
		nl = memchr(s->p + p, '\n', s->len - p);
		ll = (size_t)(nl - (s->p + p)) + 1;
		if (!in_hdr) {
			if (n-- <= 0)
				break;
		}
		if (ll == 2)
			in_hdr = false;
		tl_buf_add(out, s->p + p, ll);
		p += ll;
	}
}

void
tl_stuff(const struct tl_buf *in, struct tl_buf *out)
{
	size_t p = 0, ll;
	const uint8_t *nl;

	out->len = 0;
	tl_buf_add(out, "", 0);
	while (p < in->len) {
		nl = memchr(in->p + p, '\n', in->len - p);
		ll = nl != NULL ? (size_t)(nl - (in->p + p)) + 1 : in->len - p;
		if (in->p[p] == '.')
			tl_buf_add(out, ".", 1);
		tl_buf_add(out, in->p + p, ll);
		p += ll;
	}
}

/* ---- generator ---- */

uint32_t
tl_rand(uint32_t *s)
{
	/* xorshift32: tiny, deterministic across platforms */
	uint32_t x = *s != 0 ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

void
tl_gen_msg(struct tl_buf *b, const char *from, const char *subject,
    const char *body)
{
	char line[512];

	snprintf(line, sizeof(line), "From %s Thu Jan  1 00:00:00 2024\n"
	    "From: <%s>\nSubject: %s\nMessage-ID: <%s.%s@test>\n\n", from,
	    from, subject, from, subject);
	tl_buf_adds(b, line);
	tl_buf_adds(b, body);
	tl_buf_adds(b, "\n\n");
}

#define L(s)	{ s, sizeof(s) - 1 }
static const struct {
	const char *s;
	size_t n;
} gen_lines[] = {
	L("plain text line"),
	L(""),
	L("."),
	L("..double dot"),
	L(".leading dot"),
	L(">From quoted once"),
	L(">>From quoted twice"),
	L(">>>>>>>>>>>>>>>>>>>>>>>>>From long run"),
	L(">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>not from"),
	L(">>>>>>>>>>>>From"),
	L(">From"),
	L("From"),
	L("Fro"),
	L("From: looks like a header"),
	L("X-IMAP: 1 2"),
	L("x-imapbase: 3"),
	L("Status: RO"),
	L("X-UIDL: sender-chosen"),
	L("Content-Length: 3"),
	L("a lone \r in the middle"),
	L("ends with cr\r"),
	L("two crs\r\r"),
	L("\r"),
	L(" From indented"),
	L("nul \0 byte"),
	L("\0"),
	L("From inside the body starts a new message"),
};

static void
gen_line(struct tl_buf *b, uint32_t *s, bool crlf)
{
	unsigned k = tl_rand(s) % (unsigned)(sizeof(gen_lines) /
	    sizeof(gen_lines[0]) + 4);
	char tmp[64];
	size_t n, i;

	if (k < sizeof(gen_lines) / sizeof(gen_lines[0])) {
		/* The last entry makes extra messages; keep it rare. */
		if (k + 1 == sizeof(gen_lines) / sizeof(gen_lines[0]) &&
		    tl_rand(s) % 4 != 0)
			k = 0;
		tl_buf_add(b, gen_lines[k].s, gen_lines[k].n);
	} else if (tl_rand(s) % 60 == 0) {
		/* A long line, longer than any buffer of the engine. */
		n = 100000 + tl_rand(s) % 300000;
		for (i = 0; i < n; i += sizeof(tmp)) {
			memset(tmp, 'a' + (int)(i % 26), sizeof(tmp));
			tmp[tl_rand(s) % sizeof(tmp)] = '\r';
			tl_buf_add(b, tmp, n - i < sizeof(tmp) ? n - i :
			    sizeof(tmp));
		}
	} else {
		n = tl_rand(s) % 120;
		for (i = 0; i < n; i++) {
			char c = (char)(' ' + tl_rand(s) % 95);

			tl_buf_add(b, &c, 1);
		}
	}
	tl_buf_adds(b, crlf ? "\r\n" : "\n");
}

void
tl_gen_mbox(uint32_t seed, unsigned nmsgs, struct tl_buf *b)
{
	uint32_t s = seed * 2654435761u + 1;
	char line[256];
	unsigned i, j, nh, nb, who = 0, sec = 0;
	bool crlf;

	if (tl_rand(&s) % 8 == 0) {
		tl_buf_adds(b, "preamble: not a message\n");
		if (tl_rand(&s) % 2)
			tl_buf_adds(b, "\nmore preamble\n>From x\n");
	}
	for (i = 0; i < nmsgs; i++) {
		crlf = tl_rand(&s) % 4 == 0;
		/* Sometimes an exact duplicate From_ line and content. */
		if (tl_rand(&s) % 10 != 0) {
			who = tl_rand(&s) % 7;
			sec++;
		}
		snprintf(line, sizeof(line), "From user%u@example.org Thu Jan  "
		    "1 00:%02u:%02u 2024%s", who, sec / 60 % 60, sec % 60,
		    crlf ? "\r\n" : "\n");
		tl_buf_adds(b, line);
		if (i == 0 && tl_rand(&s) % 6 == 0)
			tl_buf_adds(b, "Subject: DON'T DELETE THIS MESSAGE -- "
			    "FOLDER INTERNAL DATA\nX-IMAP: 1234 0000000005\n");
		if (tl_rand(&s) % 12 == 0) {
			/* empty message: next From_ follows at once */
			continue;
		}
		nh = 1 + tl_rand(&s) % 5;
		for (j = 0; j < nh; j++) {
			snprintf(line, sizeof(line), "X-Header-%u: value %u%s",
			    j, tl_rand(&s) % 1000, crlf ? "\r\n" : "\n");
			tl_buf_adds(b, line);
			if (tl_rand(&s) % 5 == 0)
				gen_line(b, &s, crlf);
		}
		if (tl_rand(&s) % 10 != 0)
			tl_buf_adds(b, crlf ? "\r\n" : "\n");
		nb = tl_rand(&s) % 14;
		for (j = 0; j < nb; j++)
			gen_line(b, &s, crlf);
		if (i + 1 < nmsgs) {
			if (tl_rand(&s) % 4 != 0)
				tl_buf_adds(b, crlf ? "\r\n" : "\n");
		} else {
			switch (tl_rand(&s) % 5) {
			case 0:	/* no final newline */
				tl_buf_adds(b, "last line without newline");
				break;
			case 1:
				tl_buf_adds(b, "\n\n");
				break;
			case 2:
				tl_buf_adds(b, "\n");
				break;
			default:
				break;
			}
		}
	}
}

/* ---- engine helpers ---- */

static void
tl_log(int prio, const char *msg)
{
	tl_log_count++;
	snprintf(tl_last_log, sizeof(tl_last_log), "%s", msg);
	if (strlen(tl_log_all) + strlen(msg) + 2 < sizeof(tl_log_all)) {
		strcat(tl_log_all, msg);
		strcat(tl_log_all, "\n");
	}
	printf("# log(%d): %s\n", prio, msg);
}

bool
tl_log_seen(const char *needle)
{
	return strstr(tl_log_all, needle) != NULL;
}

void
tl_log_clear(void)
{
	tl_log_all[0] = '\0';
	tl_last_log[0] = '\0';
}

void
tl_cfg(struct mbox_config *c, const char *path, const char *index_dir)
{
	memset(c, 0, sizeof(*c));
	c->path = path;
	c->index_dir = index_dir;
	c->format = MBOX_FMT_MBOXO;
	c->lock_timeout = 0;
	c->uid = getuid();
	c->log = tl_log;
}

int
tl_retr(struct mbox *m, uint32_t msgno, int64_t lines, struct tl_buf *out)
{
	int r;

	out->len = 0;
	tl_buf_add(out, "", 0);
	tl_sink_last = false;
	tl_sink_after_last = 0;
	r = mbox_retr(m, msgno, lines, tl_sink, out);
	/* A complete answer ends with its one last chunk. */
	if (r == MBOX_OK && (!tl_sink_last || tl_sink_after_last != 0))
		return -1000;
	if (r != MBOX_OK && tl_sink_last)
		return -1001;	/* a failure must never look complete */
	return r;
}

void
tl_uidls(struct mbox *m, struct tl_buf *out)
{
	const char *u;
	uint32_t i;

	out->len = 0;
	tl_buf_add(out, "", 0);
	for (i = 1; i <= mbox_count(m); i++) {
		if (mbox_info(m, i, NULL, &u) == MBOX_OK)
			tl_buf_adds(out, u);
		else
			tl_buf_adds(out, "(deleted)");
		tl_buf_adds(out, "\n");
	}
}

void
tl_uidls_without(const struct tl_buf *uidls, const int *del, int ndel,
    struct tl_buf *out)
{
	const char *p = (const char *)uidls->p, *e;
	int no, k;

	out->len = 0;
	tl_buf_add(out, "", 0);
	for (no = 1; (e = strchr(p, '\n')) != NULL; p = e + 1, no++) {
		for (k = 0; k < ndel; k++)
			if (del[k] == no)
				break;
		if (k == ndel)
			tl_buf_add(out, p, (size_t)(e - p) + 1);
	}
}

const char *
tl_check_served(struct mbox *m, const struct tl_buf *content)
{
	struct tl_buf out = { 0 }, want = { 0 };
	struct tl_omsg *o = NULL;
	const char *why = NULL;
	size_t n, first, i;

	n = tl_oracle(content->p, content->len, MBOX_FMT_MBOXO, &o);
	first = n > 0 && o[0].pseudo ? 1 : 0;
	if (mbox_count(m) != n - first)
		why = "message count";
	for (i = first; why == NULL && i < n; i++) {
		tl_stuff(&o[i].served, &want);
		if (tl_retr(m, (uint32_t)(i - first + 1), -1, &out) != MBOX_OK ||
		    out.len != want.len || memcmp(out.p, want.p, out.len) != 0)
			why = "a message is not served intact";
	}
	tl_oracle_free(o, n);
	tl_buf_free(&out);
	tl_buf_free(&want);
	return why;
}
