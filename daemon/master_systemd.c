/*
 * master_systemd.c - the two systemd protocols the master speaks, without
 * linking libsystemd: socket activation (LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES; sd_listen_fds(3)) and service notification
 * (NOTIFY_SOCKET; sd_notify(3)). Both are small, stable, documented
 * interfaces; a library dependency for them would be a larger attack
 * surface in a root process than the few lines here.
 *
 * sd_listen_parse() is I/O-free so that the unit tests and a fuzz target
 * can call it with any environment.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "master_systemd.h"
#include "util.h"

/* systemd's fdname_is_valid(): printable ASCII, no ':', at most 255. */
static bool
fdname_ok(const char *s, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == ':')
			return false;
	return true;
}

static enum sd_fd_kind
kind_of(const char *name, size_t len)
{
	if (len == 4 && memcmp(name, "pop3", 4) == 0)
		return SD_FD_POP3;
	if (len == 5 && memcmp(name, "pop3s", 5) == 0)
		return SD_FD_POP3S;
	return SD_FD_UNNAMED;
}

int
sd_listen_parse(const char *pid, const char *fds, const char *names,
    long self, struct sd_listen *out, const char **why)
{
	uint64_t p, n;
	const char *s;
	size_t i;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	/* Not for us: no variables, or meant for another process (a
	 * parent that forgot to unset them). Not an error. */
	if (pid == NULL || fds == NULL)
		return 0;
	if (!parse_uint(pid, 1, INT32_MAX, &p)) {
		*why = "LISTEN_PID is not a process id";
		return -1;
	}
	if ((long)p != self)
		return 0;
	if (!parse_uint(fds, 0, SD_LISTEN_MAX, &n)) {
		*why = "LISTEN_FDS is not a number from 0 to 32";
		return -1;
	}
	out->n = (unsigned)n;
	for (i = 0; i < n; i++)
		out->kind[i] = SD_FD_UNNAMED;
	/* Names are advisory: a list of the wrong length or with a bad
	 * name is ignored as a whole, as sd_listen_fds_with_names() does. */
	if (names == NULL || n == 0)
		return (int)n;
	s = names;
	for (i = 0; ; i++) {
		const char *colon = strchr(s, ':');
		size_t len = colon ? (size_t)(colon - s) : strlen(s);

		if (i >= n || !fdname_ok(s, len))
			goto bad_names;
		out->kind[i] = kind_of(s, len);
		if (colon == NULL)
			break;
		s = colon + 1;
	}
	if (i + 1 != n)
		goto bad_names;
	out->named = true;
	return (int)n;
bad_names:
	for (i = 0; i < n; i++)
		out->kind[i] = SD_FD_UNNAMED;
	*why = "LISTEN_FDNAMES does not match LISTEN_FDS; names ignored";
	return (int)n;
}

/* NOTIFY_SOCKET: a path, or '@' for an abstract socket. */
static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

bool
sd_notify_init(const char *path)
{
	size_t len;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return false;
	len = strlen(path);
	if (len < 2 || len >= sizeof(notify_addr.sun_path))
		return false;
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '@' ? 0 : 1));
	if (notify_fd == -1)
		notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return notify_fd != -1;
}

void
sd_notify_send(const char *state)
{
	char buf[512];
	struct timespec ts;
	int n;

	if (notify_fd == -1)
		return;
	/* systemd >= 253 wants the time of a reload request with it. */
	if (strncmp(state, "RELOADING=1", 11) == 0 &&
	    clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		n = snprintf(buf, sizeof(buf), "%s\nMONOTONIC_USEC=%llu", state,
		    (unsigned long long)ts.tv_sec * 1000000ULL +
		    (unsigned long long)ts.tv_nsec / 1000);
	else
		n = snprintf(buf, sizeof(buf), "%s", state);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	/* Best effort, never blocking: a stuck service manager must not
	 * stall the master. */
	(void)sendto(notify_fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_len);
}
