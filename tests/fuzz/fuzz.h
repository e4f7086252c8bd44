/*
 * fuzz.h - the interface between a fuzz target and its drivers:
 * libFuzzer (clang -fsanitize=fuzzer) calls LLVMFuzzerTestOneInput;
 * without it, fuzz-main.c (built by make check with -DFUZZ_STANDALONE)
 * feeds the target generated inputs and any files named on the command
 * line, so every target also runs as a quick test. A target aborts when
 * an invariant breaks, so both drivers report it.
 */
#ifndef POSTERN_FUZZ_H
#define POSTERN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Standalone driver only: a deterministic input for seed, malloc'd; and
 * after the run, whether the inputs reached the interesting code (a
 * line of text for the TAP output). */
void fuzz_generate(uint32_t seed, uint8_t **data, size_t *size);
int fuzz_report(char *text, size_t len);

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n",	\
		    #cond, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#endif
