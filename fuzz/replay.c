/*
 * replay.c - a main() for fuzz targets in builds without libFuzzer. It
 * runs the target over every file of fuzz/corpus/NAME/ and
 * fuzz/regress/NAME/ (NAME comes from the build: -DFUZZ_NAME) and prints
 * one TAP line per file, so that "make check" (and the ASan and valgrind
 * runs of it) re-checks every seed and every input that once crashed.
 * Arguments, if given, are files or directories to run instead.
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
	free(data);
	printf("ok %d - %s (%zu bytes)\n", ++tests, path, len);
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
		run_path(p, 1);
		free(p);
		if (asprintf(&p, "%s/fuzz/regress/%s", top, FUZZ_NAME) < 0)
			abort();
		run_path(p, 0);
		free(p);
	}
	printf("1..%d\n", tests);
	return 0;
}
