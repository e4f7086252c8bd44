/*
 * ipc.h - every message that crosses a process boundary in postern.
 *
 * Wire format of one frame (host byte order; both ends are on one host):
 *
 *	u32 payload length   (<= IPC_MAX_PAYLOAD)
 *	u16 type             (enum ipc_type)
 *	u8  version          (IPC_VERSION; anything else is fatal)
 *	u8  flags            (IPC_F_FD: one descriptor travels with the frame)
 *	payload
 *
 * Payload fields are written with ipc_put_*() and read with ipc_get_*(),
 * which check bounds; ipc_get_end() insists that the reader consumed the
 * payload exactly. A peer that sends anything unexpected ends its session.
 * Requests have even numbers, their replies the next odd number.
 */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "params.h"

#define IPC_VERSION	1
#define IPC_HDR_SIZE	8
#define IPC_F_FD	0x01
#define IPC_MAX_FDS	4	/* descriptors queued on one connection */

/* Fixed descriptor numbers in every child (fd 0-2 are /dev/null). */
#define FD_MASTER	3	/* every child: channel to the master */
#define FD_CLIENT	4	/* worker: the client's TCP socket */
#define FD_AUTH		5	/* worker: channel to the auth helper */
#define FD_WORKER	4	/* storage: channel to the worker */

enum ipc_type {
	/* any child -> master: u8 priority, str text */
	IPC_LOG = 1,
	/* master -> any child, first message: str effective configuration
	 * (the same "key = value" text that "postern -n" prints) */
	IPC_CONFIG = 2,

	/* master -> worker: u64 session, str client address, u16 client
	 * port, str local address, u16 local port, u8 start (enum
	 * ipc_worker_start), u32 milliseconds of the pre-authentication
	 * time already used (by the worker that handed over at STLS) */
	IPC_WORKER_INIT = 4,
	/* worker -> master after a successful TLS handshake (implicit or
	 * STLS): str protocol version, str cipher; for the logs only */
	IPC_WORKER_TLS = 6,
	/* master -> worker after a successful authentication: u8 status
	 * (enum ipc_status), str text; with IPC_F_FD the storage channel */
	IPC_WORKER_SESSION = 7,
	/* worker -> master at the end: u32 retrieved, u32 deleted,
	 * u64 octets sent, str reason */
	IPC_WORKER_STATS = 8,

	/* master -> auth: u64 session, str client address; with IPC_F_FD the
	 * auth channel of that session's worker */
	IPC_AUTH_ATTACH = 10,
	/* master -> auth: u64 session (the worker is gone) */
	IPC_AUTH_DETACH = 12,
	/* worker -> master, twice, after "+OK Begin TLS negotiation": u8 part
	 * (enum ipc_stls_part) with IPC_F_FD, first the client socket, then
	 * the worker's auth channel; a TLS worker continues the session */
	IPC_WORKER_STLS = 14,
	/* auth -> master: u64 session, str user, u32 uid, u32 gid, str home,
	 * str mechanism, u8 tls */
	IPC_AUTH_GRANTED = 13,
	/* auth -> master: u64 session, str reason; the worker misbehaved */
	IPC_AUTH_KILL = 15,

	/* worker -> auth: u8 mechanism (enum ipc_auth_mech), u8 tls,
	 * str authorization identity, str user, str password */
	IPC_AUTH_REQUEST = 20,
	/* auth -> worker: u8 result (enum ipc_auth_result) */
	IPC_AUTH_RESULT = 21,

