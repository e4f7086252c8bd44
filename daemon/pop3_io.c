/*
 * pop3_io.c - buffered, timed line I/O on the client connection.
 * Output is batched so that pipelined commands get their answers in few
 * segments; it is flushed when no complete command remains buffered.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "params.h"
#include "pop3_io.h"
#include "util.h"

int client_write_timeout_ms = POP3_IDLE_TIMEOUT_DEFAULT * 1000;

static ssize_t
plain_read(struct client *c, void *buf, size_t n, bool *want_write)
{
	*want_write = false;
	return recv(c->fd, buf, n, 0);
}

static ssize_t
plain_write(struct client *c, const void *buf, size_t n, bool *want_read)
{
	*want_read = false;
	return send(c->fd, buf, n, MSG_NOSIGNAL);
}

static bool
plain_pending(struct client *c)
{
	return false;
}

static void
plain_push(struct client *c)
{
	/* TCP_NODELAY: every send goes out at once already. */
}

static void
plain_hold(struct client *c)
{
	/* client_write_data gathers a large response into one sendmsg. */
}

void
client_init(struct client *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->tr.read = plain_read;
	c->tr.write = plain_write;
	c->tr.pending = plain_pending;
	c->tr.push = plain_push;
	c->tr.hold = plain_hold;
}

void
client_free(struct client *c)
{
	wipe(c->in, sizeof(c->in));
	free(c->out);
	c->out = NULL;
}

bool
client_line_buffered(const struct client *c)
{
	return memchr(c->in + c->inpos, '\n', c->inlen - c->inpos) != NULL;
}

void
client_discard_input(struct client *c)
{
	wipe(c->in, sizeof(c->in));
	c->inpos = c->inlen = 0;
	c->discarding = false;
}

static volatile sig_atomic_t stop_requested;
static sigset_t wait_mask;	/* while waiting for a line: SIGTERM open */

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void
client_stop_signal_init(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the wait below must see EINTR. */
	if (sigaction(SIGTERM, &sa, NULL) == -1)
		return;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
}

/*
 * Wait for the socket; returns 1 ready, 0 timeout, -1 error, -2 stop.
 * With stoppable (waiting for the client's next line: the one place where
 * SIGTERM is let through), ppoll opens the mask atomically, so a signal
 * that arrived during a command is pending and delivered here.
 */
static int
wait_fd(int fd, short events, int timeout_ms, bool stoppable)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	struct timespec ts, *tp = NULL;
	int r;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tp = &ts;
	}
	do {
		r = ppoll(&pfd, 1, tp, stoppable ? &wait_mask : NULL);
		if (stoppable && stop_requested)
			return -2;
	} while (r < 0 && errno == EINTR);
	return r;
}

/* Milliseconds left until deadline (0 if passed); -1 stays -1. */
static int
remaining(uint64_t deadline, int timeout_ms)
{
	uint64_t now;

	if (timeout_ms < 0)
		return -1;
	now = now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

enum client_read_result
client_read_line(struct client *c, char *line, size_t max, size_t *len,
    int timeout_ms)
{
	/* The line must be complete by then: a client trickling a byte at
	 * a time does not extend the pre-authentication deadline. */
	uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;

	for (;;) {
		uint8_t *start = c->in + c->inpos;
		size_t avail = c->inlen - c->inpos;
		uint8_t *nl = memchr(start, '\n', avail);
		bool want_write;
		ssize_t n;

		if (nl != NULL) {
			size_t l = (size_t)(nl - start);
			bool was_discarding = c->discarding;

			c->inpos += l + 1;
			c->discarding = false;
			if (was_discarding)
				return CLIENT_TOO_LONG;
			if (l > 0 && start[l - 1] == '\r')
				l--;
			if (l > max) {
				wipe(start, l);
				return CLIENT_TOO_LONG;
			}
			memcpy(line, start, l);
			line[l] = '\0';
			wipe(start, l);
			*len = l;
			return CLIENT_LINE;
		}
		/* No LF yet. Over the cap (+2 for CRLF)? Start discarding. */
		if (avail > max + 2) {
			wipe(start, avail);
			c->inpos = c->inlen = 0;
			c->discarding = true;
			avail = 0;
		}
		if (c->inpos > 0) {
			memmove(c->in, c->in + c->inpos, avail);
			c->inpos = 0;
			c->inlen = avail;
		}
		if (c->inlen == sizeof(c->in)) {
			/* Only possible if max is close to the buffer size. */
			client_discard_input(c);
			c->discarding = true;
		}
		if (!c->tr.pending(c)) {
			int r = wait_fd(c->fd, POLLIN,
			    remaining(deadline, timeout_ms), true);

			if (r == 0)
				return CLIENT_TIMEOUT;
			if (r == -2)
				return CLIENT_STOP;
			if (r < 0)
				return CLIENT_ERROR;
		}
		n = c->tr.read(c, c->in + c->inlen, sizeof(c->in) - c->inlen,
		    &want_write);
		if (n == 0)
			return CLIENT_EOF;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				if (want_write && wait_fd(c->fd, POLLOUT,
				    remaining(deadline, timeout_ms), false) <= 0)
					return CLIENT_TIMEOUT;
				continue;
			}
			return CLIENT_ERROR;
		}
		c->inlen += (size_t)n;
	}
}

