/*
 * popserve.c - a trivial POP3 sender for postern's benchmark: every RETR
 * answers one message held in memory, already dot-stuffed, with a single
 * write. It does no work a real server must do, so popbench against it
 * is the ceiling of a POP3 transfer over loopback on this machine (the
 * client's own limit included). Not part of the product build.
 *
 *   popserve PORT -f MSGFILE -n COUNT [-C CERT -K KEY]
 *
 * MSGFILE holds the message as RETR sends it (CRLF line ends, not
 * stuffed). With CERT and KEY the listener speaks implicit TLS. Serves
 * one connection at a time on 127.0.0.1 until killed.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/ssl.h>

struct peer {
	int fd;
	SSL *ssl;
	char in[4096];
	size_t len;
};

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "popserve: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
peer_write(struct peer *p, const void *buf, size_t n)
{
	const char *b = buf;

	while (n > 0) {
		ssize_t r = p->ssl ? SSL_write(p->ssl, b, (int)n) :
		    send(p->fd, b, n, MSG_NOSIGNAL);

		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Next command line (without CRLF) or NULL at EOF. */
static char *
peer_line(struct peer *p, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(p->in, '\n', p->len);
		ssize_t r;

		if (nl != NULL) {
			size_t l = (size_t)(nl - p->in);

			if (l > 0 && p->in[l - 1] == '\r')
				l--;
			if (l >= max)
				l = max - 1;
			memcpy(line, p->in, l);
			line[l] = '\0';
			p->len -= (size_t)(nl + 1 - p->in);
			memmove(p->in, nl + 1, p->len);
			return line;
		}
		if (p->len == sizeof(p->in))
			return NULL;
		r = p->ssl ? SSL_read(p->ssl, p->in + p->len,
		    (int)(sizeof(p->in) - p->len)) :
		    recv(p->fd, p->in + p->len, sizeof(p->in) - p->len, 0);
		if (r <= 0)
			return NULL;
		p->len += (size_t)r;
	}
}

/* "+OK n octets" CRLF, the stuffed message, "." CRLF. */
static char *
build_response(const char *msg, size_t n, size_t *outlen)
{
	char *out = malloc(2 * n + 64), *o;
	bool bol = true;

	if (out == NULL)
		die("malloc");
	o = out + sprintf(out, "+OK %zu octets\r\n", n);
	for (size_t i = 0; i < n; i++) {
		if (bol && msg[i] == '.')
			*o++ = '.';
		*o++ = msg[i];
		bol = msg[i] == '\n';
	}
	if (!bol) {
		*o++ = '\r';
		*o++ = '\n';
	}
	memcpy(o, ".\r\n", 3);
	*outlen = (size_t)(o + 3 - out);
	return out;
}

static void
serve(struct peer *p, const char *resp, size_t resplen, long count,
    size_t msglen)
{
	char line[512], stat[64];

	if (peer_write(p, "+OK popserve ready\r\n", 20))
		return;
	snprintf(stat, sizeof(stat), "+OK %ld %llu\r\n", count,
	    (unsigned long long)msglen * (unsigned long long)count);
	while (peer_line(p, line, sizeof(line)) != NULL) {
		const char *ans = "+OK\r\n";
		size_t alen = 5;
		long k;

		if (strncasecmp(line, "RETR ", 5) == 0) {
			k = atol(line + 5);
			if (k >= 1 && k <= count) {
				ans = resp;
				alen = resplen;
			} else {
				ans = "-ERR no such message\r\n";
				alen = strlen(ans);
			}
		} else if (strcasecmp(line, "STAT") == 0) {
			ans = stat;
			alen = strlen(stat);
		}
		if (peer_write(p, ans, alen) || strcasecmp(line, "QUIT") == 0)
			return;
	}
}

int
main(int argc, char **argv)
{
	const char *file = NULL, *cert = NULL, *key = NULL;
	long count = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct stat st;
	SSL_CTX *ctx = NULL;
	char *msg, *resp;
	size_t resplen;
	int ch, fd, lfd, one = 1;

	if (argc < 2)
		goto usage;
	sin.sin_port = htons((uint16_t)atoi(argv[1]));
	optind = 2;
	while ((ch = getopt(argc, argv, "f:n:C:K:")) != -1) {
		switch (ch) {
		case 'f': file = optarg; break;
		case 'n': count = atol(optarg); break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		default: goto usage;
		}
	}
	if (file == NULL || count < 1)
		goto usage;
	if ((fd = open(file, O_RDONLY)) < 0 || fstat(fd, &st) < 0)
		die(file);
	msg = malloc((size_t)st.st_size + 1);
	if (msg == NULL || read(fd, msg, (size_t)st.st_size) != st.st_size)
		die(file);
	close(fd);
	resp = build_response(msg, (size_t)st.st_size, &resplen);
	if (cert != NULL) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (ctx == NULL ||
		    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
			die("TLS set-up");
	}
	signal(SIGPIPE, SIG_IGN);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 16) < 0)
		die("listen");
	for (;;) {
		struct peer p = { .ssl = NULL, .len = 0 };

		p.fd = accept(lfd, NULL, NULL);
		if (p.fd < 0)
			continue;
		setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (ctx != NULL) {
			p.ssl = SSL_new(ctx);
			SSL_set_fd(p.ssl, p.fd);
			if (SSL_accept(p.ssl) == 1)
				serve(&p, resp, resplen, count, (size_t)st.st_size);
			SSL_free(p.ssl);
		} else
			serve(&p, resp, resplen, count, (size_t)st.st_size);
		close(p.fd);
	}
usage:
	fprintf(stderr, "usage: popserve PORT -f MSGFILE -n COUNT [-C CERT -K KEY]\n");
	return 2;
}
