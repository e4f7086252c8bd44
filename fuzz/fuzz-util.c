/*
 * fuzz-util.c - the small helpers every parser leans on: utf8_valid()
 * (against an independent table-driven reference), escape_for_log()
 * (output is printable, bounded, and decodes back to a prefix of the
 * input), and parse_uint() (against a reference that uses the compiler's
 * overflow checks).
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "util.h"

/*
 * Unicode 15, table 3-7 (well-formed UTF-8 byte sequences), transcribed
 * as ranges; deliberately a different method from util.c's decoder.
 */
static bool
ref_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t need;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c == 0xe0) {
			need = 2;
			lo = 0xa0;
		} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
			need = 2;
		else if (c == 0xed) {
			need = 2;
			hi = 0x9f;
		} else if (c == 0xf0) {
			need = 3;
			lo = 0x90;
		} else if (c >= 0xf1 && c <= 0xf3)
			need = 3;
		else if (c == 0xf4) {
			need = 3;
			hi = 0x8f;
		} else
			return false;
		if (n - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += need + 1;
	}
	return true;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void
check_escape(const uint8_t *data, size_t size, size_t outsz)
{
	char *out = malloc(outsz ? outsz : 1);
	uint8_t *dec;
	size_t olen, dlen = 0, i;
	bool truncated;

	if (out == NULL)
		return;
	memset(out, 'Z', outsz ? outsz : 1);
	escape_for_log((const char *)data, size, out, outsz);
	if (outsz == 0) {
		FUZZ_CHECK(out[0] == 'Z');	/* nothing written */
		free(out);
		return;
	}
	FUZZ_CHECK(memchr(out, '\0', outsz) != NULL);
	olen = strlen(out);
	truncated = olen >= 3 && memcmp(out + olen - 3, "...", 3) == 0;
	dec = malloc(olen + 1);
	if (dec == NULL) {
		free(out);
		return;
	}
	for (i = 0; i < olen; i++) {
		unsigned char c = (unsigned char)out[i];

		/* Printable ASCII only; quote and backslash only escaped. */
		FUZZ_CHECK(c >= 0x20 && c < 0x7f && c != '"');
		if (c == '\\') {
			int h, l;

			FUZZ_CHECK(i + 3 < olen);	/* escapes are never cut */
			FUZZ_CHECK(out[i + 1] == 'x');
			h = hexval(out[i + 2]);
			l = hexval(out[i + 3]);
			FUZZ_CHECK(h >= 0 && l >= 0);
			dec[dlen++] = (uint8_t)(h * 16 + l);
			i += 3;
		} else {
			dec[dlen++] = (uint8_t)c;
		}
	}
	if (dlen == size && memcmp(dec, data, size) == 0) {
		/* complete */
	} else if (outsz < 4) {
		FUZZ_CHECK(olen == 0);	/* no room even for "..." */
	} else {
		/* Truncated: "..." appended to a prefix of the input. */
		FUZZ_CHECK(outsz < size * 4 + 4);	/* roomy never truncates */
		FUZZ_CHECK(truncated);
		FUZZ_CHECK(dlen >= 3);
		FUZZ_CHECK(dlen - 3 <= size &&
		    memcmp(dec, data, dlen - 3) == 0);
	}
	free(dec);
	free(out);
}

static bool
ref_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return false;
	}
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

static void
check_parse_uint(const uint8_t *data, size_t size)
{
	static const uint64_t ranges[][2] = {
		{ 0, UINT64_MAX }, { 1, UINT32_MAX - 1 }, { 0, UINT32_MAX - 1 },
		{ 1, 65535 }, { 600, 86400 },
	};
	char *s = malloc(size + 1);

	if (s == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';		/* parse_uint sees up to the first NUL */
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		uint64_t a = 12345, b = 12345;
		bool ra = parse_uint(s, ranges[i][0], ranges[i][1], &a);
		bool rb = ref_parse_uint(s, ranges[i][0], ranges[i][1], &b);

		FUZZ_CHECK(ra == rb);
		if (ra)
			FUZZ_CHECK(a == b);
		else
			FUZZ_CHECK(a == 12345);	/* untouched on failure */
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_CHECK(utf8_valid((const char *)data, size) ==
	    ref_utf8_valid(data, size));
	/* Output sizes from none to roomy, chosen by the input itself. */
	check_escape(data, size, 0);
	check_escape(data, size, 1);
	check_escape(data, size, size ? (size_t)data[0] : 5);
	check_escape(data, size, size * 4 + 4);
	check_parse_uint(data, size);
	return 0;
}
