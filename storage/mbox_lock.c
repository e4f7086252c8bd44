/*
 * mbox_lock.c - the three locks of the mailbox engine.
 *
 * 1. fcntl: a write lock on the whole mailbox (F_OFD_SETLK, which is not
 *    dropped when some other descriptor of the file is closed, falling
 *    back to F_SETLK). Taken first, as Debian Policy 11.6 orders it.
 *    Both locks are only ever tried, never waited for while holding the
 *    other (the policy's "non blocking way"): if the dot-lock is busy,
 *    the fcntl lock is released before the next try, so an MDA that takes
 *    the dot-lock first and then waits in fcntl (procmail does) can
 *    finish instead of deadlocking with us until lock_timeout.
 * 2. dot-lock "<mbox>.lock": a unique temporary file in the mailbox
 *    directory holding our pid, link()ed to the lock name; success is
 *    the temporary file's link count reaching 2 (link()'s own return is
 *    unreliable over NFS). Nothing is ever opened through a symlink.
 *    Stale rule: a lock is broken if it holds the pid of a process that
 *    no longer exists on this host (kill(pid, 0) fails with ESRCH), or
 *    if it is older than MBOX_DOTLOCK_STALE_S (10 minutes) by the file
 *    server's clock (our temporary file's mtime), whatever it holds.
 *    If the directory is not writable, we log once and rely on fcntl.
 * 3. session lock: flock() on a file of our own, so a second POP3
 *    session of the same user gets MBOX_ERR_INUSE. It lives in the index
 *    directory ("<name>.session") or, without one, next to the mailbox
 *    (".<name>.postern-session"); MDAs never look at it.
 *
 * The first two are held only while scanning or committing, never for a
 * whole session, so mail can be delivered while a client is connected.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "mbox_int.h"
#include "util.h"

/* Retry delays: short at first (a delivery usually takes milliseconds),
 * growing to a few polls per second. */
#define LOCK_POLL_MIN_MS	10
#define LOCK_POLL_MAX_MS	200
/* fcntl_try/dotlock_try: someone else holds the lock right now. */
#define LOCK_BUSY		1

static unsigned
lock_wait(uint64_t deadline, unsigned *backoff)
{
	uint64_t now = now_ms();
	unsigned ms = *backoff;

	if (now >= deadline)
		return 0;
	if (ms > deadline - now)
		ms = (unsigned)(deadline - now);
	mbox_msleep(ms);
	if (*backoff < LOCK_POLL_MAX_MS)
		*backoff *= 2;
	return 1;
}

/* One attempt: MBOX_OK (held, or no fcntl locks here), LOCK_BUSY, or
 * an error. */
static int
fcntl_try(struct mbox *m)
{
	struct flock fl;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(m->fd, m->fcntl_setlk, &fl) == 0) {
			m->fcntl_held = true;
			return MBOX_OK;
		}
		if (errno == EINTR)
			continue;
		if (errno == EINVAL && m->fcntl_setlk != F_SETLK) {
			m->fcntl_setlk = F_SETLK; /* kernel without OFD */
			continue;
		}
		if (errno == ENOLCK) {
			mbox_log(m, LOG_WARNING, "%s: no fcntl locks on this "
			    "filesystem; relying on the dot-lock", m->path);
			return MBOX_OK;
		}
		if (errno != EACCES && errno != EAGAIN) {
			mbox_log(m, LOG_ERR, "%s: fcntl lock: %s", m->path,
			    strerror(errno));
			return MBOX_ERR_TEMP;
		}
		return LOCK_BUSY;
	}
}

static void
fcntl_unlock(struct mbox *m)
{
	struct flock fl;

	if (!m->fcntl_held)
		return;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	(void)fcntl(m->fd, m->fcntl_setlk, &fl);
	m->fcntl_held = false;
}

static int
lock_name(const struct mbox *m, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s.lock", m->base);

	return n > 0 && (size_t)n < outsz && (size_t)n <= NAME_MAX ? 0 : -1;
}

/* The pid a dot-lock holds, or 0 if it holds none we can read. */
static long
dotlock_pid(int dirfd, const char *name)
{
	char buf[32];
	uint64_t v;
	ssize_t n;
	size_t i;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "%d\n" as liblockfile and procmail write it; surrounding blanks
	 * tolerated, anything else means we do not know. */
	for (i = 0; buf[i] == ' '; i++)
		;
	n = (ssize_t)i;
	while (buf[i] >= '0' && buf[i] <= '9')
		i++;
	if (buf[i] != '\0' && buf[i] != '\n' && buf[i] != ' ')
		return 0;
	buf[i] = '\0';
	if (!parse_uint(buf + n, 1, INT_MAX, &v))
		return 0;
	return (long)v;
}

