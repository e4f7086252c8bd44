/*
 * master_systemd.h - socket activation and readiness notification, the
 * systemd way, without libsystemd. See master_systemd.c.
 */
#ifndef POSTERN_MASTER_SYSTEMD_H
#define POSTERN_MASTER_SYSTEMD_H

#include <stdbool.h>

#include "params.h"

/* The first passed descriptor (SD_LISTEN_FDS_START in sd-daemon.h). */
#define SD_LISTEN_FDS_START	3
/* At most as many as the master can listen on. */
#define SD_LISTEN_MAX		MASTER_MAX_LISTEN

enum sd_fd_kind {
	SD_FD_UNNAMED,	/* no usable name: decided by the configuration */
	SD_FD_POP3,	/* FileDescriptorName=pop3: plain, STLS */
	SD_FD_POP3S,	/* FileDescriptorName=pop3s: implicit TLS */
};

struct sd_listen {
	unsigned n;			/* descriptors 3 .. 3+n-1 */
	bool named;			/* LISTEN_FDNAMES was usable */
	enum sd_fd_kind kind[SD_LISTEN_MAX];
};

/*
 * Parse the values of LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (each may
 * be NULL) for process self. Returns the number of descriptors passed
 * (0 when the variables are absent or meant for another process), or -1
 * if they are malformed; *why explains -1 and also notes ignored names.
 */
int sd_listen_parse(const char *pid, const char *fds, const char *names,
    long self, struct sd_listen *out, const char **why);

/* Open the notification socket named by NOTIFY_SOCKET's value; false if
 * there is none or it is unusable (then sd_notify_send does nothing). */
bool sd_notify_init(const char *notify_socket);
/* Send "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..." lines. */
void sd_notify_send(const char *state);

#endif