	/* worker -> storage: (nothing). Reply IPC_STORE_OPENED:
	 * u32 messages, u64 octets; or IPC_STORE_ERROR. */
	IPC_STORE_OPEN = 30,
	IPC_STORE_OPENED = 31,
	/* worker -> storage: u32 message number, 0 for all. Reply: one or more
	 * IPC_STORE_LISTING: u8 more, u32 count, count x (u32 msgno, u64 size) */
	IPC_STORE_LIST = 32,
	IPC_STORE_LISTING = 33,
	/* worker -> storage: u32 message number, 0 for all. Reply: one or more
	 * IPC_STORE_UIDLS: u8 more, u32 count, count x (u32 msgno, str uidl) */
	IPC_STORE_UIDL = 34,
	IPC_STORE_UIDLS = 35,
	/* worker -> storage: u32 message number, u32 body lines (UINT32_MAX
	 * for the whole message). Reply: IPC_STORE_OK (u64 octets, the size
	 * LIST reports) followed by IPC_STORE_DATA frames (u8 last, then the
	 * bytes to the end of the frame: CRLF, dot-stuffed, without the final
	 * ".\r\n"; the frame with last = 1 may carry none), or one
	 * IPC_STORE_ERROR. */
	IPC_STORE_RETR = 36,
	IPC_STORE_DATA = 37,
	/* worker -> storage: u32 message number. Reply IPC_STORE_OK (u64 0)
	 * or IPC_STORE_ERROR. */
	IPC_STORE_DELE = 38,
	IPC_STORE_OK = 39,
	/* worker -> storage: (nothing). Reply IPC_STORE_OK (u64 0). */
	IPC_STORE_RSET = 40,
	/* worker -> storage: (nothing). Reply IPC_STORE_STATUS:
	 * u32 messages, u64 octets (not counting deleted ones) */
	IPC_STORE_STAT = 42,
	IPC_STORE_STATUS = 43,
	/* worker -> storage: (nothing): expunge and end. Reply IPC_STORE_OK
	 * (u64 messages deleted) or IPC_STORE_ERROR. */
	IPC_STORE_COMMIT = 44,
	/* storage -> worker: u8 code (enum ipc_status), str text */
	IPC_STORE_ERROR = 45,
	/* master -> storage, after IPC_CONFIG: u64 session, str user,
	 * u32 uid, str mailbox path, str index directory ("" for none) */
	IPC_STORE_INIT = 46,
	/* storage -> master: (nothing): the maildrop is open, the login is
	 * complete (LOGIN-DELAY counts from here); once per session */
	IPC_STORE_READY = 48,
	/* worker -> storage: u32 message number: the RETR the worker expects
	 * next, asked for while its client still reads the previous one.
	 * Reply: as for IPC_STORE_RETR of the whole message, read and checked
	 * before its first frame is sent; or one IPC_STORE_ERROR if the
	 * message is not to be had that way (over RETR_AHEAD_MAX, deleted,
	 * changed...): the worker then asks with IPC_STORE_RETR if its client
	 * does. Sent up to RETR_AHEAD_DEPTH at a time, for consecutive
	 * messages; once one is refused, storage refuses the rest of the
	 * batch (the requests up to the next frame of another type) without
	 * reading them. */
	IPC_STORE_RETR_AHEAD = 49,

#ifdef POSTERN_TEST_HOOKS
	/* test-only: master -> worker: u32 attack number */
	IPC_TEST_ATTACK = 100,
#endif
};

enum ipc_status {
	IPC_ST_OK = 0,
	IPC_ST_NO_SUCH_MSG = 1,		/* -ERR no such message */
	IPC_ST_DELETED = 2,		/* -ERR message already deleted */
	IPC_ST_IN_USE = 3,		/* -ERR [IN-USE] */
	IPC_ST_SYS_TEMP = 4,		/* -ERR [SYS/TEMP] */
	IPC_ST_SYS_PERM = 5,		/* -ERR [SYS/PERM] */
	IPC_ST_LOGIN_DELAY = 6,		/* -ERR [LOGIN-DELAY] */
};

/* How a worker begins its session (IPC_WORKER_INIT). */
enum ipc_worker_start {
	IPC_START_PLAIN = 0,		/* greeting in plaintext; STLS may follow */
	IPC_START_IMPLICIT_TLS = 1,	/* handshake, then the greeting (995) */
	IPC_START_STLS = 2,		/* handshake only: the plaintext worker
					 * already answered STLS */
};

/* The descriptors of an IPC_WORKER_STLS hand-over, in this order. */
enum ipc_stls_part {
	IPC_STLS_CLIENT = 0,
	IPC_STLS_AUTH = 1,
};

enum ipc_auth_mech {
	IPC_MECH_USER = 1,	/* USER/PASS */
	IPC_MECH_PLAIN = 2,	/* SASL PLAIN */
	IPC_MECH_LOGIN = 3,	/* SASL LOGIN */
};

enum ipc_auth_result {
	IPC_AUTH_OK = 0,
	IPC_AUTH_FAIL = 1,
	IPC_AUTH_TEMPFAIL = 2,
	IPC_AUTH_TOO_MANY = 3,	/* attempts exhausted: close the connection */
};

const char *ipc_type_name(unsigned type);
const char *ipc_mech_name(unsigned mech);

/* ---- building a frame ---- */
struct ipc_buf {
	uint8_t *data;
	size_t len, cap;
	int fd;			/* descriptor to pass, or -1 */
};

