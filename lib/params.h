/*
 * params.h - every limit and timeout in one place, each with its reason.
 * Configurable values have their defaults here; the config table refers to
 * these names so that the documentation and the code cannot drift apart.
 */
#ifndef POSTERN_PARAMS_H
#define POSTERN_PARAMS_H

/* RFC 2449 section 4: a command line is at most 255 octets including CRLF. */
#define POP3_MAX_CMD_LINE	255
/* RFC 2449 section 4: each argument is at most 40 octets. */
#define POP3_MAX_ARG		40
/* RFC 5034 section 4: SASL responses may be longer; 4 KiB covers PLAIN with
 * a 1 KiB password and its base64 expansion, with room to spare. */
#define POP3_MAX_SASL_LINE	4096
/* RFC 1939 section 3: the autologout timer must be at least 10 minutes. */
#define POP3_IDLE_TIMEOUT_DEFAULT	600
#define POP3_IDLE_TIMEOUT_MIN		600
/* RFC 2449 section 6.5 LOGIN-DELAY (login_delay, seconds; 0: off). The
 * master remembers each user's last login in a fixed table: a slot is
 * found by uid among LOGIN_DELAY_PROBE neighbours; when all of them are
 * still within their delay, the oldest is forgotten (that user may log
 * in early: memory stays bounded whatever the number of users). */
#define LOGIN_DELAY_MAX			86400
#define LOGIN_DELAY_SLOTS		16384
#define LOGIN_DELAY_PROBE		8
/* Time from accept to successful authentication (slowloris defence). */
#define POP3_PREAUTH_TIMEOUT_DEFAULT	60
/* Commands a client may pipeline before we stop reading until it reads
 * our answers: bounds the output buffer a client can make us hold. */
#define POP3_MAX_OUTPUT_BUFFER	(256 * 1024)

/* User names: longer names than this are not real accounts (useradd caps
 * at 32; we allow UTF-8 per RFC 6856 and leave room). */
#define AUTH_MAX_USER		128
/* Passwords: PAM modules rarely accept more than 512 bytes. */
#define AUTH_MAX_PASS		1024
/* Uniform delay before any authentication failure is reported (ms). */
#define AUTH_FAIL_DELAY_DEFAULT_MS	2000
/* Attempts per connection before the worker closes it. */
#define AUTH_MAX_ATTEMPTS_DEFAULT	3
/* A PAM conversation that takes longer than this is killed: a hung NSS
 * or network PAM module must not pin an attempt forever. */
#define AUTH_PAM_TIMEOUT_S	30

/* IPC: the largest payload of one frame. Big enough for 128 KiB data
 * chunks from storage, small enough that a hostile peer cannot make us
 * allocate much. */
#define IPC_MAX_PAYLOAD		(256 * 1024)
/* How long a child may take to answer a request before the session ends.
 * postern-store's OPEN and COMMIT get more (see
 * config_store_locked_reply_ms): they may first wait lock_timeout for a
 * lock an MDA holds (OPEN twice: first for a session finishing a large
 * expunge), and this much is the margin for their I/O. */
#define IPC_REPLY_TIMEOUT_MS	(120 * 1000)

/* Storage: the chunk of transformed message data sent per frame. */
#define STORE_DATA_CHUNK	(128 * 1024)
/* RETR_AHEAD requests the worker sends at a time (pop3_trans.c). */
#define RETR_AHEAD_DEPTH	4
/* The largest message storage reads ahead (as RETR sends it); larger
 * ones are read when the client asks. */
#define RETR_AHEAD_MAX		(512 * 1024)
/* Storage keeps a read-ahead over one frame this long without a request
 * before it gives the memory back. */
#define STORE_AHEAD_IDLE_MS	1000
/* Debian Policy 11.6 does not give a number; MDAs wait minutes. We wait
 * long enough for a large delivery to finish, then report [SYS/TEMP]
 * (RFC 3206's "a central resource which is currently locked"; [IN-USE]
 * is RFC 2449's code for another POP3 session holding the maildrop). The
 * maximum stays under the 10 minutes after which a dot-lock counts as
 * stale anyway (MBOX_DOTLOCK_STALE_S). */
