/*
 * popbench.c - the POP3 client of postern's benchmark (bench/run.sh).
 * Not part of the product build: run.sh compiles it with cc.
 *
 * Python would be the bottleneck above 1 GB/s, so the timed loops live
 * here. Every mode prints one line of key=value pairs for the driver.
 *
 *   popbench sessions HOST PORT -u U1[,U2..] (-n N | -d SECS) [-c CLIENTS] [-t]
 *       sessions of connect, USER, PASS, STAT, QUIT: N in all, or as many
 *       as fit in SECS; CLIENTS processes share them, client i logging in
 *       as user i (mailboxes are locked per session, so concurrent
 *       clients need distinct users).
 *   popbench retr HOST PORT -u USER [-t] [-q] [-P DEPTH] [-D DUMP]
 *       RETR every message, DEPTH commands in flight (1 = lockstep, as
 *       ordinary clients do). -q sets TCP_QUICKACK after every read, as a
 *       client that acks at once. -D writes each message, dot-unstuffed,
 *       as an 8-byte little-endian length and the bytes (for verifying).
 *       -S prints "stat" and waits for a line on stdin before the first
 *       RETR, -W does the same before QUIT (the driver samples the
 *       server's processes at both points).
 *   popbench open HOST PORT -u USER [-t]      time PASS->+OK and STAT
 *   popbench expunge HOST PORT -u USER [-t]   time DELE 1 and QUIT->+OK
 *   popbench idle HOST PORT -u FMT -n N [-t]
 *       N authenticated sessions (user FMT with %d = 0..N-1); prints
 *       "ready", waits for a line on stdin, then QUITs them all.
 *   popbench probe HOST PORT [-t]             print the greeting
 *
 * The password comes from $POPBENCH_PASSWORD.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define BUF_SIZE	(256 * 1024)

struct opts {
	const char *host, *port, *users, *dump;
	const char *password;
	long n, clients, depth, timeout;
	double duration;
	size_t bufsize;
	bool tls, quickack, wait, sync;
};

struct conn {
	int fd;
	SSL *ssl;
	bool quickack;
	uint8_t *buf;
	size_t pos, len, cap;
	uint64_t wire;		/* bytes received */
};

/* Where unstuffed message data goes in verify mode. */
struct sink {
	FILE *f;
	uint8_t *buf;
	size_t len, cap;
	uint64_t stuffed;	/* dots removed */
};

static SSL_CTX *client_ctx;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "popbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
set_quickack(struct conn *c)
{
	int one = 1;

	if (c->quickack)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof(one));
}

/*
 * Returns bytes read, 0 on EOF, -1 on error. A quick-ack client acks
 * after every read from the socket: under TLS that is when OpenSSL's
 * read-ahead took bytes from it, not every SSL_read.
 */