void ipc_begin(struct ipc_buf *, uint16_t type);
void ipc_put_u8(struct ipc_buf *, uint8_t);
void ipc_put_u16(struct ipc_buf *, uint16_t);
void ipc_put_u32(struct ipc_buf *, uint32_t);
void ipc_put_u64(struct ipc_buf *, uint64_t);
void ipc_put_bytes(struct ipc_buf *, const void *, size_t);	/* u32 len + bytes */
void ipc_put_str(struct ipc_buf *, const char *);
void ipc_put_fd(struct ipc_buf *, int fd);
/* Reserve n raw bytes at the end and return them (for data chunks). */
uint8_t *ipc_put_raw(struct ipc_buf *, size_t n);
/* Bytes of payload so far. */
size_t ipc_payload_len(const struct ipc_buf *);
/* Send on a blocking socket; 0 or -1 with errno. Frees nothing. */
int ipc_send(int sock, struct ipc_buf *);
/*
 * Send one frame of this type (no descriptor) whose payload is the n
 * pieces of iov (n <= IPC_SEND_IOV_MAX), on a blocking socket, without
 * copying them into a buffer: for RETR data. If pre is not NULL, that
 * frame (built with ipc_begin, no descriptor) goes first, in the same
 * system call. 0 or -1 with errno.
 */
#define IPC_SEND_IOV_MAX	4
struct iovec;
int ipc_send_iov(int sock, struct ipc_buf *pre, uint16_t type,
    const struct iovec *iov, int n);
/* Send the n frames (none with a descriptor; n <= IPC_SEND_BATCH_MAX)
 * in one system call where the socket takes them, on a blocking socket.
 * 0 or -1 with errno. Frees nothing. */
#define IPC_SEND_BATCH_MAX	8
int ipc_send_batch(int sock, struct ipc_buf *frames, int n);
/* Send without blocking; -1 with EAGAIN if the peer's buffer is full. */
int ipc_send_nb(int sock, struct ipc_buf *);
/* Wipes the buffer (it may have carried a password) and frees it. */
void ipc_buf_free(struct ipc_buf *);

/* ---- reading a frame ---- */
struct ipc_msg {
	uint16_t type;
	uint8_t flags;
	uint32_t len;
	const uint8_t *data;	/* payload, valid until the next read */
	size_t pos;
	int fd;			/* received descriptor, or -1 */
	bool bad;		/* a getter failed */
};

/*
 * Parse a frame header. Pure: the fuzz targets and unit tests call it.
 * Returns 1 and fills type/flags/len when hdr holds a valid header,
 * 0 when more bytes are needed, -1 when the header is invalid (bad
 * version, unknown flags, oversized payload).
 */
int ipc_parse_header(const uint8_t *hdr, size_t avail, uint16_t *type,
    uint8_t *flags, uint32_t *len);

bool ipc_get_u8(struct ipc_msg *, uint8_t *);
bool ipc_get_u16(struct ipc_msg *, uint16_t *);
bool ipc_get_u32(struct ipc_msg *, uint32_t *);
bool ipc_get_u64(struct ipc_msg *, uint64_t *);
/* A pointer into the payload and its length; at most max bytes. */
bool ipc_get_bytes(struct ipc_msg *, const uint8_t **, size_t *, size_t max);
/* A newly allocated NUL-terminated copy; embedded NULs are rejected. */
bool ipc_get_str(struct ipc_msg *, char **, size_t max);
/* Everything consumed and no getter failed? */
bool ipc_get_end(struct ipc_msg *);

/*
 * A connection with an input buffer, for readers that multiplex many
 * peers (master, auth helper) and for blocking readers alike.
 */
struct ipc_conn {
	int fd;
	uint8_t *in;
	size_t inpos, inlen, incap;	/* unread bytes are in[inpos..inlen) */
	int fds[IPC_MAX_FDS];
	size_t nfds;
	bool eof;
};

void ipc_conn_init(struct ipc_conn *, int fd);
/* Close the socket and any queued descriptors, free the buffer. */
void ipc_conn_close(struct ipc_conn *);
/* Free the input buffer if nothing unread is in it (wiped first); the
 * next read allocates a new one. For a channel about to sit idle. */
void ipc_conn_release(struct ipc_conn *);
/*
 * Read what is available (one recvmsg). Returns >0 bytes read, 0 on EOF,
 * -1 on error (errno; EAGAIN for a non-blocking socket with no data).
 */
ssize_t ipc_conn_fill(struct ipc_conn *);
/*
 * Take the next complete frame out of the buffer. Returns 1 with *m
 * filled (valid until the next call), 0 if no complete frame is
 * buffered, -1 if the buffered data is not a valid frame (protocol error).
 * A descriptor received for the frame is owned by the caller.
 */
int ipc_conn_next(struct ipc_conn *, struct ipc_msg *);
/*
 * Blocking: wait up to timeout_ms (-1: forever) for one frame. Returns 1,
 * 0 on EOF or timeout (errno ETIMEDOUT for timeout), -1 on error.
 */
int ipc_conn_recv(struct ipc_conn *, struct ipc_msg *, int timeout_ms);

#endif
