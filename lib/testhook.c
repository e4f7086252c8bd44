/*
 * testhook.c - failure injection for test builds only (see testhook.h).
 * The test suite starts the hook-enabled worker through a wrapper script
 * that sets POSTERN_TEST_FAIL=<step>; the step then fails as if the
 * kernel had refused it, and the test checks that the connection closes
 * without a greeting.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testhook.h"
#include "util.h"

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

int
testhook_idle_ms(int ms)
{
	const char *v = getenv(TESTHOOK_IDLE_ENV);
	uint64_t n;

	if (v == NULL || !parse_uint(v, 1, 600000, &n))
		return ms;
	return (int)n;
}

void
testhook_probe_opens(void)
{
	const char *v = getenv(TESTHOOK_PROBE_ENV);
	char *list, *path, *save = NULL;

	if (v == NULL)
		return;
	list = xstrdup(v);
	for (path = strtok_r(list, ":", &save); path != NULL;
	    path = strtok_r(NULL, ":", &save)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

		/* strerrorname_np: no message catalogue to open (PF6). */
		log_notice("test probe: open %s: %s", path,
		    fd >= 0 ? "ok" : strerrorname_np(errno));
		if (fd >= 0)
			close(fd);
	}
	free(list);
}
