/*
 * fuzz-config.c - postern.conf text through config_parse(), then
 * config_validate(), then the round trip every child depends on: the
 * master sends config_dump() and each child parses it, so whatever the
 * parser accepted must dump to text that parses back to the same dump.
 * Path templates go through config_expand() as the master uses them.
 */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "fuzz.h"
#include "util.h"

static void
check_err(const char *err, size_t errsz)
{
	FUZZ_CHECK(memchr(err, '\0', errsz) != NULL);
	FUZZ_CHECK(err[0] != '\0');
}

static void
check_expand(const char *tmpl)
{
	char *p = config_expand(tmpl, "pt.user", "/home/pt.user");

	if (p != NULL) {
		FUZZ_CHECK(p[0] == '/');
		free(p);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, c2;
	char err[256], err2[256];
	char *d1, *d2;

	config_defaults(&c);
	memset(err, 0x55, sizeof(err));
	if (!config_parse(&c, (const char *)data, size, "fuzz", err, sizeof(err))) {
		check_err(err, sizeof(err));
		config_free(&c);
		return 0;
	}
	memset(err, 0x55, sizeof(err));
	if (!config_validate(&c, err, sizeof(err)))
		check_err(err, sizeof(err));
	check_expand(c.mailbox);
	check_expand(c.index_dir);

	/* Round trip: what the master sends, every child must accept. */
	d1 = config_dump(&c);
	config_defaults(&c2);
	if (!config_parse(&c2, d1, strlen(d1), "dump", err2, sizeof(err2))) {
		fprintf(stderr, "dump does not parse back: %s\n", err2);
		FUZZ_CHECK(!"config_dump output parses");
	}
	d2 = config_dump(&c2);
	FUZZ_CHECK(strcmp(d1, d2) == 0);
	FUZZ_CHECK(c.nlisten == c2.nlisten);
	free(d1);
	free(d2);
	config_free(&c2);
	config_free(&c);
	return 0;
}
