/*
 * testhook.h - failure injection for the sandbox tests. Only binaries
 * built with POSTERN_TEST_HOOKS (configure --enable-test-hooks, or the
 * postern-pop3-hooks check program) contain it; in every other build
 * TESTHOOK_FAIL() is the constant 0 and the compiler removes the branch.
 */
#ifndef POSTERN_TESTHOOK_H
#define POSTERN_TESTHOOK_H

#ifdef POSTERN_TEST_HOOKS
#include <stdbool.h>

/* The environment variable naming the confinement step to fail. */
#define TESTHOOK_ENV	"POSTERN_TEST_FAIL"

/* True (with errno EPERM) when TESTHOOK_ENV names step. */
bool testhook_fail(const char *step);
#define TESTHOOK_FAIL(step)	testhook_fail(step)
#else
#define TESTHOOK_FAIL(step)	0
#endif

#endif
