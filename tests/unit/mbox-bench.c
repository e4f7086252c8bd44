/*
 * mbox-bench.c - manual benchmark of the mailbox engine (built by make
 * check, not run by it: timings are not assertions).
 *
 *   mbox-bench gen PATH NMSGS AVG_SIZE   write a realistic mailbox
 *   mbox-bench open PATH [INDEX_DIR]     time one open; bytes scanned
 *   mbox-bench dele PATH [INDEX_DIR] N   time DELE N + commit (QUIT)
 *   mbox-bench retr PATH [INDEX_DIR]     time RETR of every message
 *
 * Each prints wall time and the peak RSS of the process.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mbox.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) used so far: on a busy or virtualised
 * host the wall clock also counts time the process was not running. */
static double
cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long
peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void
logf_(int prio, const char *msg)
{
	fprintf(stderr, "log(%d): %s\n", prio, msg);
}

static int
gen(const char *path, unsigned long n, unsigned long avg)
{
	FILE *f = fopen(path, "w");
	unsigned long i, body, k;
	static const char words[] = "the quick brown fox jumps over the lazy "
	    "dog and keeps running through the mailbox scanner benchmark ";

	if (f == NULL)
		return 1;
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	for (i = 0; i < n; i++) {
		fprintf(f, "From sender%lu@example.org Mon Jan  1 00:%02lu:%02lu "
		    "2024\n", i % 977, i / 60 % 60, i % 60);
		fprintf(f, "Return-Path: <sender%lu@example.org>\n"
		    "Received: from mx%lu.example.org (mx%lu.example.org "
		    "[192.0.2.%lu]) by mail.example.net (Postfix) with ESMTPS "
		    "id %08lX for <user@example.net>; Mon, 1 Jan 2024 00:00:00 "
		    "+0000\nFrom: Sender %lu <sender%lu@example.org>\n"
		    "To: user@example.net\nSubject: benchmark message %lu\n"
		    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n"
		    "Message-ID: <%lu.%lu@example.org>\nMIME-Version: 1.0\n"
		    "Content-Type: text/plain; charset=us-ascii\n\n",
		    i % 977, i % 13, i % 13, i % 250, i * 2654435761UL,
		    i % 977, i % 977, i, i, n);
		body = avg > 700 ? avg - 700 : 100;
		body = body / 2 + (i * 7919) % body;
		for (k = 0; k < body; k += 72) {
			fwrite(words + (i + k) % 40, 1, 71, f);
			fputc('\n', f);
		}
		fputc('\n', f);
	}
	return fclose(f) != 0;
}

static int
count_sink(void *ctx, const void *buf, size_t len, bool last)
{
	(void)buf;
	(void)last;
	*(unsigned long long *)ctx += len;
	return 0;
}

int
main(int argc, char **argv)
{
	struct mbox_config cfg;
	struct mbox_stats st;
	struct mbox *m;
	double t0, t1, c0, c1;
	uint32_t n;
	uint64_t oct;
	int r;

	if (argc >= 5 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], strtoul(argv[3], NULL, 10),
		    strtoul(argv[4], NULL, 10));
	if (argc < 3)
		return 2;
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = argv[2];
	cfg.index_dir = argc > 3 && strcmp(argv[3], "-") != 0 ? argv[3] : NULL;
	cfg.uid = getuid();
	cfg.lock_timeout = 5;
	cfg.log = logf_;
	c0 = cpu();
	t0 = now();
	if ((r = mbox_open(&cfg, &m)) != MBOX_OK) {
		fprintf(stderr, "open: %d\n", r);
		return 1;
	}
	t1 = now();
	c1 = cpu();
	mbox_get_stats(m, &st);
	mbox_stat(m, &n, &oct);
	printf("open: %.3f s (cpu %.3f s), %u messages, %llu octets, scanned %llu bytes, "
	    "index_use %d\n", t1 - t0, c1 - c0, n, (unsigned long long)oct,
	    (unsigned long long)st.bytes_scanned, st.index_use);
	if (strcmp(argv[1], "dele") == 0 && argc > 4) {
		mbox_dele(m, (uint32_t)strtoul(argv[4], NULL, 10));
		c0 = cpu();
		t0 = now();
		r = mbox_commit(m, &n);
		t1 = now();
		c1 = cpu();
		printf("commit: %d, %u deleted, %.3f s (cpu %.3f s)\n", r, n,
		    t1 - t0, c1 - c0);
	} else if (strcmp(argv[1], "retr") == 0) {
		unsigned long long bytes = 0;
		uint32_t i;

		t0 = now();
		for (i = 1; i <= mbox_count(m); i++)
			mbox_retr(m, i, -1, count_sink, &bytes);
		t1 = now();
		printf("retr all: %.3f s, %llu bytes sent\n", t1 - t0, bytes);
	}
	mbox_close(m);
	printf("peak RSS: %ld KiB\n", peak_rss_kb());
	return 0;
}
