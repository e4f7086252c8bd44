/*
 * test-pop3-parse.c - table tests for the POP3 command parser: every
 * command, argument counts, numbers (0, negative, huge, non-numeric),
 * case, spacing and embedded NULs.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pop3_parse.h"
#include "tap.h"

struct pcase {
	const char *line;
	size_t len;		/* 0: strlen(line) */
	enum pop3_parse_result want;
	enum pop3_cmd_id id;
	int nargs;
	uint32_t n0, n1;
	const char *a0;
};

static const struct pcase cases[] = {
	{ "USER alice", 0, POP3_PARSE_OK, CMD_USER, 1, 0, 0, "alice" },
	{ "user alice", 0, POP3_PARSE_OK, CMD_USER, 1, 0, 0, "alice" },
	{ "USER", 0, POP3_PARSE_SYNTAX, CMD_USER, 0, 0, 0, NULL },
	{ "USER a b", 0, POP3_PARSE_SYNTAX, CMD_USER, 0, 0, 0, NULL },
	{ "USER  alice", 0, POP3_PARSE_SYNTAX, CMD_USER, 0, 0, 0, NULL },
	{ "PASS secret with spaces ", 0, POP3_PARSE_OK, CMD_PASS, 1, 0, 0, "secret with spaces " },
	{ "PASS", 0, POP3_PARSE_SYNTAX, CMD_PASS, 0, 0, 0, NULL },
	{ "PASS ", 0, POP3_PARSE_SYNTAX, CMD_PASS, 0, 0, 0, NULL },
	{ "QUIT", 0, POP3_PARSE_OK, CMD_QUIT, 0, 0, 0, NULL },
	{ "quit ", 0, POP3_PARSE_OK, CMD_QUIT, 0, 0, 0, NULL },
	{ "QUIT now", 0, POP3_PARSE_SYNTAX, CMD_QUIT, 0, 0, 0, NULL },
	{ "STAT", 0, POP3_PARSE_OK, CMD_STAT, 0, 0, 0, NULL },
	{ "LIST", 0, POP3_PARSE_OK, CMD_LIST, 0, 0, 0, NULL },
	{ "LIST 1", 0, POP3_PARSE_OK, CMD_LIST, 1, 1, 0, "1" },
	{ "LIST 0", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST -1", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST +1", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST 1x", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST x", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST 4294967297", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST 4294967295", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST 4294967294", 0, POP3_PARSE_OK, CMD_LIST, 1, 4294967294u, 0, NULL },
	{ "LIST 99999999999999999999999", 0, POP3_PARSE_BAD_NUMBER, CMD_LIST, 1, 0, 0, NULL },
	{ "LIST 1 2", 0, POP3_PARSE_SYNTAX, CMD_LIST, 0, 0, 0, NULL },
	{ "RETR 7", 0, POP3_PARSE_OK, CMD_RETR, 1, 7, 0, "7" },
	{ "RETR 007", 0, POP3_PARSE_OK, CMD_RETR, 1, 7, 0, "007" },
	{ "RETR", 0, POP3_PARSE_SYNTAX, CMD_RETR, 0, 0, 0, NULL },
	{ "RETR 0", 0, POP3_PARSE_BAD_NUMBER, CMD_RETR, 1, 0, 0, NULL },
	{ "DELE 3", 0, POP3_PARSE_OK, CMD_DELE, 1, 3, 0, NULL },
	{ "DELE", 0, POP3_PARSE_SYNTAX, CMD_DELE, 0, 0, 0, NULL },
	{ "NOOP", 0, POP3_PARSE_OK, CMD_NOOP, 0, 0, 0, NULL },
	{ "RSET", 0, POP3_PARSE_OK, CMD_RSET, 0, 0, 0, NULL },
	{ "TOP 1 0", 0, POP3_PARSE_OK, CMD_TOP, 2, 1, 0, NULL },
	{ "TOP 1 10", 0, POP3_PARSE_OK, CMD_TOP, 2, 1, 10, NULL },
	{ "TOP 1", 0, POP3_PARSE_SYNTAX, CMD_TOP, 1, 0, 0, NULL },
	{ "TOP 1 -1", 0, POP3_PARSE_SYNTAX, CMD_TOP, 2, 0, 0, NULL },
	{ "TOP 0 1", 0, POP3_PARSE_BAD_NUMBER, CMD_TOP, 2, 0, 0, NULL },
	{ "TOP 1 4294967296", 0, POP3_PARSE_SYNTAX, CMD_TOP, 2, 0, 0, NULL },
	{ "UIDL", 0, POP3_PARSE_OK, CMD_UIDL, 0, 0, 0, NULL },
	{ "UIDL 2", 0, POP3_PARSE_OK, CMD_UIDL, 1, 2, 0, NULL },
	{ "CAPA", 0, POP3_PARSE_OK, CMD_CAPA, 0, 0, 0, NULL },
	{ "STLS", 0, POP3_PARSE_OK, CMD_STLS, 0, 0, 0, NULL },
	{ "AUTH", 0, POP3_PARSE_OK, CMD_AUTH, 0, 0, 0, NULL },
	{ "AUTH PLAIN", 0, POP3_PARSE_OK, CMD_AUTH, 1, 0, 0, "PLAIN" },
	{ "AUTH PLAIN AGFsaWNlAHB3", 0, POP3_PARSE_OK, CMD_AUTH, 2, 0, 0, "PLAIN" },
	{ "AUTH PLAIN a b", 0, POP3_PARSE_SYNTAX, CMD_AUTH, 0, 0, 0, NULL },
	{ "UTF8", 0, POP3_PARSE_OK, CMD_UTF8, 0, 0, 0, NULL },
	{ "APOP user digest", 0, POP3_PARSE_OK, CMD_APOP, 0, 0, 0, NULL },
	{ "XTND XMIT", 0, POP3_PARSE_UNKNOWN, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ "LAST", 0, POP3_PARSE_UNKNOWN, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ "", 0, POP3_PARSE_UNKNOWN, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ " STAT", 0, POP3_PARSE_UNKNOWN, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ "STATX", 0, POP3_PARSE_UNKNOWN, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ "STA", 0, POP3_PARSE_UNKNOWN, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ "STAT\0", 5, POP3_PARSE_SYNTAX, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ "USER a\0b", 8, POP3_PARSE_SYNTAX, CMD_UNKNOWN, 0, 0, 0, NULL },
	{ "LIST\t1", 0, POP3_PARSE_UNKNOWN, CMD_UNKNOWN, 0, 0, 0, NULL },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		char *buf = malloc(len + 1);
		struct pop3_cmd cmd;
		enum pop3_parse_result r;

		memcpy(buf, c->line, len);
		r = pop3_parse(buf, len, &cmd);
		is_int(r, c->want, "parse result of \"%s\"", c->line);
		if (r == POP3_PARSE_OK || c->id != CMD_UNKNOWN)
			is_int(cmd.id, c->id, "command id of \"%s\"", c->line);
		if (r == POP3_PARSE_OK) {
			is_int(cmd.nargs, c->nargs, "argument count of \"%s\"", c->line);
			if (c->nargs >= 1 && (c->id == CMD_LIST || c->id == CMD_RETR ||
			    c->id == CMD_DELE || c->id == CMD_TOP || c->id == CMD_UIDL))
				is_int(cmd.num[0], c->n0, "message number of \"%s\"", c->line);
			if (c->id == CMD_TOP)
				is_int(cmd.num[1], c->n1, "line count of \"%s\"", c->line);
			if (c->a0 != NULL)
				is_str(cmd.args[0], c->a0, "first argument of \"%s\"", c->line);
		}
		free(buf);
	}
	ok(strcmp(pop3_usage(CMD_TOP), "TOP msg lines") == 0, "usage text for TOP");
	return tap_done();
}