/*
 * Writes have a deadline per call, not per wait: a client that reads a
 * byte now and then cannot stretch one answer (at most one output
 * buffer or one 128 KiB data chunk) beyond client_write_timeout_ms.
 * Writing the queue in the middle of a response (it is full, or a data
 * chunk follows) does not push: only client_flush does.
 */
static bool
write_queued(struct client *c)
{
	uint64_t deadline = now_ms() + (uint64_t)client_write_timeout_ms;
	size_t off = 0;

	if (c->failed)
		return false;
	while (off < c->outlen) {
		bool want_read;
		ssize_t n = c->tr.write(c, c->out + off, c->outlen - off,
		    &want_read);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				if (wait_fd(c->fd, want_read ? POLLIN : POLLOUT,
				    remaining(deadline, client_write_timeout_ms), false) <= 0) {
					c->failed = true;
					return false;
				}
				continue;
			}
			c->failed = true;
			return false;
		}
		off += (size_t)n;
		c->octets_out += (uint64_t)n;
	}
	c->outlen = 0;
	return true;
}

bool
client_flush(struct client *c)
{
	if (!write_queued(c))
		return false;
	c->tr.push(c);
	return true;
}

/* Write buf directly, without copying it into the output buffer. */
static void
client_write_direct(struct client *c, const uint8_t *buf, size_t len)
{
	uint64_t deadline = now_ms() + (uint64_t)client_write_timeout_ms;

	while (len > 0 && !c->failed) {
		bool want_read;
		ssize_t n = c->tr.write(c, buf, len, &want_read);

		if (n < 0) {
			if ((errno == EAGAIN || errno == EINTR) &&
			    wait_fd(c->fd, want_read ? POLLIN : POLLOUT,
			    remaining(deadline, client_write_timeout_ms), false) > 0)
				continue;
			c->failed = true;
			return;
		}
		buf += n;
		len -= (size_t)n;
		c->octets_out += (uint64_t)n;
	}
}

void
client_write(struct client *c, const void *buf, size_t len)
{
	if (c->failed || len == 0)
		return;
	/* Message data arrives in large chunks: send them as they are
	 * rather than copy them; small answers are batched. */
	if (len >= 16 * 1024) {
		if (c->outlen > 0 && !write_queued(c))
			return;
		client_write_direct(c, buf, len);
		return;
	}
	if (c->outcap - c->outlen < len) {
		size_t cap = c->outcap ? c->outcap : 4096;

		while (cap - c->outlen < len)
			cap *= 2;
		c->out = xreallocarray(c->out, cap, 1);
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, buf, len);
	c->outlen += len;
	if (c->outlen >= POP3_MAX_OUTPUT_BUFFER / 2)
		(void)write_queued(c);
}

/*
 * Plain connection: the queued output, buf and tail in one sendmsg()
 * where the socket takes them, without copying buf. Same deadline rule
 * as client_flush().
 */
static void
plain_write_gather(struct client *c, const uint8_t *buf, size_t len,
    const void *tail, size_t tlen)
{
	uint64_t deadline = now_ms() + (uint64_t)client_write_timeout_ms;
	struct iovec iov[3];
	size_t niov = 0, first = 0;

	if (c->outlen > 0)
		iov[niov++] = (struct iovec){ c->out, c->outlen };
	iov[niov++] = (struct iovec){ (void *)buf, len };
	if (tlen > 0)
		iov[niov++] = (struct iovec){ (void *)tail, tlen };
	c->outlen = 0;
	while (first < niov) {
		struct msghdr mh = { 0 };
		ssize_t n;

		mh.msg_iov = iov + first;
		mh.msg_iovlen = niov - first;
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if ((errno == EAGAIN || errno == EINTR) &&
			    wait_fd(c->fd, POLLOUT,
			    remaining(deadline, client_write_timeout_ms), false) > 0)
				continue;
			c->failed = true;
			return;
		}
		c->octets_out += (uint64_t)n;
		first = iov_consume(iov, niov, first, (size_t)n);
	}
}

void
client_write_data(struct client *c, const void *buf, size_t len,
    const void *tail, size_t tlen)
{
	if (c->failed)
		return;
	/* Only the plain transport's own socket: under TLS every byte must
	 * go through the transport. */
	if (len >= 16 * 1024 && c->tr.write == plain_write) {
		plain_write_gather(c, buf, len, tail, tlen);
		return;
	}
	if (len >= 16 * 1024)
		c->tr.hold(c);
	client_write(c, buf, len);
	if (tlen > 0)
		client_write(c, tail, tlen);
}

void
client_printf(struct client *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	client_write(c, buf, (size_t)n);
}
