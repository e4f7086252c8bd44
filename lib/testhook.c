/*
 * testhook.c - failure injection for test builds only (see testhook.h).
 * The test suite starts the hook-enabled worker through a wrapper script
 * that sets POSTERN_TEST_FAIL=<step>; the step then fails as if the
 * kernel had refused it, and the test checks that the connection closes
 * without a greeting.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testhook.h"

#ifndef POSTERN_TEST_HOOKS
#error "testhook.c is only built into test-hook binaries"
#endif

bool
testhook_fail(const char *step)
{
	const char *want = getenv(TESTHOOK_ENV);

	if (want == NULL || strcmp(want, step) != 0)
		return false;
	errno = EPERM;
	return true;
}