static ssize_t
conn_read(struct conn *c, void *buf, size_t n)
{
	ssize_t r;

	if (c->ssl != NULL) {
		BIO *rb = SSL_get_rbio(c->ssl);
		uint64_t before = BIO_number_read(rb);

		r = SSL_read(c->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
		if (r <= 0)
			r = SSL_get_error(c->ssl, (int)r) ==
			    SSL_ERROR_ZERO_RETURN ? 0 : -1;
		if (BIO_number_read(rb) != before)
			set_quickack(c);
	} else {
		do {
			r = recv(c->fd, buf, n, 0);
		} while (r < 0 && errno == EINTR);
		set_quickack(c);
	}
	return r;
}

static int
conn_write(struct conn *c, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t r;

		if (c->ssl != NULL) {
			r = SSL_write(c->ssl, p, (int)n);
			if (r <= 0)
				return -1;
		} else {
			r = send(c->fd, p, n, MSG_NOSIGNAL);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
conn_fill(struct conn *c)
{
	ssize_t r;

	if (c->pos > 0 && c->pos == c->len)
		c->pos = c->len = 0;
	if (c->len == c->cap) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	r = conn_read(c, c->buf + c->len, c->cap - c->len);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	c->wire += (uint64_t)r;
	return 0;
}

/* One response line, CRLF stripped, NUL-terminated in place. */
static char *
conn_line(struct conn *c)
{
	for (;;) {
		uint8_t *start = c->buf + c->pos;
		uint8_t *nl = memchr(start, '\n', c->len - c->pos);

		if (nl != NULL) {
			*nl = '\0';
			if (nl > start && nl[-1] == '\r')
				nl[-1] = '\0';
			c->pos = (size_t)(nl + 1 - c->buf);
			return (char *)start;
		}
		if (c->len - c->pos > 2048)
			return NULL;	/* no POP3 status line is this long */
		if (c->pos > 0) {
			memmove(c->buf, start, c->len - c->pos);
			c->len -= c->pos;
			c->pos = 0;
		}
		if (conn_fill(c) == -1)
			return NULL;
	}
}

static bool
conn_ok(struct conn *c)
{
	char *l = conn_line(c);

	return l != NULL && strncmp(l, "+OK", 3) == 0;
}

static bool
conn_cmd(struct conn *c, const char *cmd)
{
	char line[600];
	int n = snprintf(line, sizeof(line), "%s\r\n", cmd);

	if (n < 0 || (size_t)n >= sizeof(line) || conn_write(c, line, (size_t)n))
		return false;
	return conn_ok(c);
}

static void
sink_put(struct sink *s, const uint8_t *p, size_t n)
{
	if (s == NULL || n == 0)
		return;
	if (s->cap - s->len < n) {
		while (s->cap - s->len < n)
			s->cap = s->cap ? s->cap * 2 : 1 << 20;
		s->buf = realloc(s->buf, s->cap);
		if (s->buf == NULL)
			die("out of memory");
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
sink_end(struct sink *s)
{
	uint64_t len;
	uint8_t le[8];

	if (s == NULL)
		return;
	len = s->len;
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(len >> (8 * i));
	if (fwrite(le, 1, 8, s->f) != 8 || fwrite(s->buf, 1, s->len, s->f) !=
	    s->len)
		die("dump: write failed");
	s->len = 0;
}

/*
 * Skip a multi-line body up to and including ".\r\n" without keeping
 * it. Only a '.' at the start of a line matters, so this looks for dots
 * (memchr) rather than for every line end: base64 has no dots at all.
 * prev is the byte before p, across refills.
 */
static int
conn_skip_body(struct conn *c)
{
	enum { S_SCAN, S_DOT, S_DOTCR } st = S_SCAN;
	uint8_t prev = '\n';	/* the status line's LF */

	for (;;) {
		uint8_t *p = c->buf + c->pos, *end = c->buf + c->len;

		while (p < end) {
			uint8_t *q;

			switch (st) {
			case S_SCAN:
				q = memchr(p, '.', (size_t)(end - p));
				if (q == NULL) {
					prev = end[-1];
					p = end;
					break;
				}
				if ((q > p ? q[-1] : prev) == '\n')
					st = S_DOT;
				prev = '.';
				p = q + 1;
				break;
			case S_DOT:
				if (*p == '\r') {
					prev = *p++;
					st = S_DOTCR;
				} else
					st = S_SCAN;
				break;
			case S_DOTCR:
				if (*p == '\n') {
					c->pos = (size_t)(p + 1 - c->buf);
					return 0;
				}
				st = S_SCAN;
				break;
			}
		}
		c->pos = c->len = 0;
		if (conn_fill(c) == -1)
			return -1;
	}
}

/*
 * Consume a multi-line body up to and including ".\r\n", undoing the
 * dot-stuffing into sink (may be NULL). Lines are found with memchr;
 * only the first bytes of each line are looked at one by one.
 */
static int
conn_body(struct conn *c, struct sink *s)
{
	enum { S_BOL, S_MID, S_DOT, S_DOTCR } st = S_BOL;

	for (;;) {
		uint8_t *p = c->buf + c->pos, *end = c->buf + c->len;

		while (p < end) {
			uint8_t *nl;

			switch (st) {
			case S_MID:
				nl = memchr(p, '\n', (size_t)(end - p));
				if (nl == NULL) {
					sink_put(s, p, (size_t)(end - p));
					p = end;
				} else {
					sink_put(s, p, (size_t)(nl + 1 - p));
					p = nl + 1;
					st = S_BOL;
				}
				break;
			case S_BOL:
				if (*p == '.') {
					p++;
					st = S_DOT;
				} else
					st = S_MID;
				break;
			case S_DOT:
				if (*p == '\r') {
					p++;
					st = S_DOTCR;
				} else {
					if (s != NULL)
						s->stuffed++;
					st = S_MID;
				}
				break;
			case S_DOTCR:
				if (*p == '\n') {
					c->pos = (size_t)(p + 1 - c->buf);
					sink_end(s);
					return 0;
				}
				/* "." CR and more: the dot was stuffing. */
				sink_put(s, (const uint8_t *)"\r", 1);
				st = S_MID;
				break;
			}
		}
		c->pos = c->len = 0;
		if (conn_fill(c) == -1)
			return -1;
	}
}

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static bool
conn_open(struct conn *c, const struct opts *o)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct timeval tv = { .tv_sec = o->timeout };

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->quickack = o->quickack;
	if (getaddrinfo(o->host, o->port, &hints, &ai) != 0)
		return false;
	c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		freeaddrinfo(ai);
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return false;
	}
	freeaddrinfo(ai);
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c->cap = o->bufsize;
	c->buf = malloc(c->cap);
	if (c->buf == NULL)
		die("out of memory");
	if (o->tls) {
		c->ssl = SSL_new(client_ctx);
		if (c->ssl == NULL || !SSL_set_fd(c->ssl, c->fd) ||
		    SSL_connect(c->ssl) != 1) {
			conn_close(c);
			return false;
		}
	}
	return conn_ok(c);
}

static bool
conn_login(struct conn *c, const struct opts *o, const char *user)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "USER %s", user);
	if (!conn_cmd(c, cmd))
		return false;
	snprintf(cmd, sizeof(cmd), "PASS %s", o->password);
	return conn_cmd(c, cmd);
}

/* The i-th user of a comma-separated list (cycling). */
static void
nth_user(const char *list, long i, char *out, size_t outsz)
{
	long count = 1;
	const char *p = list;

	for (const char *q = list; *q; q++)
		count += *q == ',';
	i %= count;
	while (i-- > 0)
		p = strchr(p, ',') + 1;
	snprintf(out, outsz, "%.*s", (int)strcspn(p, ","), p);
}

static int
mode_sessions(const struct opts *o)
{
	int pfd[2];
	double t0, t1;
	long ok = 0, fail = 0;

	if (pipe(pfd) == -1)
		die("pipe: %s", strerror(errno));
	t0 = now();
	for (long k = 0; k < o->clients; k++) {
		pid_t pid = fork();

		if (pid == -1)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			long share = o->n / o->clients + (k < o->n % o->clients);
			long res[2] = { 0, 0 };
			char user[256];

			close(pfd[0]);
			nth_user(o->users, k, user, sizeof(user));
			if (o->duration > 0)
				share = LONG_MAX;
			for (long i = 0; i < share; i++) {
				if (o->duration > 0 && now() - t0 >= o->duration)
					break;
				struct conn c;
				bool good = conn_open(&c, o) &&
				    conn_login(&c, o, user) &&
				    conn_cmd(&c, "STAT") && conn_cmd(&c, "QUIT");

				conn_close(&c);
				res[good ? 0 : 1]++;
			}
			if (write(pfd[1], res, sizeof(res)) != sizeof(res))
				_exit(1);
			_exit(0);
		}
	}
	close(pfd[1]);
	for (long k = 0; k < o->clients; k++) {
		long res[2];

		if (read(pfd[0], res, sizeof(res)) == sizeof(res)) {
			ok += res[0];
			fail += res[1];
		}
	}
	while (wait(NULL) > 0)
		;
	t1 = now();
	printf("sessions=%ld failed=%ld seconds=%.6f rate=%.2f\n", ok, fail,
	    t1 - t0, (double)ok / (t1 - t0));
	return fail ? 1 : 0;
}

