/*
 * test-fuzz-regress.c - one named test per bug the fuzzers found, so the
 * fix is checked by name even where the saved input in fuzz/regress/ is
 * replayed anyway. Each test says which target found it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "sasl.h"
#include "tap.h"

/*
 * fuzz-config: a value of ~4080 bytes was accepted, but config_dump()
 * wrote "key = value" longer than the parser's 4096-byte line limit, so
 * every child refused the configuration the master sent it and no
 * session could start. Values are now capped at 4000 bytes.
 */
static void
test_config_long_value(void)
{
	struct config c, d;
	char err[256], *text, *dump, *dump2;
	size_t n;

	/* The input the fuzzer found: tls_ciphers=<4084 x A> */
	n = strlen("tls_ciphers=") + 4084 + 1;
	text = malloc(n + 1);
	strcpy(text, "tls_ciphers=");
	memset(text + strlen("tls_ciphers="), 'A', 4084);
	strcpy(text + n - 1, "\n");
	config_defaults(&c);
	ok(!config_parse(&c, text, strlen(text), "t.conf", err, sizeof(err)),
	    "a 4084-byte value is refused");
	ok(strstr(err, "t.conf:1:") != NULL && strstr(err, "too long") != NULL,
	    "with a clear error (%s)", err);
	config_free(&c);
	free(text);

	/* The longest value allowed survives the master -> child trip. */
	n = strlen("mailbox = /") + 3999 + 1;
	text = malloc(n + 1);
	strcpy(text, "mailbox = /");
	memset(text + strlen("mailbox = /"), 'm', 3999);
	strcpy(text + n - 1, "\n");
	config_defaults(&c);
	ok(config_parse(&c, text, strlen(text), "t.conf", err, sizeof(err)),
	    "a 4000-byte value is accepted");
	dump = config_dump(&c);
	config_defaults(&d);
	ok(config_parse(&d, dump, strlen(dump), "dump", err, sizeof(err)),
	    "and its dump parses back (%s)", err);
	dump2 = config_dump(&d);
	ok(strcmp(dump, dump2) == 0, "to the same configuration");
	free(dump);
	free(dump2);
	config_free(&c);
	config_free(&d);
	free(text);
}

/*
 * fuzz-sasl: sasl_b64_decode() wrote each quantum as it went, so text
 * that went bad after some valid quanta ("Zm9v!mFy") returned
 * SASL_BAD_BASE64 with "foo" left in the output, a password's first
 * octets in the worker's buffer (wiped later by the caller, but not by
 * the decoder as its contract promised for the other failure); and text
 * that was both invalid and longer than the room was reported as too
 * long or as invalid depending on where the bad digit was. The decoder
 * now checks everything before writing: invalid wins, and a failure
 * leaves the output untouched.
 */
static void
test_sasl_b64_partial_output(void)
{
	uint8_t out[8];
	size_t outlen = 99;
	bool clean = true;

	memset(out, 0, sizeof(out));
	is_int(sasl_b64_decode("Zm9v!mFy", 8, out, sizeof(out), &outlen),
	    SASL_BAD_BASE64, "a bad second quantum is bad base64");
	for (size_t i = 0; i < sizeof(out); i++)
		clean = clean && out[i] == 0;
	ok(clean && outlen == 0, "and leaves nothing of the first in out");
	memset(out, 0, sizeof(out));
	is_int(sasl_b64_decode("Zm9vYmFyZm9vZm9!", 16, out, 3, &outlen),
	    SASL_BAD_BASE64, "invalid and too long: invalid, whatever the room");
	for (size_t i = 0; i < sizeof(out); i++)
		clean = clean && out[i] == 0;
	ok(clean, "and nothing written");
	is_int(sasl_b64_decode("Zm9vYmFy", 8, out, 5, &outlen), SASL_TOO_LONG,
	    "valid and too long is still too long");
	for (size_t i = 0; i < sizeof(out); i++)
		clean = clean && out[i] == 0;
	ok(clean && outlen == 0, "without a partial write either");
}

int
main(void)
{
	test_config_long_value();
	test_sasl_b64_partial_output();
	return tap_done();
}
