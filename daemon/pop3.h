/*
 * pop3.h - the state of one POP3 session inside postern-pop3, shared by
 * the AUTHORIZATION (pop3_auth.c) and TRANSACTION (pop3_trans.c) handlers.
 */
#ifndef POSTERN_POP3_H
#define POSTERN_POP3_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "ipc.h"
#include "pop3_io.h"
#include "pop3_parse.h"

enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
	POP3_DONE,		/* QUIT handled or fatal error: close */
};

struct pop3_session {
	enum pop3_state state;
	struct config cfg;
	struct client client;
	struct ipc_conn master;		/* FD_MASTER */
	struct ipc_conn auth;		/* FD_AUTH */
	struct ipc_conn store;		/* received after authentication */
	uint64_t id;
	char rhost[64];
	uint16_t rport;
	char laddr[64];
	uint16_t lport;
	bool tls;			/* the connection is encrypted now */
	uint8_t start;			/* enum ipc_worker_start */
	uint32_t preauth_used_ms;	/* by the worker before STLS */
	uid_t unpriv_uid;		/* from WORKER_INIT: whom to run as */
	gid_t unpriv_gid;
	bool moved;			/* handed to a TLS worker at STLS */
	bool loopback;			/* the client is on 127/8 or ::1 */
	char *user;			/* pending USER argument */
	uint64_t preauth_deadline;	/* now_ms() by which to be logged in */
	unsigned auth_attempts;
	/* EXPIRE 0: a bitmap of the message numbers RETR sent in full */
	uint8_t *retrieved_set;
	size_t retrieved_set_len;	/* bytes */
	uint32_t nmsgs;			/* message numbers run 1..nmsgs */
	/* RETR_AHEAD asked for messages ahead .. ahead + ahead_n - 1,
	 * their answers not read yet (ahead_n 0: none). */
	uint32_t ahead, ahead_n;
	/* The message of the last command, if it was RETR; else 0. */
	uint32_t last_retr;
	/* counters for the session-end log line */
	uint32_t retrieved, deleted;
	uint64_t octets;
	const char *end_reason;
};

/* pop3_auth.c: commands in the AUTHORIZATION state. */
void pop3_auth_submit(struct pop3_session *, enum ipc_auth_mech,
    const char *authzid, const char *user, const char *pass);
void pop3_auth_command(struct pop3_session *, struct pop3_cmd *);
/* Is plaintext authentication allowed on this connection now? */
bool pop3_plaintext_allowed(const struct pop3_session *);
/* The -ERR [AUTH] answer when it is not (RFC 2595 section 2.3). */
void pop3_refuse_plaintext(struct pop3_session *);

/* pop3_sasl.c: the AUTH command (RFC 5034). */
void pop3_sasl_auth(struct pop3_session *, struct pop3_cmd *);

/* pop3_trans.c: commands in the TRANSACTION state. */
void pop3_trans_command(struct pop3_session *, struct pop3_cmd *);
/* Ask storage to open the maildrop; answers the client. */
/* Take an unread RETR_AHEAD answer off the storage channel (before any
 * other request; the test hooks' attacks too). */
void pop3_trans_drain_ahead(struct pop3_session *);
bool pop3_trans_begin(struct pop3_session *);

/* pop3_main.c: CAPA is valid in both states. */
void pop3_capa(struct pop3_session *);
/* End the session after a protocol violation by a peer process. */
void pop3_peer_failed(struct pop3_session *, const char *peer,
    const char *why) __attribute__((noreturn));

#ifdef POSTERN_TEST_HOOKS
/* pop3_hooks.c (test builds only): handle a hook command; true if the
 * line was one. */
bool pop3_hook_command(struct pop3_session *, const char *line, size_t len);
#endif

#endif