static const char *
cipher_name(const struct conn *c)
{
	return c->ssl ? SSL_get_cipher_name(c->ssl) : "none";
}

static int
mode_retr(const struct opts *o)
{
	struct conn c;
	struct sink sk = { 0 }, *s = NULL;
	char *l, cmd[64];
	unsigned long count;
	long sent = 0;
	double t0, t1;
	uint64_t wire0;

	if (o->dump != NULL) {
		sk.f = fopen(o->dump, "wb");
		if (sk.f == NULL)
			die("%s: %s", o->dump, strerror(errno));
		s = &sk;
	}
	if (!conn_open(&c, o) || !conn_login(&c, o, o->users))
		die("login failed");
	if (conn_write(&c, "STAT\r\n", 6) || (l = conn_line(&c)) == NULL ||
	    sscanf(l, "+OK %lu", &count) != 1)
		die("STAT failed");
	if (o->n > 0 && (unsigned long)o->n < count)
		count = (unsigned long)o->n;
	if (o->sync) {
		char line[64];

		printf("stat messages=%lu\n", count);
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL)
			line[0] = '\0';
	}
	wire0 = c.wire;
	t0 = now();
	for (unsigned long i = 1; i <= count; i++) {
		while (sent < (long)count && sent < (long)i - 1 + o->depth) {
			int len = snprintf(cmd, sizeof(cmd), "RETR %ld\r\n",
			    ++sent);

			if (conn_write(&c, cmd, (size_t)len))
				die("write failed at RETR %ld", sent);
		}
		l = conn_line(&c);
		if (l == NULL || strncmp(l, "+OK", 3) != 0)
			die("RETR %lu: %s", i, l ? l : "connection lost");
		if ((s != NULL ? conn_body(&c, s) : conn_skip_body(&c)) == -1)
			die("RETR %lu: connection lost in the body", i);
	}
	t1 = now();
	printf("messages=%lu bytes=%llu seconds=%.6f mbps=%.1f cipher=%s",
	    count, (unsigned long long)(c.wire - wire0), t1 - t0,
	    (double)(c.wire - wire0) / (t1 - t0) / 1e6, cipher_name(&c));
	if (s != NULL)
		printf(" stuffed=%llu", (unsigned long long)s->stuffed);
	printf("\n");
	fflush(stdout);
	if (o->wait) {
		/* The driver samples the server's processes now. */
		char line[64];

		if (fgets(line, sizeof(line), stdin) == NULL)
			line[0] = '\0';
	}
	if (!conn_cmd(&c, "QUIT"))
		die("QUIT failed");
	conn_close(&c);
	if (s != NULL && fclose(s->f) != 0)
		die("dump: %s", strerror(errno));
	return 0;
}

