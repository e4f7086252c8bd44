/*
 * pop3_parse.h - POP3 command-line parsing (RFC 1939, 2449, 2595, 5034,
 * 6856). Pure and I/O-free: the unit tests and the fuzz target call it.
 */
#ifndef POSTERN_POP3_PARSE_H
#define POSTERN_POP3_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum pop3_cmd_id {
	CMD_UNKNOWN = 0,
	CMD_USER, CMD_PASS, CMD_QUIT, CMD_STAT, CMD_LIST, CMD_RETR, CMD_DELE,
	CMD_NOOP, CMD_RSET, CMD_TOP, CMD_UIDL, CMD_CAPA, CMD_STLS, CMD_AUTH,
	CMD_UTF8, CMD_APOP,
};

struct pop3_cmd {
	enum pop3_cmd_id id;
	const char *name;	/* canonical keyword, for logs */
	int nargs;
	char *args[2];		/* pointers into the caller's line buffer */
	uint32_t num[2];	/* numeric arguments, when the command has them */
};

enum pop3_parse_result {
	POP3_PARSE_OK = 0,
	POP3_PARSE_UNKNOWN,	/* -ERR unknown command */
	POP3_PARSE_SYNTAX,	/* -ERR with pop3_cmd.name and a syntax hint */
	POP3_PARSE_BAD_NUMBER,	/* -ERR invalid message number */
};

/*
 * Parse one command line (without CRLF; len octets; may contain NULs,
 * which are rejected). The buffer must have room for len + 1 bytes: it
 * is modified in place and arguments are NUL-terminated inside it. Keywords are case-insensitive.
 * Numeric arguments are strictly decimal, 1..UINT32_MAX-1 for message
 * numbers and 0..UINT32_MAX-1 for TOP's line count.
 * PASS takes the rest of the line as its single argument (passwords may
 * contain spaces); AUTH takes a mechanism and an optional initial response.
 */
enum pop3_parse_result pop3_parse(char *line, size_t len, struct pop3_cmd *);

/* One-line usage hint for a command, for syntax errors. */
const char *pop3_usage(enum pop3_cmd_id);

#endif
