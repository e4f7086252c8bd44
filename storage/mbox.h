/*
 * mbox.h - the mailbox engine of postern-store: scanning, the UIDL index,
 * Debian Policy locking, retrieval and crash-safe expunge of one
 * traditional Unix mbox. It does file I/O only; no IPC, no protocol text.
 *
 * Message numbers are 1-based and count only visible messages (the
 * folder-internal pseudo message written by UW/Pine/Dovecot is hidden).
 * Numbers never change during a session: a deleted message keeps its
 * number and answers MBOX_ERR_DELETED.
 */
#ifndef POSTERN_MBOX_H
#define POSTERN_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mbox_format {
	MBOX_FMT_MBOXO = 0,	/* unquote one '>' from lines ">From " */
	MBOX_FMT_MBOXRD = 1,	/* unquote one '>' from lines ">+From " */
};

enum mbox_err {
	MBOX_OK = 0,
	MBOX_ERR_NOMSG = -1,	/* no such message number */
	MBOX_ERR_DELETED = -2,	/* message is marked deleted */
	MBOX_ERR_INUSE = -3,	/* another session holds the mailbox */
	MBOX_ERR_TEMP = -4,	/* lock timeout, I/O error, ENOSPC, changed
				 * underneath us: mailbox left as it was */
	MBOX_ERR_PERM = -5,	/* unsafe mailbox (symlink, wrong owner, links) */
	MBOX_ERR_SINK = -6,	/* the output callback failed */
};

struct mbox_config {
	const char *path;		/* the mbox file */
	const char *index_dir;		/* per-user index directory, or NULL */
	enum mbox_format format;
	unsigned lock_timeout;		/* seconds, for fcntl and dot-lock each;
					 * 0: a single attempt */
	uid_t uid;			/* the owner the mailbox must have */
	/* A commit that rewrites at least this many bytes is acknowledged
	 * (mbox_commit_ack's callback) as soon as its intent is durable,
	 * before the rewrite; 0: only once the rewrite is done. */
	uint64_t commit_ack_min;
	/* log(prio, message): syslog priorities; may be NULL */
	void (*log)(int prio, const char *msg);
};

struct mbox;

/*
 * Take the session lock, lock the mailbox (fcntl, then dot-lock), recover
 * an interrupted expunge if one is found, scan (or validate the index and
 * scan only what was appended), unlock. A missing mailbox is an empty
 * maildrop. On error *out is NULL.
 */
int mbox_open(const struct mbox_config *, struct mbox **out);

/* Visible messages, including those marked deleted. */
uint32_t mbox_count(const struct mbox *);
/* Messages and octets not marked deleted. */
void mbox_stat(const struct mbox *, uint32_t *msgs, uint64_t *octets);
/* Octets of message msgno as RETR sends it (CRLF line ends, '>From '
 * unquoted per format, before dot-stuffing) and its UIDL (valid until
 * mbox_close or a successful mbox_commit). Either pointer may be NULL. */
int mbox_info(const struct mbox *, uint32_t msgno, uint64_t *size,
    const char **uidl);

/*
 * Stream message msgno (body_lines < 0: whole message; otherwise the
 * header, the blank line and at most body_lines body lines: TOP) through
 * sink as RETR sends it: CRLF line ends, dot-stuffed, ending with CRLF,
 * without the terminating ".\r\n". Never holds the whole message in
 * memory. A message marked deleted is MBOX_ERR_DELETED.
 *
 * The sink gets chunks of at most STORE_DATA_CHUNK bytes; buf is valid
 * only during the call. last is true for exactly one call, the final
 * chunk (possibly empty), made only once the whole message was read and
 * found to be what LIST said: a sink that never saw last must not treat
 * what it got as complete. A nonzero return stops the transfer
 * (MBOX_ERR_SINK).
 */
typedef int (*mbox_sink)(void *ctx, const void *buf, size_t len, bool last);
int mbox_retr(struct mbox *, uint32_t msgno, int64_t body_lines,
    mbox_sink sink, void *ctx);

int mbox_dele(struct mbox *, uint32_t msgno);
void mbox_rset(struct mbox *);

/*
 * Expunge the messages marked deleted, keeping everything else including
 * mail delivered during the session; crash-safe, fsync'd before it
 * returns MBOX_OK. On any error the mailbox is as it was (or, after an
 * I/O error in the middle of the rewrite, is completed from the journal
 * at the next mbox_open). After MBOX_OK the table describes the expunged
 * mailbox: the survivors are renumbered from 1.
 */
int mbox_commit(struct mbox *, uint32_t *deleted);

/*
 * mbox_commit, and committed(ctx, deleted) is called (with the locks held)
 * at the commit point when the rewrite is large (cfg.commit_ack_min):
 * from then on the expunge is durable and is completed by this call or,
 * if it fails or is killed, by the next mbox_open. The caller can answer
 * its client then instead of after the rewrite. If committed was called,
 * an error returned afterwards only means the rest was left to the next
 * open; if it was not, the return value is mbox_commit's.
 */
typedef void (*mbox_committed_fn)(void *ctx, uint32_t deleted);
int mbox_commit_ack(struct mbox *, uint32_t *deleted,
    mbox_committed_fn committed, void *ctx);

/* Release the session lock and free everything (no expunge). */
void mbox_close(struct mbox *);

/*
 * Diagnostics for logs and tests (added by the engine; not needed to
 * serve mail). The UIDL returned by mbox_info stays valid until
 * mbox_close.
 */
enum mbox_index_use {
	MBOX_INDEX_NONE = 0,	/* no usable index: full scan */
	MBOX_INDEX_WARM = 1,	/* index valid, nothing scanned */
	MBOX_INDEX_APPEND = 2,	/* index valid, appended mail scanned */
	MBOX_INDEX_REBUILT = 3,	/* index stale or corrupt: full scan */
};

struct mbox_stats {
	uint64_t bytes_scanned;	/* mailbox bytes parsed by open/commit */
	uint64_t mailbox_size;	/* size when opened */
	enum mbox_index_use index_use;
	bool recovered;		/* an interrupted expunge was completed */
	bool have_session_lock;	/* false if no place for one was found */
	uint32_t uidls_changed;	/* rebuild only: old UIDLs not found again */
};

void mbox_get_stats(const struct mbox *, struct mbox_stats *);

#endif
