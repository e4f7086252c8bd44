/*
 * replay.c - a main() for fuzz targets in builds without libFuzzer. It
 * runs the target over every file of fuzz/corpus/NAME/ and
 * fuzz/regress/NAME/ (NAME comes from the build: -DFUZZ_NAME) and prints
 * one TAP line per file, so that "make check" (and the ASan and valgrind
 * runs of it) re-checks every seed and every input that once crashed.
 * Each seed of the corpus is also run as MUTANTS deterministic mutants
 * (bytes flipped, inserted, deleted, duplicated; cut short), so that a
 * build without libFuzzer still pushes every parser off its happy paths
 * with the same inputs on every run. Arguments, if given, are files or
 * directories to run instead (without mutants).
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the target"
#endif

static int tests;
static int mutate;		/* run mutants of each file too */

#define MUTANTS		64
#define MUTANT_MAX	(256 * 1024)

/* xorshift32: a fixed sequence, so a failing mutant is reproducible from
 * the file name and mutant number printed before it runs. */
static uint32_t
next_rand(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* Mutant k of data: between one and eight edits of the kinds above. */
static size_t
make_mutant(const uint8_t *data, size_t len, unsigned k, uint8_t *out)
{
	uint32_t st = 2166136261u ^ (k + 1) * 16777619u;
	size_t n = len < MUTANT_MAX ? len : MUTANT_MAX;
	unsigned edits = 1 + next_rand(&st) % 8;

	memcpy(out, data, n);
	for (unsigned e = 0; e < edits; e++) {
		size_t at = n ? next_rand(&st) % n : 0;
		size_t span;

		switch (next_rand(&st) % 6) {
		case 0:		/* flip a bit */
			if (n)
				out[at] ^= (uint8_t)(1u << (next_rand(&st) % 8));
			break;
		case 1:		/* an interesting byte */
			if (n) {
				static const uint8_t pick[] = { 0, '\r', '\n',
				    '.', ' ', '>', 'F', 0x7f, 0x80, 0xff };

				out[at] = pick[next_rand(&st) % sizeof(pick)];
			}
			break;
		case 2:		/* insert a byte */
			if (n < MUTANT_MAX) {
				memmove(out + at + 1, out + at, n - at);
				out[at] = (uint8_t)next_rand(&st);
				n++;
			}
			break;
		case 3:		/* delete a span */
			span = n - at ? 1 + next_rand(&st) % (n - at) % 16 : 0;
			memmove(out + at, out + at + span, n - at - span);
			n -= span;
			break;
		case 4:		/* duplicate a span */
			span = n - at ? 1 + next_rand(&st) % (n - at) % 64 : 0;
			if (n + span <= MUTANT_MAX) {
				memmove(out + at + span, out + at, n - at);
				n += span;
			}
			break;
		default:	/* cut short */
			n = at;
			break;
		}
	}
	return n;
}

static void
run_mutants(const char *path, const uint8_t *data, size_t len)
{
	uint8_t *buf = malloc(MUTANT_MAX);

	if (buf == NULL)
		abort();
	for (unsigned k = 0; k < MUTANTS; k++) {
		size_t n = make_mutant(data, len, k, buf);
		/* An exactly sized copy, as in slurp(). */
		uint8_t *exact = malloc(n ? n : 1);

		if (exact == NULL)
			abort();
		memcpy(exact, buf, n);
		fflush(stdout);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	free(buf);
	printf("ok %d - %s: %d mutants\n", ++tests, path, MUTANTS);
}

/* Read a whole file into an exactly sized buffer (so ASan catches any
 * read past the end, as it would under libFuzzer). */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, r;
	uint8_t chunk[4096];

	if (f == NULL)
		return NULL;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (n + r > cap) {
			uint8_t *nb;

			cap = (n + r) * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		memcpy(buf + n, chunk, r);
		n += r;
	}
	fclose(f);
	{
		uint8_t *exact = malloc(n ? n : 1);

		if (exact == NULL) {
			free(buf);
			return NULL;
		}
		if (n)
			memcpy(exact, buf, n);
		free(buf);
		*len = n;
		return exact;
	}
}

static void
run_file(const char *path)
{
	size_t len = 0;
	uint8_t *data = slurp(path, &len);

	if (data == NULL) {
		printf("not ok %d - %s: %s\n", ++tests, path, strerror(errno));
		exit(1);
	}
	/* A failed invariant aborts: the harness reports the crash and the
	 * last line names the file. */
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, len);
	printf("ok %d - %s (%zu bytes)\n", ++tests, path, len);
	if (mutate)
		run_mutants(path, data, len);
	free(data);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_path(const char *path, int must_exist)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (stat(path, &st) == -1) {
		if (must_exist) {
			printf("not ok %d - %s: %s\n", ++tests, path, strerror(errno));
			exit(1);
		}
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	if ((d = opendir(path)) == NULL) {
		printf("not ok %d - %s: %s\n", ++tests, path, strerror(errno));
		exit(1);
	}
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", path, de->d_name) < 0)
			abort();
		names = realloc(names, (n + 1) * sizeof(*names));
		if (names == NULL)
			abort();
		names[n++] = p;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		run_file(names[i]);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			run_path(argv[i], 1);
	} else {
		const char *top = getenv("top_srcdir");
		char *p;

		if (top == NULL)
			top = ".";
		if (asprintf(&p, "%s/fuzz/corpus/%s", top, FUZZ_NAME) < 0)
			abort();
		mutate = 1;
		run_path(p, 1);
		mutate = 0;
		free(p);
		if (asprintf(&p, "%s/fuzz/regress/%s", top, FUZZ_NAME) < 0)
			abort();
		run_path(p, 0);
		free(p);
	}
	printf("1..%d\n", tests);
	return 0;
}
