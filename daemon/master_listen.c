/*
 * master_listen.c - listening sockets: from the configuration, or from
 * systemd socket activation (LISTEN_FDS) when present.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
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

int
listeners_open(struct master *m)
{
	for (size_t i = 0; i < m->cfg.nlisten; i++)
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
