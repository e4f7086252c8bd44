/*
 * testhook.h - failure injection for the sandbox tests. Only binaries
 * built with POSTERN_TEST_HOOKS (configure --enable-test-hooks, or the
 * postern-pop3-hooks check program) contain it; in every other build
 * TESTHOOK_FAIL() is the constant 0 and the compiler removes the branch,
 * and TESTHOOK_IDLE_MS(ms) is ms.
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

/* The environment variable that shortens the worker's idle timeout to
 * that many milliseconds: idle_timeout cannot go below RFC 1939's 600 s,
 * too long to wait for in a test. */
#define TESTHOOK_IDLE_ENV	"POSTERN_TEST_IDLE_MS"
/* ms, or the TESTHOOK_IDLE_ENV value when it is a number from 1 to
 * 600000. */
int testhook_idle_ms(int ms);
#define TESTHOOK_IDLE_MS(ms)	testhook_idle_ms(ms)

/* The environment variable listing paths (":"-separated) that storage
 * tries to open once it is confined, logging each outcome: what its
 * Landlock rules really let through in a live session. */
#define TESTHOOK_PROBE_ENV	"POSTERN_TEST_PROBE_OPEN"
void testhook_probe_opens(void);
#define TESTHOOK_PROBE_OPENS()	testhook_probe_opens()
#else
#define TESTHOOK_FAIL(step)	0
#define TESTHOOK_IDLE_MS(ms)	(ms)
#define TESTHOOK_PROBE_OPENS()	((void)0)
#endif

#endif
