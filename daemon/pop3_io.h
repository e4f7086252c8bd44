/*
 * pop3_io.h - the worker's buffered connection to the client: line
 * reading with hard caps and timeouts, batched output. TLS plugs in
 * underneath through the transport hooks.
 */
#ifndef POSTERN_POP3_IO_H
#define POSTERN_POP3_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CLIENT_IN_CAP	8192	/* > POP3_MAX_SASL_LINE + CRLF */

struct client;

/* How bytes move: plain TCP or TLS (pop3_tls.c). */
struct client_transport {
	/* Like read(2)/write(2) on a non-blocking socket: -1 with EAGAIN
	 * when poll() must wait; *want_write set if the transport needs to
	 * write before it can read (TLS). */
	ssize_t (*read)(struct client *, void *, size_t, bool *want_write);
	ssize_t (*write)(struct client *, const void *, size_t, bool *want_read);
	/* Bytes already decrypted and waiting inside the transport. */
	bool (*pending)(struct client *);
	/* The end of a response (client_flush): send at once whatever the
	 * transport held back to build larger segments. */
	void (*push)(struct client *);
	/* A large response begins: the transport may hold back segments,
	 * the status line's included, until push. */
	void (*hold)(struct client *);
	void *ctx;
};

enum client_read_result {
	CLIENT_LINE = 1,	/* a complete line */
	CLIENT_EOF = 0,		/* peer closed */
	CLIENT_ERROR = -1,	/* I/O error */
	CLIENT_TIMEOUT = -2,	/* nothing within the timeout */
	CLIENT_TOO_LONG = -3,	/* line over the cap: discarded up to its LF */
	CLIENT_STOP = -4,	/* postern is stopping (SIGTERM from the master) */
};

struct client {
	int fd;
	struct client_transport tr;
	uint8_t in[CLIENT_IN_CAP];
	size_t inpos, inlen;
	bool discarding;	/* skipping the rest of an over-long line */
	uint8_t *out;
	size_t outlen, outcap;
	uint64_t octets_out;
	bool failed;		/* a write failed: stop talking */
};

void client_init(struct client *, int fd);
/*
 * postern is stopping: the master sends SIGTERM. It is blocked except
 * while client_read_line() waits for the client, so a command under way
 * always finishes (a QUIT's expunge included) and the next wait returns
 * CLIENT_STOP. Call once, before the sandbox.
 */
void client_stop_signal_init(void);
void client_free(struct client *);

/*
 * Read one line of at most max octets (without CRLF) into line (room for
 * max + 1), NUL-terminated; *len excludes the terminator. A bare LF ends a
 * line too. The whole line must arrive within timeout_ms (-1: no limit):
 * a client trickling bytes does not extend it.
 */
enum client_read_result client_read_line(struct client *, char *line,
    size_t max, size_t *len, int timeout_ms);
/* Is a complete line already buffered (pipelining)? */
bool client_line_buffered(const struct client *);
/* Throw away buffered input (after STLS: no plaintext survives). */
void client_discard_input(struct client *);

/* Queue output; flushes by itself when the buffer is large. */
void client_write(struct client *, const void *, size_t);
void client_printf(struct client *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Response data (RETR/TOP): buf, then tail (NULL/0 for none), as two
 * client_write() calls would queue them. On a plain connection a large
 * buf leaves together with what is queued before it and the tail in
 * one system call, without being copied.
 */
void client_write_data(struct client *, const void *buf, size_t len,
    const void *tail, size_t tlen);
/* Write everything queued and push it out (the end of a response or of
 * a batch of pipelined responses); false on error or timeout. */
bool client_flush(struct client *);
/* Write timeout (ms) used for every flush. */
extern int client_write_timeout_ms;

#endif
