/*
 * pop3_parse.c - turn one client line into a command and arguments.
 * Every client-controlled number goes through parse_uint (rule 12).
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "params.h"
#include "pop3_parse.h"
#include "util.h"

enum arg_kind {
	A_NONE,		/* no argument */
	A_STR,		/* exactly one word */
	A_REST,		/* the rest of the line (PASS) */
	A_OPT_MSG,	/* optional message number */
	A_MSG,		/* one message number */
	A_MSG_LINES,	/* message number and line count (TOP) */
	A_AUTH,		/* optional mechanism, optional initial response */
	A_ANY,		/* ignored arguments allowed (none parsed) */
};

static const struct {
	const char *name;
	enum pop3_cmd_id id;
	enum arg_kind kind;
	const char *usage;
} commands[] = {
	{ "USER", CMD_USER, A_STR, "USER name" },
	{ "PASS", CMD_PASS, A_REST, "PASS password" },
	{ "QUIT", CMD_QUIT, A_NONE, "QUIT" },
	{ "STAT", CMD_STAT, A_NONE, "STAT" },
	{ "LIST", CMD_LIST, A_OPT_MSG, "LIST [msg]" },
	{ "RETR", CMD_RETR, A_MSG, "RETR msg" },
	{ "DELE", CMD_DELE, A_MSG, "DELE msg" },
	{ "NOOP", CMD_NOOP, A_NONE, "NOOP" },
	{ "RSET", CMD_RSET, A_NONE, "RSET" },
	{ "TOP", CMD_TOP, A_MSG_LINES, "TOP msg lines" },
	{ "UIDL", CMD_UIDL, A_OPT_MSG, "UIDL [msg]" },
	{ "CAPA", CMD_CAPA, A_NONE, "CAPA" },
	{ "STLS", CMD_STLS, A_NONE, "STLS" },
	{ "AUTH", CMD_AUTH, A_AUTH, "AUTH [mechanism [initial-response]]" },
	{ "UTF8", CMD_UTF8, A_NONE, "UTF8" },
	{ "APOP", CMD_APOP, A_ANY, "APOP is not supported" },
};

const char *
pop3_usage(enum pop3_cmd_id id)
{
	for (size_t i = 0; i < nitems(commands); i++)
		if (commands[i].id == id)
			return commands[i].usage;
	return "";
}

/*
 * Split [p, end) into words separated by single spaces, NUL-terminating
 * each. Returns the number of words, or -1 for an empty word (two spaces
 * in a row) or more than max words.
 */
static int
split_words(char *p, char *end, char **words, int max)
{
	int n = 0;

	while (p < end) {
		char *w = p;

		while (p < end && *p != ' ')
			p++;
		if (p == w || n == max)
			return -1;
		words[n++] = w;
		if (p < end)
			*p++ = '\0';
		if (p == end && p[-1] == '\0')
			return -1;	/* the line ended with a separator */
	}
	return n;
}

static bool
parse_msgno(const char *s, uint32_t *out)
{
	uint64_t v;

	if (!parse_uint(s, 1, UINT32_MAX - 1, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

enum pop3_parse_result
pop3_parse(char *line, size_t len, struct pop3_cmd *cmd)
{
	char *end = line + len, *p = line, *w[3];
	size_t kwlen;
	int idx = -1, n;

	memset(cmd, 0, sizeof(*cmd));
	cmd->name = "?";
	if (memchr(line, '\0', len) != NULL)
		return POP3_PARSE_SYNTAX;
	line[len] = '\0';
	while (p < end && *p != ' ')
		p++;
	kwlen = (size_t)(p - line);
	for (size_t i = 0; i < nitems(commands); i++) {
		if (strlen(commands[i].name) == kwlen &&
		    strncasecmp(commands[i].name, line, kwlen) == 0) {
			idx = (int)i;
			break;
		}
	}
	if (idx < 0)
		return POP3_PARSE_UNKNOWN;
	cmd->id = commands[idx].id;
	cmd->name = commands[idx].name;

	if (commands[idx].kind == A_REST) {
		/* The password is everything after "PASS ", spaces included. */
		if (p + 1 >= end)
			return POP3_PARSE_SYNTAX;
		cmd->args[0] = p + 1;
		cmd->nargs = 1;
		return POP3_PARSE_OK;
	}
	if (commands[idx].kind == A_ANY)
		return POP3_PARSE_OK;
	/* A trailing space is tolerated (some clients send "STAT "). */
	while (end > p && end[-1] == ' ')
		end--;
	*end = '\0';
	n = p < end ? split_words(p + 1, end, w, 3) : 0;
	if (n < 0)
		return POP3_PARSE_SYNTAX;
	for (int i = 0; i < n && i < 2; i++)
		cmd->args[i] = w[i];
	cmd->nargs = n < 2 ? n : 2;

	switch (commands[idx].kind) {
	case A_NONE:
		return n == 0 ? POP3_PARSE_OK : POP3_PARSE_SYNTAX;
	case A_STR:
		return n == 1 ? POP3_PARSE_OK : POP3_PARSE_SYNTAX;
	case A_OPT_MSG:
		if (n == 0)
			return POP3_PARSE_OK;
		FALLTHROUGH;
	case A_MSG:
		if (n != 1)
			return POP3_PARSE_SYNTAX;
		return parse_msgno(w[0], &cmd->num[0]) ? POP3_PARSE_OK :
		    POP3_PARSE_BAD_NUMBER;
	case A_MSG_LINES: {
		uint64_t v;

		if (n != 2)
			return POP3_PARSE_SYNTAX;
		if (!parse_msgno(w[0], &cmd->num[0]))
			return POP3_PARSE_BAD_NUMBER;
		if (!parse_uint(w[1], 0, UINT32_MAX - 1, &v))
			return POP3_PARSE_SYNTAX;
		cmd->num[1] = (uint32_t)v;
		return POP3_PARSE_OK;
	}
	case A_AUTH:
		return n <= 2 ? POP3_PARSE_OK : POP3_PARSE_SYNTAX;
	case A_REST:
	case A_ANY:
		break;
	}
	return POP3_PARSE_SYNTAX;
}
