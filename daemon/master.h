/*
 * master.h - state of postern, the root master: listeners, the auth
 * helper, and one entry per connection. The master never reads a byte
 * that a client sent; it only accepts, spawns, relays logs and reaps.
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "ipc.h"
#include "login_delay.h"
#include "util.h"

struct listener {
	int fd;
	bool tls;
	char name[80];
};

enum session_phase {
	SESSION_PREAUTH,	/* worker talking to the auth helper */
	SESSION_STORAGE,	/* authenticated; storage running */
	SESSION_CLOSING,	/* worker gone; waiting for the rest */
};

struct session {
	uint64_t id;
	enum session_phase phase;
	char rhost[64];
	char rkey[ADDR_KEY_MAX];		/* rhost, IPv6 as its /64 */
	uint16_t rport;
	char laddr[64];
	uint16_t lport;
	uint64_t started_ms;
	pid_t worker_pid;
	const char *worker_prog;	/* "postern-pop3" or "postern-pop3s" */
	struct ipc_conn worker;		/* master <-> worker */
	enum ipc_worker_start worker_start;	/* how the worker began */
	/* The connection's two sockets, as accepted: an STLS hand-over
	 * must return exactly these (fstat identity), nothing else. */
	struct sock_id { dev_t dev; ino_t ino; } client_id, auth_id;
	/* STLS: the plaintext worker handed the connection over (once) */
	bool stls_moved;
	int stls_client_fd;		/* received, waiting for the auth part */
	pid_t retired_pid;		/* that worker, killed, not yet reaped */
	pid_t store_pid;
	struct ipc_conn store;		/* master <-> storage (logs only) */
	bool deadline_killed;		/* pre-auth backstop fired */
	bool end_logged;		/* its "session end" line is written */
	bool store_ready;		/* storage opened the maildrop */
	bool worker_eof;		/* the worker closed its channel */
	char end_cause[80];		/* why, if the master ended it */
	char *user;			/* set when authenticated */
	bool tls;			/* the worker reported a TLS handshake */
	uid_t uid;
	struct session *next;
};

/* The connection limits, each logged at most once per interval. */
enum master_limit {
	LIMIT_TOTAL,
	LIMIT_PER_ADDR,
	LIMIT_PREAUTH_PER_ADDR,
	LIMIT_SESSIONS_PER_USER,	/* one (RFC 1939): [IN-USE] */
};

/* A frame waiting for room in the auth helper's channel (auth_send). */
struct auth_out {
	struct auth_out *next;
	struct ipc_buf b;	/* its descriptor, if any, is ours to close */
	uint64_t session;	/* an ATTACH: its session; else 0 */
};

struct master {
	struct config cfg;
	char *config_path;
	char *config_text;		/* what children receive */
	uid_t unpriv_uid;		/* cfg.unpriv_user, for the workers */
	gid_t unpriv_gid;
	bool foreground;
	struct listener listeners[MASTER_MAX_LISTEN];
	size_t nlisteners;
	pid_t auth_pid;
	struct ipc_conn auth;
	struct auth_out *auth_out;	/* FIFO, oldest first */
	struct auth_out **auth_out_tail;
	size_t auth_out_len;
	uint64_t auth_restarts_at;	/* don't restart in a tight loop */
	struct session *sessions;
	unsigned nsessions;
	uint64_t next_id;
	uint64_t last_limit_log[LIMIT_SESSIONS_PER_USER + 1];	/* per enum master_limit */
	struct login_delay login_delay;	/* last logins, for login_delay */
};

/* master_spawn.c */
struct spawn_fd {
	int from;	/* descriptor in the master */
	int to;		/* fixed number in the child */
};
struct spawn_ids {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
};
/*
 * fork + exec path with argv, the given descriptors at fixed numbers, fd
 * 0-2 on /dev/null, every other descriptor closed, an empty environment,
 * default signal handling, and (if ids is not NULL) the privilege drop
 * done before exec. Returns the pid or -1.
 */
pid_t spawn_child(const char *path, const char *arg0,
    const struct spawn_fd *fds, size_t nfds, const struct spawn_ids *ids);

/* master_listen.c */
int listeners_open(struct master *);
void listeners_close(struct master *);
/* Numeric address of a peer, with v4-mapped IPv6 shown as IPv4. */
void sockaddr_host(const void *sa, socklen_t len, char *host, size_t hostsz,
    uint16_t *port);

/* master_session.c */
/* Whether to log that limit was reached now: at most once per
 * MASTER_LIMIT_LOG_MS, so that a flood does not flood the log. */
bool limit_log_due(struct master *, enum master_limit);
void session_accept(struct master *, struct listener *);
void session_worker_input(struct master *, struct session *);
/* Read what the worker has already sent (without waiting); false if
 * that ended the session (s is freed). */
bool session_worker_drain(struct master *, struct session *);
void session_store_input(struct master *, struct session *);
void session_reaped(struct master *, pid_t, int status);
void session_check_deadlines(struct master *);
/* The master exits: end what is left, each with its session-end line. */
void sessions_abandon(struct master *);
struct session *session_by_id(struct master *, uint64_t);
/* Kill what is left of a session; true if that freed it (no process
 * of it was left to reap). */
bool session_end(struct master *, struct session *);
/* Record why the master is ending s, for the "session end" line it
 * writes when the worker did not report; the first cause stays. */
void session_set_cause(struct session *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* master_auth.c */
void auth_start(struct master *);
void auth_input(struct master *);
void auth_detach(struct master *, uint64_t id);
/* Send b to the auth helper now, or queue it (in order) until the channel
 * has room; takes b and closes its descriptor once sent or dropped.
 * session: the session an ATTACH hands over (0 for other frames). */
void auth_send(struct master *, struct ipc_buf *, uint64_t session);
/* Send what is queued, as far as the channel takes it (POLLOUT). */
void auth_flush(struct master *);
/* Close the auth helper's channel and drop what was queued for it. */
void auth_channel_close(struct master *);

/* Send the effective configuration to a freshly started child. */
bool master_send_config(struct master *, int fd);

#endif