static int
mode_open(const struct opts *o)
{
	struct conn c;
	char cmd[600], *l;
	double t0, t1, t2;
	unsigned long n;
	unsigned long long octets;

	if (!conn_open(&c, o))
		die("connect failed");
	snprintf(cmd, sizeof(cmd), "USER %s", o->users);
	if (!conn_cmd(&c, cmd))
		die("USER refused");
	snprintf(cmd, sizeof(cmd), "PASS %s", o->password);
	t0 = now();
	if (!conn_cmd(&c, cmd))
		die("PASS refused");
	t1 = now();
	if (conn_write(&c, "STAT\r\n", 6) || (l = conn_line(&c)) == NULL ||
	    sscanf(l, "+OK %lu %llu", &n, &octets) != 2)
		die("STAT failed");
	t2 = now();
	printf("pass_s=%.6f stat_s=%.6f total_s=%.6f messages=%lu octets=%llu\n",
	    t1 - t0, t2 - t1, t2 - t0, n, octets);
	conn_cmd(&c, "QUIT");
	conn_close(&c);
	return 0;
}

static int
mode_expunge(const struct opts *o)
{
	struct conn c;
	double t0, t1, t2;

	if (!conn_open(&c, o) || !conn_login(&c, o, o->users) ||
	    !conn_cmd(&c, "STAT"))
		die("login failed");
	t0 = now();
	if (!conn_cmd(&c, "DELE 1"))
		die("DELE refused");
	t1 = now();
	if (!conn_cmd(&c, "QUIT"))
		die("QUIT failed");
	t2 = now();
	printf("dele_s=%.6f quit_s=%.6f total_s=%.6f\n", t1 - t0, t2 - t1,
	    t2 - t0);
	conn_close(&c);
	return 0;
}

