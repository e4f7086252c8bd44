/*
 * ipc_msgs.h - one decoder per IPC message type (lib/ipc.h documents the
 * fields). The receivers (master, worker, auth helper, storage) call these
 * instead of writing getter sequences inline, so the fuzz target
 * fuzz/fuzz-ipc.c exercises exactly the code that runs in production.
 *
 * Every decoder is pure (no I/O; allocation only for strings), consumes
 * the payload exactly (ipc_get_end), enforces the per-field limits below,
 * and on failure frees whatever it allocated and returns false. On
 * success the caller owns the strings (char *) it got; byte fields
 * (const uint8_t *) point into the frame and live as long as it does.
 * Descriptors are not the decoders' business: receivers check m->fd.
 */
#ifndef POSTERN_IPC_MSGS_H
#define POSTERN_IPC_MSGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

/* Field limits, shared by senders' expectations and the decoders. */
#define IPC_MAX_LOG_TEXT	2048		/* IPC_LOG text */
#define IPC_MAX_CONFIG_TEXT	(1024 * 1024)	/* IPC_CONFIG */
#define IPC_MAX_ADDR		63		/* numeric address strings */
#define IPC_MAX_STATUS_TEXT	512		/* WORKER_SESSION, STORE_ERROR */
#define IPC_MAX_STATS_REASON	64		/* WORKER_STATS */
#define IPC_MAX_HOME		1024		/* AUTH_GRANTED home */
#define IPC_MAX_MECH		16		/* AUTH_GRANTED mechanism */
#define IPC_MAX_KILL_REASON	256		/* AUTH_KILL */
#define IPC_MAX_STORE_USER	256		/* STORE_INIT user */
#define IPC_MAX_PATH		4096		/* STORE_INIT paths */
#define IPC_MAX_UIDL		70		/* RFC 1939: 1-70 octets 0x21-0x7e */

/* IPC_LOG: the text may hold any byte but NUL-free use is the reader's
 * choice (see ipc_dec_log_str). prio is a syslog priority <= LOG_DEBUG. */
struct ipc_log {
	uint8_t prio;
	const uint8_t *text;
	size_t len;
};
bool ipc_dec_log(struct ipc_msg *, struct ipc_log *);
/* IPC_LOG with the text as a NUL-free string (the auth helper's lines,
 * which it escaped itself). */
bool ipc_dec_log_str(struct ipc_msg *, uint8_t *prio, char **text);

/* IPC_CONFIG */
bool ipc_dec_config(struct ipc_msg *, char **text);

/* IPC_WORKER_INIT */
struct ipc_worker_init {
	uint64_t session;
	char *rhost;
	uint16_t rport;
	char *laddr;
	uint16_t lport;
	uint8_t start;			/* enum ipc_worker_start */
	uint32_t preauth_used_ms;
	uint32_t unpriv_uid;		/* the account to confine itself as */
	uint32_t unpriv_gid;
};
bool ipc_dec_worker_init(struct ipc_msg *, struct ipc_worker_init *);

/* IPC_WORKER_STLS: which descriptor (enum ipc_stls_part) the frame carries */
bool ipc_dec_worker_stls(struct ipc_msg *, uint8_t *part);
void ipc_worker_init_free(struct ipc_worker_init *);

/* IPC_WORKER_TLS: str protocol version, str cipher (for the logs); each
 * 1 or more printable ASCII octets without spaces, as OpenSSL names them. */
#define IPC_MAX_TLS_VERSION	32
#define IPC_MAX_TLS_CIPHER	128
bool ipc_dec_worker_tls(struct ipc_msg *, char **version, char **cipher);

/* IPC_WORKER_SESSION and IPC_STORE_ERROR: u8 status, str text */
bool ipc_dec_status(struct ipc_msg *, uint8_t *status, char **text);

/* IPC_WORKER_STATS */
struct ipc_worker_stats {
	uint32_t retrieved, deleted;
	uint64_t octets;
	const uint8_t *reason;
	size_t reason_len;
};
bool ipc_dec_worker_stats(struct ipc_msg *, struct ipc_worker_stats *);

/* IPC_AUTH_ATTACH: u64 session, str client address */
bool ipc_dec_auth_attach(struct ipc_msg *, uint64_t *session, char **rhost);

/* IPC_AUTH_DETACH, and any other message that is one u64 */
bool ipc_dec_u64(struct ipc_msg *, uint64_t *);

/* IPC_AUTH_GRANTED; uid 0 or gid 0 is rejected (never grant root). */
struct ipc_auth_granted {
	uint64_t session;
	char *user;
	uint32_t uid, gid;
	char *home;
	char *mech;
	uint8_t tls;
};
bool ipc_dec_auth_granted(struct ipc_msg *, struct ipc_auth_granted *);
void ipc_auth_granted_free(struct ipc_auth_granted *);

/* IPC_AUTH_KILL */
bool ipc_dec_auth_kill(struct ipc_msg *, uint64_t *session, char **why);

/*
 * IPC_AUTH_REQUEST; mech must be a known enum ipc_auth_mech. The
 * password is a secret: ipc_auth_request_free wipes it.
 */
struct ipc_auth_request {
	uint8_t mech, tls;
	char *authzid, *user, *pass;
};
bool ipc_dec_auth_request(struct ipc_msg *, struct ipc_auth_request *);
void ipc_auth_request_free(struct ipc_auth_request *);

/* IPC_AUTH_RESULT, and any other message that is one u8 */
bool ipc_dec_u8(struct ipc_msg *, uint8_t *);

/* Messages without fields: STORE_OPEN, STORE_STAT, STORE_RSET,
 * STORE_COMMIT. */
bool ipc_dec_empty(struct ipc_msg *);

/* STORE_LIST, STORE_UIDL, STORE_DELE: u32 message number */
bool ipc_dec_u32(struct ipc_msg *, uint32_t *);

/* STORE_RETR: u32 message number, u32 body lines */
bool ipc_dec_store_retr(struct ipc_msg *, uint32_t *msgno, uint32_t *lines);

/* STORE_OPENED and STORE_STATUS: u32 messages, u64 octets */
bool ipc_dec_store_count(struct ipc_msg *, uint32_t *msgs, uint64_t *octets);

/*
 * STORE_LISTING and STORE_UIDLS, read incrementally so that the worker
 * can stream a long listing: the head, then count entries, then
 * ipc_get_end(). A UIDL must be 1-70 printable octets (RFC 1939 7).
 */
struct ipc_listing_entry {
	uint32_t msgno;
	uint64_t size;			/* LISTING */
	const uint8_t *uidl;		/* UIDLS */
	size_t uidl_len;
};
bool ipc_dec_listing_head(struct ipc_msg *, uint8_t *more, uint32_t *count);
bool ipc_dec_listing_entry(struct ipc_msg *, bool uidl, struct ipc_listing_entry *);

/* STORE_DATA: u8 last, then the bytes to the end of the frame */
bool ipc_dec_store_data(struct ipc_msg *, uint8_t *last, const uint8_t **data,
    size_t *len);

/* STORE_INIT */
struct ipc_store_init {
	uint64_t session;
	char *user;
	uint32_t uid;
	char *mailbox;
	char *index_dir;
};
bool ipc_dec_store_init(struct ipc_msg *, struct ipc_store_init *);
void ipc_store_init_free(struct ipc_store_init *);

/*
 * Decode m as message type `type` with the decoder its receiver uses and
 * free the result; true if it was well formed. For the fuzz target and
 * the unit tests; -1 if no decoder is known for the type.
 */
int ipc_msgs_check(struct ipc_msg *, uint16_t type);

#endif
