/*
 * fuzz.h - the entry point every fuzz target defines. With
 * --enable-fuzzing the targets link against libFuzzer; in ordinary builds
 * the same sources link against fuzz/replay.c, which feeds them the seed
 * corpus and the saved crash inputs under "make check".
 */
#ifndef POSTERN_FUZZ_H
#define POSTERN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A broken invariant: print where and abort, so that libFuzzer saves the
 * input and the replay driver reports the file. Not assert(): the check
 * must stay in NDEBUG builds.
 */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
