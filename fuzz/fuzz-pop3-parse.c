/*
 * fuzz-pop3-parse.c - POP3 command lines through pop3_parse(), the only
 * parser of client commands. Beyond "no crash", it checks what the
 * session code relies on: arguments lie inside the line, are
 * NUL-terminated there, and numbers are in range and match their text.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "pop3_parse.h"
#include "util.h"

static void
check_arg(const char *buf, size_t len, const char *arg, int allow_space)
{
	size_t alen;

	FUZZ_CHECK(arg >= buf && arg <= buf + len);
	alen = strlen(arg);	/* the parser terminated it inside buf */
	FUZZ_CHECK(arg + alen <= buf + len);
	FUZZ_CHECK(alen > 0);
	if (!allow_space)
		FUZZ_CHECK(memchr(arg, ' ', alen) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_cmd cmd;
	enum pop3_parse_result r;
	char *buf;
	uint64_t v;

	/* The worker's line buffer holds at most POP3_MAX_CMD_LINE octets,
	 * but the parser must not depend on that. */
	buf = malloc(size + 1);	/* exactly the room the contract asks for */
	if (buf == NULL)
		return 0;
	if (size)
		memcpy(buf, data, size);
	r = pop3_parse(buf, size, &cmd);
	FUZZ_CHECK(cmd.name != NULL);
	FUZZ_CHECK(pop3_usage(cmd.id) != NULL);
	if (memchr(data, '\0', size) != NULL)
		FUZZ_CHECK(r == POP3_PARSE_SYNTAX);
	if (r == POP3_PARSE_UNKNOWN)
		FUZZ_CHECK(cmd.id == CMD_UNKNOWN);
	if (r != POP3_PARSE_OK)
		goto out;

	FUZZ_CHECK(cmd.id != CMD_UNKNOWN);
	FUZZ_CHECK(strncasecmp((const char *)data, cmd.name, strlen(cmd.name)) == 0);
	FUZZ_CHECK(cmd.nargs >= 0 && cmd.nargs <= 2);
	for (int i = 0; i < cmd.nargs; i++)
		check_arg(buf, size, cmd.args[i], cmd.id == CMD_PASS);
	switch (cmd.id) {
	case CMD_PASS:
		FUZZ_CHECK(cmd.nargs == 1);
		break;
	case CMD_USER:
		FUZZ_CHECK(cmd.nargs == 1);
		break;
	case CMD_RETR:
	case CMD_DELE:
		FUZZ_CHECK(cmd.nargs == 1);
		FALLTHROUGH;
	case CMD_LIST:
	case CMD_UIDL:
		if (cmd.nargs == 1) {
			FUZZ_CHECK(parse_uint(cmd.args[0], 1, UINT32_MAX - 1, &v));
			FUZZ_CHECK(v == cmd.num[0]);
		}
		break;
	case CMD_TOP:
		FUZZ_CHECK(cmd.nargs == 2);
		FUZZ_CHECK(cmd.num[0] >= 1 && cmd.num[0] < UINT32_MAX);
		FUZZ_CHECK(cmd.num[1] < UINT32_MAX);
		FUZZ_CHECK(parse_uint(cmd.args[1], 0, UINT32_MAX - 1, &v) &&
		    v == cmd.num[1]);
		break;
	case CMD_QUIT:
	case CMD_STAT:
	case CMD_NOOP:
	case CMD_RSET:
	case CMD_CAPA:
	case CMD_STLS:
	case CMD_UTF8:
		FUZZ_CHECK(cmd.nargs == 0);
		break;
	default:
		break;
	}
out:
	free(buf);
	return 0;
}
