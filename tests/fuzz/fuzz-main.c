/*
 * fuzz-main.c - standalone driver for the fuzz targets (see fuzz.h):
 * runs a few thousand generated inputs and every file given as an
 * argument, and prints TAP. Not linked into libFuzzer builds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

#ifndef FUZZ_STANDALONE
#error "fuzz-main.c is the standalone driver; libFuzzer brings its own main"
#endif

#define FUZZ_RUNS	3000

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return -1;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap)) == NULL)
				abort();
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	uint8_t *data;
	size_t size;
	uint32_t seed;
	char text[200];
	int i, t = 0, deep;

	for (i = 1; i < argc; i++)
		printf("%s %d - %s\n", run_file(argv[i]) == 0 ? "ok" : "not ok",
		    ++t, argv[i]);
	for (seed = 1; seed <= FUZZ_RUNS; seed++) {
		fuzz_generate(seed, &data, &size);
		LLVMFuzzerTestOneInput(data, size);
		free(data);
	}
	printf("ok %d - %d generated inputs, no invariant broken\n", ++t,
	    FUZZ_RUNS);
	deep = fuzz_report(text, sizeof(text));
	printf("%s %d - inputs reached the parser's depths: %s\n",
	    deep ? "ok" : "not ok", ++t, text);
	printf("1..%d\n", t);
	return deep ? 0 : 1;
}