static int
mode_idle(struct opts *o)
{
	struct conn *cs = calloc((size_t)o->n, sizeof(*cs));
	long ok = 0, fail = 0;
	char user[256], line[64];

	if (cs == NULL)
		die("out of memory");
	o->bufsize = 4096;	/* N idle sessions: keep the client small */
	for (long i = 0; i < o->n; i++) {
		snprintf(user, sizeof(user), o->users, (int)i);
		if (conn_open(&cs[i], o) && conn_login(&cs[i], o, user) &&
		    conn_cmd(&cs[i], "STAT")) {
			ok++;
			continue;
		}
		fail++;
		conn_close(&cs[i]);
	}
	printf("ready sessions=%ld failed=%ld\n", ok, fail);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	for (long i = 0; i < o->n; i++) {
		if (cs[i].fd < 0)
			continue;
		conn_cmd(&cs[i], "QUIT");
		conn_close(&cs[i]);
	}
	printf("done\n");
	free(cs);
	return fail ? 1 : 0;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: popbench sessions|retr|open|expunge|idle|probe "
	    "HOST PORT [-u USERS] [-n N] [-d SECS] [-c CLIENTS] [-P DEPTH] [-q] [-t] "
	    "[-D DUMP] [-T TIMEOUT] [-S] [-W]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o = { .n = 0, .clients = 1, .depth = 1, .timeout = 300,
	    .bufsize = BUF_SIZE };
	const char *mode;
	int ch;

	if (argc < 4)
		usage();
	mode = argv[1];
	o.host = argv[2];
	o.port = argv[3];
	optind = 4;
	while ((ch = getopt(argc, argv, "u:n:c:d:P:qtD:T:SW")) != -1) {
		switch (ch) {
		case 'u': o.users = optarg; break;
		case 'n': o.n = atol(optarg); break;
		case 'c': o.clients = atol(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 'P': o.depth = atol(optarg); break;
		case 'q': o.quickack = true; break;
		case 't': o.tls = true; break;
		case 'D': o.dump = optarg; break;
		case 'S': o.sync = true; break;
		case 'W': o.wait = true; break;
		case 'T': o.timeout = atol(optarg); break;
		default: usage();
		}
	}
	if (o.clients < 1 || o.depth < 1 || o.n < 0)
		usage();
	o.password = getenv("POPBENCH_PASSWORD");
	if (o.password == NULL)
		o.password = "";
	signal(SIGPIPE, SIG_IGN);
	if (o.tls) {
		client_ctx = SSL_CTX_new(TLS_client_method());
		if (client_ctx == NULL)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
		/* Every session is a first visit: no resumption. */
		SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_OFF);
		/* Whole socket buffers per read, not a header and a record
		 * in two reads: the client must not be what is measured. */
		SSL_CTX_set_read_ahead(client_ctx, 1);
	}
	if (strcmp(mode, "probe") == 0) {
		struct conn c;

		if (!conn_open(&c, &o))
			die("no +OK greeting");
		printf("greeting=ok cipher=%s\n", cipher_name(&c));
		conn_close(&c);
		return 0;
	}
	if (o.users == NULL)
		usage();
	if (strcmp(mode, "sessions") == 0)
		return mode_sessions(&o);
	if (strcmp(mode, "retr") == 0)
		return mode_retr(&o);
	if (strcmp(mode, "open") == 0)
		return mode_open(&o);
	if (strcmp(mode, "expunge") == 0)
		return mode_expunge(&o);
	if (strcmp(mode, "idle") == 0)
		return mode_idle(&o);
	usage();
}
