/*
 * mbox.c - the mailbox engine's entry points: open (file safety checks,
 * locks, recovery, index or scan), the per-session message table
 * (STAT/LIST/UIDL/DELE/RSET) and close. Expunge is in mbox_expunge.c,
 * retrieval in mbox_retr.c.
 *
 * mbox_open holds the MDA locks only while it recovers and scans; the
 * table it builds then stays fixed for the session (mail delivered
 * meanwhile appears at the next login and survives our expunge).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "mbox_int.h"
#include "mbox_scan.h"
#include "util.h"

void
mbox_log(const struct mbox *m, int prio, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (m->cfg.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	m->cfg.log(prio, buf);
}

int
mbox_table_add(struct mbox *m, const struct mbox_msg *msg)
{
	if (m->nmsgs == m->cap) {
		m->cap = m->cap == 0 ? 1024 : m->cap * 2;
		m->msgs = xreallocarray(m->msgs, m->cap, sizeof(*m->msgs));
	}
	m->msgs[m->nmsgs++] = *msg;
	return 0;
}

void
mbox_uidls_reset(struct mbox *m)
{
	free(m->uidls);
	m->uidls = NULL;
}

/* SECURITY-RULES 14, with the Debian exception that mailboxes are
 * group "mail" writable (user:mail 0660): group-writable is accepted. */
int
mbox_check_file(struct mbox *m, const struct stat *st)
{
	const char *why = NULL;

	if (!S_ISREG(st->st_mode))
		why = "not a regular file";
	else if (st->st_uid != m->cfg.uid)
		why = "not owned by the user";
	else if (st->st_nlink != 1)
		why = "has more than one link";
	else if (st->st_mode & S_IWOTH)
		why = "world-writable";
	if (why == NULL)
		return MBOX_OK;
	mbox_log(m, LOG_ERR, "%s: refusing unsafe mailbox: %s", m->path, why);
	return MBOX_ERR_PERM;
}