/*
 * Someone holds the dot-lock. If it is stale, remove it (only the very
 * file we judged) and return true so the caller retries at once.
 */
static bool
dotlock_break_stale(struct mbox *m, int tfd, const char *name)
{
	struct stat ls, again, now;
	long pid = 0;
	bool dead;
	time_t age;

	if (fstatat(m->dirfd, name, &ls, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT;		/* just released */
	if (S_ISREG(ls.st_mode))
		pid = dotlock_pid(m->dirfd, name);
	/* "Now" as the file server sees it, so clock skew between an NFS
	 * client and server cannot make a fresh lock look old. */
	if (futimens(tfd, NULL) != 0 || fstat(tfd, &now) != 0)
		return false;
	age = now.st_mtime - ls.st_mtime;
	dead = pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
	if (!dead && age <= MBOX_DOTLOCK_STALE_S)
		return false;
	if (fstatat(m->dirfd, name, &again, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT;
	if (again.st_dev != ls.st_dev || again.st_ino != ls.st_ino ||
	    again.st_mtime != ls.st_mtime)
		return true;			/* a new lock: look again */
	if (unlinkat(m->dirfd, name, 0) != 0 && errno != ENOENT) {
		mbox_log(m, LOG_WARNING, "%s/%s: cannot remove stale lock: %s",
		    m->dir, name, strerror(errno));
		return false;
	}
	if (dead)
		mbox_log(m, LOG_NOTICE, "%s/%s: removed stale lock of dead "
		    "process %ld", m->dir, name, pid);
	else
		mbox_log(m, LOG_NOTICE, "%s/%s: removed stale lock, %lds old",
		    m->dir, name, (long)age);
	return true;
}

/* One attempt (a stale lock broken on the way does not count): MBOX_OK
 * (held, or dot-locking impossible here), LOCK_BUSY, or an error. */
static int
dotlock_try(struct mbox *m)
{
	char name[NAME_MAX + 16], tmp[80], pidbuf[24];
	uint64_t rnd = 0;
	struct stat st;
	int tfd, r = MBOX_ERR_TEMP, n;

	if (m->dirfd < 0)
		return MBOX_OK;
	if (lock_name(m, name, sizeof(name)) < 0) {
		mbox_log(m, LOG_WARNING, "%s: name too long for a dot-lock",
		    m->path);
		return MBOX_OK;
	}
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd ^= now_ms();
	snprintf(tmp, sizeof(tmp), ".postern-lk.%ld.%016llx", (long)getpid(),
	    (unsigned long long)rnd);
	tfd = openat(m->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (tfd < 0) {
		if (errno == EACCES || errno == EPERM || errno == EROFS) {
			if (!m->dotlock_warned)
				mbox_log(m, LOG_NOTICE, "%s: directory not "
				    "writable, no dot-lock (fcntl only)",
				    m->dir);
			m->dotlock_warned = true;
			return MBOX_OK;
		}
		mbox_log(m, LOG_ERR, "%s: dot-lock temporary file: %s",
		    m->dir, strerror(errno));
		return MBOX_ERR_TEMP;
	}
	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (write_all(tfd, pidbuf, (size_t)n) < 0) {
		mbox_log(m, LOG_ERR, "%s: dot-lock temporary file: %s",
		    m->dir, strerror(errno));
		goto out;
	}
	for (;;) {
		int lerr = 0;

		if (linkat(m->dirfd, tmp, m->dirfd, name, 0) != 0)
			lerr = errno;
		if (fstat(tfd, &st) != 0)
			goto out;
		if (st.st_nlink == 2) {
			m->dotlock_held = true;
			m->dotlock_dev = st.st_dev;
			m->dotlock_ino = st.st_ino;
			r = MBOX_OK;
			break;
		}
		if (lerr != 0 && lerr != EEXIST && lerr != EINTR) {
			/* No hard links here (some FUSE filesystems). */
			mbox_log(m, LOG_WARNING, "%s: cannot dot-lock: %s "
			    "(fcntl only)", m->path, strerror(lerr));
			r = MBOX_OK;
			break;
		}
		if (dotlock_break_stale(m, tfd, name))
			continue;
		r = LOCK_BUSY;
		break;
	}
out:
	close(tfd);
	(void)unlinkat(m->dirfd, tmp, 0);
	return r;
}

static void
dotlock_unlock(struct mbox *m)
{
	char name[NAME_MAX + 16];
	struct stat st;

	if (!m->dotlock_held)
		return;
	m->dotlock_held = false;
	if (lock_name(m, name, sizeof(name)) < 0)
		return;
	/* Remove it only if it is still ours. */
	if (fstatat(m->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == m->dotlock_dev && st.st_ino == m->dotlock_ino)
		(void)unlinkat(m->dirfd, name, 0);
	else
		mbox_log(m, LOG_WARNING, "%s: our dot-lock was removed by "
		    "someone else", m->path);
}

int
mbox_lock(struct mbox *m)
{
	uint64_t deadline = now_ms() + (uint64_t)m->cfg.lock_timeout * 1000;
	unsigned backoff = LOCK_POLL_MIN_MS;
	const char *by;
	int r;

	if (m->fd < 0)
		return MBOX_OK;
	for (;;) {
		if ((r = fcntl_try(m)) == MBOX_OK) {
			if ((r = dotlock_try(m)) == MBOX_OK)
				return MBOX_OK;
			/* Never wait for the dot-lock holding fcntl. */
			fcntl_unlock(m);
			by = "dot-locked";
		} else
			by = "locked (fcntl)";
		if (r != LOCK_BUSY)
			return r;
		if (!lock_wait(deadline, &backoff)) {
			mbox_log(m, LOG_NOTICE, "%s: %s by another process "
			    "for %us", m->path, by, m->cfg.lock_timeout);
			return MBOX_ERR_TEMP;
		}
	}
}

void
mbox_unlock(struct mbox *m)
{
	dotlock_unlock(m);
	fcntl_unlock(m);
}

static int
session_open(struct mbox *m, int dfd, const char *name)
{
	struct stat st;
	int fd;

	fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != m->cfg.uid) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/*
 * The session holding the lock has answered its QUIT and is finishing a
 * large expunge (mbox_session_finishing): the client that logs in again
 * at once should wait for it (up to lock_timeout), not be told [IN-USE].
 * True to try again after a pause.
 */
static bool
session_finishing(struct mbox *m, int fd, unsigned *waited_ms)
{
	char b[sizeof(MBOX_SESSION_FINISHING) - 1];

	if (*waited_ms >= m->cfg.lock_timeout * 1000u ||
	    pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    memcmp(b, MBOX_SESSION_FINISHING, sizeof(b)) != 0)
		return false;
	if (*waited_ms == 0)
		mbox_log(m, LOG_INFO, "%s: waiting for the previous session "
		    "to finish its expunge", m->path);
	mbox_msleep(50);
	*waited_ms += 50;
	return true;
}

void
mbox_session_finishing(struct mbox *m)
{
	if (m->sessfd >= 0)
		(void)pwrite(m->sessfd, MBOX_SESSION_FINISHING,
		    sizeof(MBOX_SESSION_FINISHING) - 1, 0);
}

int
mbox_session_lock(struct mbox *m)
{
	char name[NAME_MAX + 32];
	unsigned waited = 0;
	int fd = -1;

	if (m->idxfd >= 0) {
		snprintf(name, sizeof(name), "%s.session", m->base);
		fd = session_open(m, m->idxfd, name);
		if (fd < 0) {
			mbox_log(m, LOG_WARNING, "index directory %s not "
			    "usable (%s); working without an index", m->idxdir,
			    strerror(errno));
			/* Kept to look for an expunge journal left there. */
			m->idx_rofd = m->idxfd;
			m->idxfd = -1;
		}
	}
	if (fd < 0 && m->dirfd >= 0) {
		snprintf(name, sizeof(name), ".%s.postern-session", m->base);
		fd = session_open(m, m->dirfd, name);
	}
	if (fd < 0) {
		mbox_log(m, LOG_WARNING, "%s: no place for a session lock "
		    "(%s); concurrent sessions are not excluded", m->path,
		    strerror(errno));
		return MBOX_OK;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;	/* session_finishing() may change it */

		if (err == EINTR)
			continue;
		if (err == EWOULDBLOCK && session_finishing(m, fd, &waited))
			continue;
		if (err == EWOULDBLOCK) {
			close(fd);
			return MBOX_ERR_INUSE;
		}
		mbox_log(m, LOG_WARNING, "%s: session lock: %s", m->path,
		    strerror(err));
		close(fd);
		return MBOX_OK;
	}
	/* A mark left by a session that finished (or died finishing). */
	(void)ftruncate(fd, 0);
	m->sessfd = fd;
	m->stats.have_session_lock = true;
	return MBOX_OK;
}