#define STORE_LOCK_TIMEOUT_DEFAULT	30
#define STORE_LOCK_TIMEOUT_MAX		600
/* An expunge that rewrites at least this much is answered at its commit
 * point (the intent journal is durable) and finished after the answer,
 * still under the locks: a client waiting on QUIT while half a GB is
 * copied and synced twice may time out and believe nothing was deleted.
 * Smaller ones take milliseconds and are answered once the mailbox is
 * rewritten, so that a reader that ignores the locks sees it done. */
#define STORE_COMMIT_ACK_MIN	(8 * 1024 * 1024)

/* Auth throttling per client address (auth_throttle_max is the cap, ms).
 * The first AUTH_THROTTLE_FREE failures cost only the uniform delay (a
 * user mistyping); each further one doubles the extra wait, starting at
 * AUTH_THROTTLE_BASE_MS. One failure is forgiven per AUTH_THROTTLE_DECAY_MS
 * without failures. The table is bounded (least recently failed address
 * evicted); AUTH_THROTTLE_HASHES remembers recent wrong (user, password)
 * pairs per address as keyed hashes so that a client retrying the same
 * stale password is not punished for each retry. */
#define AUTH_THROTTLE_MAX_DEFAULT_MS	30000
#define AUTH_THROTTLE_FREE		3
#define AUTH_THROTTLE_BASE_MS		1000
#define AUTH_THROTTLE_DECAY_MS		60000
#define AUTH_THROTTLE_SLOTS		4096
#define AUTH_THROTTLE_HASHES		8

/* Master: default connection limits. */
#define MASTER_MAX_CONNECTIONS_DEFAULT	1000
#define MASTER_MAX_PER_ADDR_DEFAULT	50
/* Unauthenticated connections per address: enough for a NAT'ed office
 * whose clients poll at the same minute, too few for a slowloris. */
#define MASTER_MAX_PREAUTH_PER_ADDR_DEFAULT	10
/* A limit reached is logged at most this often: a flood of refused
 * connections must not become a flood of log lines. */
#define MASTER_LIMIT_LOG_MS		(10 * 1000)

/* Sandbox rlimits. The worker holds fds 0-2 (/dev/null), 3 (master),
 * 4 (client), 5 (auth) and receives exactly one more, the storage
 * channel, after authentication: RLIMIT_NOFILE 7 leaves no room for
 * anything else. Its address space is capped far above what it uses
 * (3 MiB of mappings measured during a 2 MB RETR; OpenSSL adds about 10;
 * IPC frames are at most 256 KiB) so that a memory exhaustion bug cannot
 * push the host into swap. Sanitizer builds have no cap (ASan reserves
 * terabytes of shadow memory). */
#define POP3_SANDBOX_NOFILE		7
#define POP3_SANDBOX_AS			(256UL * 1024 * 1024)
/* Storage opens the mailbox, its lock files, journal and index. */
#define STORE_SANDBOX_NOFILE		64
#define MASTER_MAX_LISTEN		32
/* How long the master waits for the child that checks the TLS files. */
#define MASTER_TLS_CHECK_TIMEOUT_MS	60000
/* SIGTERM: how long open sessions may go on, then how long storage may
 * take to finish a commit. Their sum stays under systemd's default
 * TimeoutStopSec (90 s), so the unit's final SIGKILL is never needed. */
#define MASTER_STOP_GRACE_MS		(30 * 1000)
#define MASTER_STOP_STORE_GRACE_MS	(30 * 1000)
/* Frames the master holds for an auth helper that is not reading: an
 * ATTACH per waiting connection (a closed connection's is withdrawn) plus
 * DETACHes. Beyond this the helper is taken as stuck and restarted. */
#define MASTER_AUTH_QUEUE_MAX		8192

/* TLS: a handshake must finish within this time (and within what is
 * left of preauth_timeout): a client that stalls mid-handshake holds a
 * worker for no useful purpose. */
#define POP3_TLS_HANDSHAKE_TIMEOUT_MS	(30 * 1000)
/* TLS defaults (the tls_ciphers and tls_ciphersuites keys). Only AEAD
 * suites with forward secrecy; AES-128-GCM first because it is the
 * fastest with AES-NI, ChaCha20 preferred for clients that put it first
 * (SSL_OP_PRIORITIZE_CHACHA: they lack AES hardware). Mozilla's
 * "intermediate" profile without DHE (slow, and every client that
 * speaks TLS 1.2 also speaks ECDHE). */
#define TLS_CIPHERS_DEFAULT \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_CIPHERSUITES_DEFAULT \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"

#endif