static int
open_mailbox(struct mbox *m)
{
	struct stat st;
	int r;

	if (m->dirfd < 0)
		return MBOX_OK;		/* no directory, no mailbox */
	m->fd = openat(m->dirfd, m->base, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (m->fd < 0) {
		switch (errno) {
		case ENOENT:
			return MBOX_OK;	/* empty maildrop */
		case ELOOP:
			mbox_log(m, LOG_ERR, "%s: refusing unsafe mailbox: "
			    "symbolic link", m->path);
			return MBOX_ERR_PERM;
		case EACCES:
		case EPERM:
		case EISDIR:
		case ENXIO:
			mbox_log(m, LOG_ERR, "%s: %s", m->path,
			    strerror(errno));
			return MBOX_ERR_PERM;
		default:
			/* EROFS too: not an unsafe mailbox; a file system
			 * remounted read-only (after errors, for maintenance)
			 * comes back, so the client should retry. */
			mbox_log(m, LOG_ERR, "%s: %s", m->path,
			    strerror(errno));
			return MBOX_ERR_TEMP;
		}
	}
	if (fstat(m->fd, &st) != 0) {
		mbox_log(m, LOG_ERR, "%s: %s", m->path, strerror(errno));
		return MBOX_ERR_TEMP;
	}
	if ((r = mbox_check_file(m, &st)) != MBOX_OK)
		return r;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	return MBOX_OK;
}

/* The index directory: created if missing, ours, not world-writable. */
static void
open_index_dir(struct mbox *m)
{
	struct stat st;
	int fd;

	if (m->idxdir == NULL || m->idxdir[0] == '\0')
		return;
	fd = open(m->idxdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && mkdir(m->idxdir, 0700) == 0)
		fd = open(m->idxdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		mbox_log(m, LOG_WARNING, "index directory %s: %s; working "
		    "without an index", m->idxdir, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || st.st_uid != m->cfg.uid ||
	    (st.st_mode & S_IWOTH)) {
		mbox_log(m, LOG_WARNING, "index directory %s is not the "
		    "user's own; working without an index", m->idxdir);
		close(fd);
		return;
	}
	if (faccessat(fd, ".", W_OK, AT_EACCESS) != 0) {
		/* Read-only (or immutable): no index, but recovery must
		 * still see a journal an earlier session left there. */
		mbox_log(m, LOG_WARNING, "index directory %s not writable "
		    "(%s); working without an index", m->idxdir,
		    strerror(errno));
		m->idx_rofd = fd;
		return;
	}
	m->idxfd = fd;
}

struct scan_reader {
	int fd;
	uint64_t off, end;
};

static ssize_t
scan_read(void *ctx, void *buf, size_t len)
{
	struct scan_reader *sr = ctx;
	ssize_t n;

	if (sr->off >= sr->end)
		return 0;
	if (len > sr->end - sr->off)
		len = (size_t)(sr->end - sr->off);
	n = mbox_pread_full(sr->fd, buf, len, sr->off);
	if (n < 0)
		return -1;
	sr->off += (uint64_t)n;
	return n;
}

#define SCAN_STOP	2	/* message cap reached */

static int
scan_add(void *ctx, const struct mbox_scan_msg *sm)
{
	struct mbox *m = ctx;
	struct mbox_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.from_off = sm->from_off;
	msg.data_off = sm->data_off;
	msg.end_off = sm->end_off;
	msg.size = sm->size;
	memcpy(msg.digest, sm->digest, MBOX_DIGEST_LEN);
	msg.suffix = 1;
	msg.flags = sm->pseudo ? MSG_PSEUDO : 0;
	mbox_table_add(m, &msg);
	m->scanned_end = sm->region_end;
	return m->nmsgs >= MBOX_MAX_MSGS ? SCAN_STOP : 0;
}

/* Scan [from, size) and append to the table. */
static int
scan_from(struct mbox *m, uint64_t from, uint64_t size)
{
	struct mbox_scan_opts o;
	struct mbox_scan_result res;
	struct scan_reader sr;
	uint64_t want;
	int r;

	/* Room for one message per KiB up front: growing by doubling copies
	 * the table (and touches fresh pages) several times over. */
	want = m->nmsgs + (size - from) / 1024 + 64;
	if (want > MBOX_MAX_MSGS)
		want = MBOX_MAX_MSGS;
	if (want > m->cap) {
		m->msgs = xreallocarray(m->msgs, (size_t)want,
		    sizeof(*m->msgs));
		m->cap = (uint32_t)want;
	}

	memset(&o, 0, sizeof(o));
	o.format = m->cfg.format;
	o.start_off = from;
	o.pseudo_check = m->nmsgs == 0;
	sr.fd = m->fd;
	sr.off = from;
	sr.end = size;
	r = mbox_scan(&o, scan_read, &sr, scan_add, m, &res);
	m->stats.bytes_scanned += res.bytes;
	if (r < 0) {
		mbox_log(m, LOG_ERR, "%s: read: %s", m->path, strerror(errno));
		return MBOX_ERR_TEMP;
	}
	if (r == SCAN_STOP) {
		mbox_log(m, LOG_NOTICE, "%s: more than %u messages; serving "
		    "the first %u", m->path, MBOX_MAX_MSGS, MBOX_MAX_MSGS);
		return MBOX_OK;
	}
	m->scanned_end = res.end_off;
	return MBOX_OK;
}

/* Under the locks: build the table from the index, a scan, or both. */
static int
load_table(struct mbox *m)
{
	struct mbox_msg *old, last;
	uint32_t nold, keep, vis_old = 0, i;
	struct stat st;
	int verdict, r;

	memset(&last, 0, sizeof(last));
	if (fstat(m->fd, &st) != 0)
		return MBOX_ERR_TEMP;
	m->stats.mailbox_size = (uint64_t)st.st_size;
	mbox_index_load_and_check(m, &st, &old, &nold, &verdict);
	if (verdict == MBOX_IDXV_SAME) {
		m->msgs = old;
		m->nmsgs = m->cap = nold;
		m->stats.index_use = MBOX_INDEX_WARM;
		return MBOX_OK;
	}
	if (verdict == MBOX_IDXV_GROWN) {
		/* Rescan from the last known message: it may have been
		 * completed by the append (a message without final LF). */
		keep = nold > 0 ? nold - 1 : 0;
		if (nold > 0)
			last = old[nold - 1];
		m->msgs = old;
		m->nmsgs = keep;
		m->cap = nold;
		r = scan_from(m, nold > 0 ? last.from_off : 0,
		    (uint64_t)st.st_size);
		if (r == MBOX_OK)
			mbox_uidl_assign(m->msgs, m->nmsgs, keep, &last,
			    nold > 0 ? 1 : 0, 0);
		m->stats.index_use = MBOX_INDEX_APPEND;
	} else {
		m->scanned_end = 0;
		r = scan_from(m, 0, (uint64_t)st.st_size);
		if (r == MBOX_OK)
			mbox_uidl_assign(m->msgs, m->nmsgs, 0, old, nold, 0);
		m->stats.index_use = verdict == MBOX_IDXV_STALE ?
		    MBOX_INDEX_REBUILT : MBOX_INDEX_NONE;
		if (r == MBOX_OK && verdict == MBOX_IDXV_STALE) {
			for (i = 0; i < nold; i++)
				vis_old += !(old[i].flags & MSG_PSEUDO);
			m->stats.uidls_changed = vis_old -
			    mbox_uidl_kept(m->msgs, m->nmsgs, old, nold);
			/* The event that makes clients download everything
			 * again; worth a warning unless most mail is gone. */
			if (vis_old >= 2 &&
			    m->stats.uidls_changed * 2 > vis_old &&
			    (uint64_t)m->nmsgs * 2 >= vis_old)
				mbox_log(m, LOG_WARNING, "%s: %u of %u UIDLs "
				    "changed since the last session (mailbox "
				    "rewritten by another program?)", m->path,
				    m->stats.uidls_changed, vis_old);
		}
		free(old);
	}
	if (r == MBOX_OK)
		mbox_index_prepare(m);
	return r;
}

int
mbox_open(const struct mbox_config *cfg, struct mbox **out)
{
	struct mbox *m;
	char *slash;
	int r;

	*out = NULL;
	if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0')
		return MBOX_ERR_PERM;
	m = xcalloc(1, sizeof(*m));
	m->cfg = *cfg;
	m->path = xstrdup(cfg->path);
	m->cfg.path = m->path;
	m->idxdir = cfg->index_dir != NULL ? xstrdup(cfg->index_dir) : NULL;
	m->cfg.index_dir = m->idxdir;
	m->fd = m->dirfd = m->idxfd = m->idx_rofd = m->sessfd = -1;
	m->fcntl_setlk = F_OFD_SETLK;
	slash = strrchr(m->path, '/');
	if (slash == NULL) {
		m->dir = xstrdup(".");
		m->base = xstrdup(m->path);
	} else {
		m->dir = slash == m->path ? xstrdup("/") :
		    xstrndup(m->path, (size_t)(slash - m->path));
		m->base = xstrdup(slash + 1);
	}
	if (m->base[0] == '\0' || strcmp(m->base, ".") == 0 ||
	    strcmp(m->base, "..") == 0) {
		mbox_log(m, LOG_ERR, "%s: not a mailbox file name", m->path);
		r = MBOX_ERR_PERM;
		goto fail;
	}
	m->dirfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0 && errno != ENOENT) {
		mbox_log(m, LOG_ERR, "%s: %s", m->dir, strerror(errno));
		r = errno == EACCES ? MBOX_ERR_PERM : MBOX_ERR_TEMP;
		goto fail;
	}
	open_index_dir(m);
	if ((r = mbox_session_lock(m)) != MBOX_OK)
		goto fail;
	if ((r = open_mailbox(m)) != MBOX_OK)
		goto fail;
	if (m->fd >= 0) {
		if ((r = mbox_lock(m)) != MBOX_OK)
			goto fail;
		r = mbox_recover(m);
		if (r == MBOX_OK)
			r = load_table(m);
		mbox_unlock(m);
		if (r != MBOX_OK)
			goto fail;
	} else {
		(void)mbox_recover(m);	/* only reports a stray journal */
	}
	m->first_visible = m->nmsgs > 0 && (m->msgs[0].flags & MSG_PSEUDO);
	mbox_index_write(m);
	*out = m;
	return MBOX_OK;
fail:
	mbox_close(m);
	return r;
}

uint32_t
mbox_count(const struct mbox *m)
{
	return m->nmsgs - m->first_visible;
}

void
mbox_stat(const struct mbox *m, uint32_t *msgs, uint64_t *octets)
{
	uint32_t i, n = 0;
	uint64_t o = 0;

	for (i = m->first_visible; i < m->nmsgs; i++) {
		if (m->msgs[i].flags & MSG_DELETED)
			continue;
		n++;
		o += m->msgs[i].size;
	}
	*msgs = n;
	*octets = o;
}

int
mbox_info(const struct mbox *cm, uint32_t msgno, uint64_t *size,
    const char **uidl)
{
	struct mbox *m = (struct mbox *)cm;	/* UIDLs are built lazily */
	const struct mbox_msg *msg;
	uint32_t i;

	if (msgno == 0 || msgno > mbox_count(m))
		return MBOX_ERR_NOMSG;
	i = msgno - 1 + m->first_visible;
	msg = &m->msgs[i];
	if (msg->flags & MSG_DELETED)
		return MBOX_ERR_DELETED;
	if (size != NULL)
		*size = msg->size;
	if (uidl != NULL) {
		if (m->uidls == NULL) {
			uint32_t k;

			m->uidls = xreallocarray(NULL, m->nmsgs, MBOX_UIDL_MAX);
			for (k = 0; k < m->nmsgs; k++)
				mbox_uidl_format(&m->msgs[k],
				    m->uidls + (size_t)k * MBOX_UIDL_MAX);
		}
		*uidl = m->uidls + (size_t)i * MBOX_UIDL_MAX;
	}
	return MBOX_OK;
}

int
mbox_dele(struct mbox *m, uint32_t msgno)
{
	struct mbox_msg *msg;

	if (msgno == 0 || msgno > mbox_count(m))
		return MBOX_ERR_NOMSG;
	msg = &m->msgs[msgno - 1 + m->first_visible];
	if (msg->flags & MSG_DELETED)
		return MBOX_ERR_DELETED;
	msg->flags |= MSG_DELETED;
	return MBOX_OK;
}

void
mbox_rset(struct mbox *m)
{
	uint32_t i;

	for (i = 0; i < m->nmsgs; i++)
		m->msgs[i].flags &= ~MSG_DELETED;
}

void
mbox_get_stats(const struct mbox *m, struct mbox_stats *st)
{
	*st = m->stats;
}

void
mbox_close(struct mbox *m)
{
	if (m == NULL)
		return;
	mbox_unlock(m);
	if (m->fd >= 0)
		close(m->fd);
	if (m->sessfd >= 0)
		close(m->sessfd);	/* releases the session lock */
	if (m->idxfd >= 0)
		close(m->idxfd);
	if (m->idx_rofd >= 0)
		close(m->idx_rofd);
	if (m->dirfd >= 0)
		close(m->dirfd);
	free(m->msgs);
	free(m->uidls);
	free(m->xform_bufs);
	free(m->path);
	free(m->idxdir);
	free(m->dir);
	free(m->base);
	free(m);
}
