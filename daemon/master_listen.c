/*
 * master_listen.c - listening sockets: from the configuration, or from
 * systemd socket activation (LISTEN_FDS) when present.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "master_systemd.h"
#include "util.h"

void
sockaddr_host(const void *sa, socklen_t len, char *host, size_t hostsz,
    uint16_t *port)
{
	const struct sockaddr *s = sa;

	host[0] = '\0';
	*port = 0;
	if (s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = sa;

		*port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host,
			    (socklen_t)hostsz);
			return;
		}
		inet_ntop(AF_INET6, &s6->sin6_addr, host, (socklen_t)hostsz);
	} else if (s->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = sa;

		*port = ntohs(s4->sin_port);
		inet_ntop(AF_INET, &s4->sin_addr, host, (socklen_t)hostsz);
	} else {
		snprintf(host, hostsz, "unknown");
	}
	(void)len;
}

static int
listen_one(struct master *m, const struct config_listen *l)
{
	struct addrinfo hints, *res = NULL;
	struct listener *ls;
	int fd, one = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(l->host, l->port, &hints, &res);
	if (r != 0) {
		log_err("listen %s:%s: %s", l->host, l->port, gai_strerror(r));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		log_warn("socket for %s:%s", l->host, l->port);
		freeaddrinfo(res);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 511) == -1) {
		int saved = errno, family = res->ai_family;

		freeaddrinfo(res);
		close(fd);
		errno = saved;
		/* No IPv6 on this host is not an error for the default [::]. */
		if (family == AF_INET6 && (errno == EADDRNOTAVAIL ||
		    errno == EAFNOSUPPORT)) {
			log_info("listen [%s]:%s: %s (skipped)", l->host, l->port,
			    strerror(errno));
			return 0;
		}
		log_err("listen %s%s%s:%s: %s", strchr(l->host, ':') ? "[" : "",
		    l->host, strchr(l->host, ':') ? "]" : "", l->port,
		    strerror(errno));
		return -1;
	}
	freeaddrinfo(res);
	ls = &m->listeners[m->nlisteners++];
	ls->fd = fd;
	ls->tls = l->tls;
	snprintf(ls->name, sizeof(ls->name), strchr(l->host, ':') ?
	    "[%s]:%s%s" : "%s:%s%s", l->host, l->port, l->tls ? " (tls)" : "");
	log_info("listening on %s", ls->name);
	return 0;
}

/*
 * No usable name: implicit TLS if the socket's port is the port of a
 * configured listen_tls address (or 995 when none is configured), so
 * that a socket unit without FileDescriptorName= still works.
 */
static bool
unnamed_is_tls(const struct master *m, uint16_t port)
{
	bool any = false;

	for (size_t i = 0; i < m->cfg.nlisten; i++) {
		if (!m->cfg.listen[i].tls)
			continue;
		any = true;
		if ((unsigned)atoi(m->cfg.listen[i].port) == port)
			return true;
	}
	return !any && port == 995;
}

/* Take over one descriptor passed by systemd; -1 if it is unusable. */
static int
adopt_one(struct master *m, int fd, enum sd_fd_kind kind)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t slen = sizeof(ss), ilen;
	struct listener *ls;
	char host[64];
	uint16_t port;
	int type = 0, acc = 0;

	ilen = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) == -1 ||
	    type != SOCK_STREAM) {
		log_err("socket activation: descriptor %d is not a stream socket", fd);
		return -1;
	}
	ilen = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &ilen) == -1 ||
	    acc == 0) {
		log_err("socket activation: descriptor %d is not listening (Accept=no is required)", fd);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &slen) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		log_err("socket activation: descriptor %d is not an IPv4 or IPv6 socket", fd);
		return -1;
	}
	if (set_cloexec(fd, true) == -1 || set_nonblock(fd, true) == -1) {
		log_warn("socket activation: descriptor %d", fd);
		return -1;
	}
	sockaddr_host(&ss, slen, host, sizeof(host), &port);
	ls = &m->listeners[m->nlisteners++];
	ls->fd = fd;
	ls->tls = kind == SD_FD_POP3S ||
	    (kind == SD_FD_UNNAMED && unnamed_is_tls(m, port));
	snprintf(ls->name, sizeof(ls->name), ss.ss_family == AF_INET6 ?
	    "[%s]:%u%s" : "%s:%u%s", host, (unsigned)port,
	    ls->tls ? " (tls)" : "");
	log_info("listening on %s (from systemd)", ls->name);
	return 0;
}

/*
 * Socket activation: use the descriptors systemd passed instead of the
 * listen keys. Returns 1 if it did, 0 if there were none, -1 on error.
 */
static int
listeners_adopt(struct master *m)
{
	struct sd_listen sl;
	const char *why;
	int n;

	n = sd_listen_parse(getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
	    getenv("LISTEN_FDNAMES"), (long)getpid(), &sl, &why);
	/* Children must not see them; they get an empty environment
	 * anyway, but a reload or a debugger should not either. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n < 0) {
		log_err("socket activation: %s", why);
		return -1;
	}
	if (why != NULL)
		log_warnx("socket activation: %s", why);
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < sl.n; i++) {
		int fd = SD_LISTEN_FDS_START + (int)i;

		if (adopt_one(m, fd, sl.kind[i]) == -1)
			return -1;
		if (m->listeners[m->nlisteners - 1].tls &&
		    m->cfg.tls_cert[0] == '\0') {
			/* Refusing to start would take port 110 down with
			 * it; serve what can be served and say why. */
			log_err("socket activation: %s needs tls_cert and tls_key; not serving it",
			    m->listeners[m->nlisteners - 1].name);
			close(fd);
			m->nlisteners--;
		}
	}
	log_notice("socket activation: %u socket(s) from systemd; the listen and listen_tls keys are not used",
	    sl.n);
	return 1;
}

int
listeners_open(struct master *m)
{
	int r = listeners_adopt(m);

	if (r == -1)
		return -1;
	for (size_t i = 0; r == 0 && i < m->cfg.nlisten; i++)
		if (listen_one(m, &m->cfg.listen[i]) == -1)
			return -1;
	if (m->nlisteners == 0) {
		log_err("no listening socket could be opened");
		return -1;
	}
	return 0;
}

void
listeners_close(struct master *m)
{
	for (size_t i = 0; i < m->nlisteners; i++)
		close(m->listeners[i].fd);
	m->nlisteners = 0;
}
