/*
 * mbox_int.h - internals shared by the files of the mailbox engine
 * (mbox*.c). Nothing outside storage/mbox*.c and the unit tests should
 * include this; the rest of postern-store uses mbox.h.
 */
#ifndef POSTERN_MBOX_INT_H
#define POSTERN_MBOX_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mbox.h"
#include "mbox_hash.h"
#include "mbox_scan.h"

/* One message of the mailbox table; also the index record (56 bytes on
 * disk, little-endian, see mbox_index.c). */
struct mbox_msg {
	uint64_t from_off;	/* the From_ line */
	uint64_t data_off;	/* the content starts after the From_ line */
	uint64_t end_off;	/* content end (separator's blank excluded) */
	uint64_t size;		/* octets as served */
	uint8_t digest[MBOX_DIGEST_LEN];
	uint32_t suffix;	/* UIDL "-N" suffix, 1 = none */
	uint32_t flags;
};
#define MSG_PSEUDO		0x1u	/* folder-internal data, hidden */
#define MSG_STORED_FLAGS	MSG_PSEUDO
#define MSG_DELETED		0x100u	/* DELE'd; never stored */

/*
 * Beyond this many messages a mailbox is served in parts: the scan stops
 * at a message boundary and the rest counts as not yet scanned (it is
 * kept by expunge like mail that arrives during the session, and shows
 * up once the client has deleted enough). Bounds memory at ~56 MB.
 */
#define MBOX_MAX_MSGS		1000000u

/* A UIDL: 32 hex digits, "-", up to 10 digits, NUL. */
#define MBOX_UIDL_MAX		44

/* Stale dot-lock rule: older than this (by the file server's clock) it
 * is broken even if its pid cannot be checked. procmail waits 1024 s,
 * Postfix 500 s; a writer that holds a mailbox locked longer is stuck. */
#define MBOX_DOTLOCK_STALE_S	600

/* I/O chunk for copying during expunge and recovery. */
#define MBOX_IO_CHUNK		(1024 * 1024)

/* Journal: header block, then the payload. */
#define MBOX_JOURNAL_HDR	4096

struct mbox {
	struct mbox_config cfg;	/* its strings point at path, idxdir */
	char *path, *idxdir;
	char *dir, *base;	/* directory and file name of the mailbox */
	int fd;			/* mailbox, O_RDWR, or -1 if missing */
	int dirfd;		/* mailbox directory, or -1 */
	int idxfd;		/* index directory if usable, else -1 */
	int idx_rofd;		/* the index directory when it is ours but
				 * not writable: only to look for a journal */
	int sessfd;		/* session lock, or -1 */
	dev_t dev;
	ino_t ino;

	struct mbox_msg *msgs;
	uint32_t nmsgs, cap;
	uint32_t first_visible;	/* 1 if msgs[0] is the pseudo message */
	uint64_t scanned_end;	/* the table describes [0, scanned_end) */
	char *uidls;		/* built on first use, MBOX_UIDL_MAX each */
	uint8_t *xform_bufs;	/* RETR's buffers (mbox_xform_opts.bufs),
				 * allocated on first use */

	/* locks */
	bool fcntl_held;
	int fcntl_setlk;	/* F_OFD_SETLK, or F_SETLK if unsupported */
	bool dotlock_held;
	dev_t dotlock_dev;
	ino_t dotlock_ino;
	bool dotlock_warned;

	/* the index to write once the mailbox is unlocked */
	bool idx_dirty;
	bool idx_distrust;	/* the file did not match the table: every
				 * index this session writes forces a rescan */
	uint8_t idx_validation[MBOX_HASH_LEN];
	int64_t idx_mtime_sec;
	uint32_t idx_mtime_nsec;

	struct mbox_stats stats;
};

/* mbox.c */
void mbox_log(const struct mbox *, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mbox_table_add(struct mbox *, const struct mbox_msg *);
void mbox_uidls_reset(struct mbox *);
int mbox_check_file(struct mbox *, const struct stat *);

/* mbox_io.c: full reads/writes retrying EINTR; the writes, syncs and
 * renames are the fault-injection points of the crash test. */
ssize_t mbox_pread_full(int fd, void *, size_t, uint64_t off);
int mbox_pwrite_full(int fd, const void *, size_t, uint64_t off);
int mbox_copy_range(int in, uint64_t in_off, int out, uint64_t out_off,
    uint64_t len);
int mbox_fsync(int fd);
int mbox_ftruncate(int fd, uint64_t len);
int mbox_fallocate(int fd, uint64_t len);
int mbox_renameat(int dfd, const char *from, const char *to);
int mbox_unlinkat(int dfd, const char *name);
size_t mbox_io_chunk(void);
void mbox_msleep(unsigned ms);
int mbox_hash_range(int fd, uint64_t off, uint64_t len,
    uint8_t out[MBOX_HASH_LEN]);
uint64_t mbox_sum64(uint64_t h, const void *, size_t);
int mbox_sum_range(int fd, uint64_t off, uint64_t len, uint64_t *out);
void mbox_prefault(void *, size_t);
/* Is there "From " at off, at the start of a line? */
bool mbox_from_at(int fd, uint64_t off);

/* mbox_lock.c */
int mbox_lock(struct mbox *);		/* fcntl, then dot-lock */
void mbox_unlock(struct mbox *);
int mbox_session_lock(struct mbox *);
/* Mark the session lock as held by a session whose client has been
 * answered and that only finishes an expunge. */
#define MBOX_SESSION_FINISHING	"finishing expunge\n"
void mbox_session_finishing(struct mbox *);

/* mbox_uidl.c */
void mbox_uidl_assign(struct mbox_msg *, uint32_t n, uint32_t first_new,
    const struct mbox_msg *old, uint32_t nold, uint32_t old_from);
bool mbox_uidl_unique(const struct mbox_msg *, uint32_t);
uint32_t mbox_uidl_kept(const struct mbox_msg *, uint32_t,
    const struct mbox_msg *old, uint32_t nold);
void mbox_uidl_format(const struct mbox_msg *, char out[MBOX_UIDL_MAX]);

/* mbox_expunge.c */
int mbox_recover(struct mbox *);

/* mbox_index.c (see mbox_index.h for the parser) */
int mbox_validation_hash(int fd, const struct mbox_msg *, uint32_t n,
    uint64_t size, uint8_t out[MBOX_HASH_LEN]);
void mbox_index_load_and_check(struct mbox *, const struct stat *,
    struct mbox_msg **old, uint32_t *nold, int *verdict);
void mbox_index_write(struct mbox *);
void mbox_index_prepare(struct mbox *);
void mbox_index_distrust(struct mbox *);	/* then mbox_index_write */

/* Index verdicts */
enum {
	MBOX_IDXV_NONE,		/* no usable index */
	MBOX_IDXV_STALE,	/* parsed, but describes another state */
	MBOX_IDXV_SAME,		/* the mailbox is unchanged */
	MBOX_IDXV_GROWN,	/* old part intact, mail was appended */
};

/* mbox_fault.c: test builds only. MBOX_FAULT() is 0, or -1 with errno
 * set when the test makes this point fail (the caller fails as if the
 * system call had); it may also never return (SIGKILL). */
#ifdef MBOX_FAULT_INJECTION
int mbox_fault_point(void);
#define MBOX_FAULT()	mbox_fault_point()
#else
#define MBOX_FAULT()	0
#endif

#endif
