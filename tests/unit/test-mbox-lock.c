/*
 * test-mbox-lock.c - locking and file safety: dot-locks held by live
 * processes block (until the timeout), dead or ancient ones are broken,
 * symlinks are never followed, fcntl locks of other processes block,
 * no lock is held during a session, a second session gets INUSE, and
 * unsafe mailboxes (symlink, wrong owner, hard link, world-writable,
 * not a regular file) are refused.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mbox.h"
#include "mbox_int.h"
#include "mbox_testlib.h"
#include "tap.h"
#include "util.h"

struct fx {
	const char *dir;
	char *path, *lock, *idx;
	struct mbox_config cfg;
	struct tl_buf content;
};

static void
fx_init(struct fx *f)
{
	f->dir = tl_tmpdir();
	f->path = tl_path(f->dir, "mbox");
	f->lock = tl_path(f->dir, "mbox.lock");
	f->idx = tl_path(f->dir, "idx");
	memset(&f->content, 0, sizeof(f->content));
	tl_gen_msg(&f->content, "a@x", "one", "1");
	tl_gen_msg(&f->content, "b@x", "two", "2");
	tl_write(f->path, f->content.p, f->content.len);
	tl_cfg(&f->cfg, f->path, f->idx);
}

static int
try_open(struct fx *f)
{
	struct mbox *m;
	int r = mbox_open(&f->cfg, &m);

	if (r == MBOX_OK)
		mbox_close(m);
	return r;
}

static void
write_lock(const char *path, const char *content, time_t age)
{
	struct timeval tv[2];

	tl_write(path, content, strlen(content));
	if (age > 0) {
		gettimeofday(&tv[0], NULL);
		tv[0].tv_sec -= age;
		tv[1] = tv[0];
		utimes(path, tv);
	}
}

static pid_t
dead_pid(void)
{
	pid_t p;

	/* No buffered TAP output may be copied into a child. */
	fflush(stdout);
	p = fork();
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	return p;
}

static void
test_dotlocks(void)
{
	struct fx f;
	struct tl_buf b = { 0 };
	char buf[64], *victim;
	struct timeval tv[2];
	struct stat st;
	pid_t child;
	int p[2];

	fx_init(&f);
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	write_lock(f.lock, buf, 0);
	f.cfg.lock_timeout = 1;
	is_int(try_open(&f), MBOX_ERR_TEMP,
	    "dot-lock of a live process: TEMP after the timeout");
	ok(tl_read(f.lock, &b) && strcmp((char *)b.p, buf) == 0,
	    "and the live lock is left alone");
	f.cfg.lock_timeout = 0;

	write_lock(f.lock, "", 0);
	is_int(try_open(&f), MBOX_ERR_TEMP, "fresh lock without pid: TEMP");

	snprintf(buf, sizeof(buf), "%ld\n", (long)dead_pid());
	write_lock(f.lock, buf, 0);
	tl_log_clear();
	is_int(try_open(&f), MBOX_OK, "dot-lock of a dead process: broken");
	ok(!tl_exists(f.lock) && tl_log_seen("stale lock of dead process"),
	    "removed, logged, and ours released");

	write_lock(f.lock, "", 11 * 60);
	is_int(try_open(&f), MBOX_OK, "11-minute-old lock without pid: broken");
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	write_lock(f.lock, buf, 11 * 60);
	is_int(try_open(&f), MBOX_OK, "11-minute-old lock, live pid: broken");
	write_lock(f.lock, buf, 9 * 60);
	is_int(try_open(&f), MBOX_ERR_TEMP, "9-minute-old lock, live pid: kept");
	unlink(f.lock);

	/* Symlinks: never followed, never written through. */
	victim = tl_path(f.dir, "victim");
	tl_write(victim, "precious", 8);
	if (symlink(victim, f.lock) != 0)
		abort();
	is_int(try_open(&f), MBOX_ERR_TEMP, "symlink as dot-lock: TEMP");
	ok(tl_read(victim, &b) && strcmp((char *)b.p, "precious") == 0 &&
	    lstat(f.lock, &st) == 0 && S_ISLNK(st.st_mode),
	    "its target untouched, the link left");
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= 3600;
	tv[1] = tv[0];
	lutimes(f.lock, tv);
	is_int(try_open(&f), MBOX_OK, "an hour-old symlink lock is broken");
	ok(!tl_exists(f.lock) && tl_read(victim, &b) &&
	    strcmp((char *)b.p, "precious") == 0,
	    "by removing the link, not the target");
	if (symlink("/nonexistent/target", f.lock) != 0)
		abort();
	is_int(try_open(&f), MBOX_ERR_TEMP, "dangling symlink lock: TEMP");
	ok(!tl_exists("/nonexistent/target"), "nothing created through it");
	unlink(f.lock);

	/* A lock that goes away while we wait. */
	if (pipe(p) != 0)
		abort();
	/* No buffered TAP output may be copied into a child. */
	fflush(stdout);
	child = fork();
	if (child == 0) {
		snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
		write_lock(f.lock, buf, 0);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		mbox_msleep(300);
		unlink(f.lock);
		_exit(0);
	}
	if (read(p[0], buf, 1) != 1)
		abort();
	f.cfg.lock_timeout = 10;
	is_int(try_open(&f), MBOX_OK, "lock released while we wait: acquired");
	f.cfg.lock_timeout = 0;
	waitpid(child, NULL, 0);
	close(p[0]);
	close(p[1]);
	tl_buf_free(&b);
	tl_buf_free(&f.content);
}

/* Child: take an fcntl write lock, report, wait for the parent. */
static pid_t
fcntl_holder(const char *path, int *release)
{
	int ready[2], go[2];
	pid_t pid;
	char c;

	if (pipe(ready) != 0 || pipe(go) != 0)
		abort();
	/* No buffered TAP output may be copied into a child. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(path, O_RDWR);

		if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	if (read(ready[0], &c, 1) != 1)
		abort();
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	*release = go[1];
	return pid;
}

/* Can another process lock the mailbox right now (as an MDA would)? */
static bool
mda_can_lock(const char *path, const char *lock)
{
	pid_t pid;
	int status;

	/* No buffered TAP output may be copied into a child. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(path, O_RDWR);

		_exit(fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 &&
		    access(lock, F_OK) != 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void
test_fcntl_and_session(void)
{
	struct fx f;
	struct tl_buf b = { 0 };
	struct mbox *m, *m2;
	int release, status;
	pid_t pid;
	char *sess;

	fx_init(&f);
	pid = fcntl_holder(f.path, &release);
	f.cfg.lock_timeout = 1;
	is_int(try_open(&f), MBOX_ERR_TEMP,
	    "fcntl lock of another process: TEMP after the timeout");
	if (write(release, "x", 1) != 1)
		abort();
	close(release);
	waitpid(pid, &status, 0);
	is_int(try_open(&f), MBOX_OK, "and OK once it is released");

	ok(mbox_open(&f.cfg, &m) == MBOX_OK, "session open");
	ok(mda_can_lock(f.path, f.lock),
	    "no fcntl or dot-lock held during the session");
	is_int(mbox_lock(m), MBOX_OK, "engine lock (white box)");
	ok(tl_read(f.lock, &b) && atol((char *)b.p) == (long)getpid(),
	    "dot-lock holds our pid");
	ok(!mda_can_lock(f.path, f.lock), "an MDA is excluded while locked");
	mbox_unlock(m);
	ok(!tl_exists(f.lock) && mda_can_lock(f.path, f.lock),
	    "unlock removes the dot-lock and the fcntl lock");

	is_int(mbox_open(&f.cfg, &m2), MBOX_ERR_INUSE,
	    "second session: INUSE");
	mbox_close(m);
	ok(mbox_open(&f.cfg, &m2) == MBOX_OK, "after close: a new session");
	mbox_close(m2);

	f.cfg.index_dir = NULL;
	ok(mbox_open(&f.cfg, &m) == MBOX_OK, "session without index_dir");
	is_int(mbox_open(&f.cfg, &m2), MBOX_ERR_INUSE,
	    "second session without index_dir: INUSE");
	sess = tl_path(f.dir, ".mbox.postern-session");
	ok(tl_exists(sess), "session lock next to the mailbox");
	mbox_close(m);
	tl_buf_free(&b);
	tl_buf_free(&f.content);
}

/*
 * A session that has answered its client and only finishes a large
 * expunge marks its session lock (mbox_session_finishing): a new session
 * waits for it, up to lock_timeout, instead of answering INUSE. The
 * holder is a child that marks, says so, and lets go when told (or after
 * hold_ms).
 */
static pid_t
finishing_holder(struct fx *f, int *release, unsigned hold_ms)
{
	int ready[2], rel[2];
	struct mbox *m;
	char x;
	pid_t pid;

	if (pipe(ready) != 0 || pipe(rel) != 0)
		abort();
	/* No buffered TAP output may be copied into a child. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (mbox_open(&f->cfg, &m) != MBOX_OK)
			_exit(1);
		mbox_session_finishing(m);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		if (hold_ms > 0)
			mbox_msleep(hold_ms);
		else if (read(rel[0], &x, 1) != 1)
			_exit(1);
		mbox_close(m);
		_exit(0);
	}
	close(ready[1]);
	close(rel[0]);
	if (read(ready[0], &x, 1) != 1)
		abort();
	close(ready[0]);
	*release = rel[1];
	return pid;
}

static void
test_session_finishing(void)
{
	struct fx f;
	struct stat st;
	int release, status;
	pid_t pid;

	fx_init(&f);
	f.cfg.lock_timeout = 5;
	pid = finishing_holder(&f, &release, 300);
	tl_log_clear();
	is_int(try_open(&f), MBOX_OK, "a session finishing its expunge: the "
	    "next one waits for it, then opens");
	ok(tl_log_seen("waiting for the previous session"), "and says so");
	waitpid(pid, &status, 0);
	close(release);
	ok(stat(tl_path(f.idx, "mbox.session"), &st) == 0 && st.st_size == 0,
	    "the mark is cleared by the next holder");

	f.cfg.lock_timeout = 1;
	pid = finishing_holder(&f, &release, 0);
	is_int(try_open(&f), MBOX_ERR_INUSE, "one that does not finish within "
	    "lock_timeout: INUSE then");
	if (write(release, "x", 1) != 1)
		abort();
	close(release);
	waitpid(pid, &status, 0);
	is_int(try_open(&f), MBOX_OK, "and OK once it is done");
	tl_buf_free(&f.content);
}

static void
test_file_safety(void)
{
	struct fx f;
	struct mbox *m;
	char *other, *lnk;
	uint32_t n;

	fx_init(&f);
	lnk = tl_path(f.dir, "link");
	if (symlink(f.path, lnk) != 0)
		abort();
	f.cfg.path = lnk;
	is_int(try_open(&f), MBOX_ERR_PERM, "symlinked mailbox: PERM");
	f.cfg.path = f.path;

	f.cfg.uid = getuid() + 1;
	is_int(try_open(&f), MBOX_ERR_PERM, "owned by someone else: PERM");
	f.cfg.uid = getuid();

	other = tl_path(f.dir, "hardlink");
	if (link(f.path, other) != 0)
		abort();
	is_int(try_open(&f), MBOX_ERR_PERM, "two hard links: PERM");
	unlink(other);

	chmod(f.path, 0666);
	is_int(try_open(&f), MBOX_ERR_PERM, "world-writable: PERM");
	chmod(f.path, 0660);
	is_int(try_open(&f), MBOX_OK, "user:mail 0660 is the Debian norm: OK");

	unlink(f.path);
	mkfifo(f.path, 0600);
	is_int(try_open(&f), MBOX_ERR_PERM, "a FIFO: PERM, without hanging");
	unlink(f.path);
	mkdir(f.path, 0700);
	is_int(try_open(&f), MBOX_ERR_PERM, "a directory: PERM");
	rmdir(f.path);

	ok(mbox_open(&f.cfg, &m) == MBOX_OK && mbox_count(m) == 0,
	    "missing mailbox: empty maildrop");
	ok(mbox_commit(m, &n) == MBOX_OK && n == 0 && !tl_exists(f.path),
	    "commit of an empty maildrop does nothing");
	mbox_close(m);
	f.cfg.path = "/nonexistent-dir/mbox";
	f.cfg.index_dir = NULL;
	ok(mbox_open(&f.cfg, &m) == MBOX_OK && mbox_count(m) == 0,
	    "missing directory: empty maildrop");
	mbox_close(m);
	tl_buf_free(&f.content);
}

/* A mailbox directory where we cannot create files: fcntl only. */
static void
test_readonly_dir(void)
{
	struct fx f;
	struct mbox *m;
	uint32_t n;
	int dfd, flags = 0, set;

	fx_init(&f);
	dfd = open(f.dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || ioctl(dfd, FS_IOC_GETFLAGS, &flags) != 0 ||
	    (set = flags | FS_IMMUTABLE_FL,
	    ioctl(dfd, FS_IOC_SETFLAGS, &set) != 0)) {
		ok(1, "# SKIP cannot make a directory immutable here");
		if (dfd >= 0)
			close(dfd);
		tl_buf_free(&f.content);
		return;
	}
	f.cfg.index_dir = tl_path(tl_tmpdir(), "idx");
	tl_log_clear();
	ok(mbox_open(&f.cfg, &m) == MBOX_OK && mbox_count(m) == 2,
	    "unwritable mailbox directory: opens");
	ok(tl_log_seen("no dot-lock"), "and says it uses fcntl only");
	mbox_dele(m, 1);
	ok(mbox_commit(m, &n) == MBOX_OK && n == 1,
	    "expunge works (journal in index_dir)");
	mbox_close(m);
	ioctl(dfd, FS_IOC_SETFLAGS, &flags);
	close(dfd);
	ok(mbox_open(&f.cfg, &m) == MBOX_OK && mbox_count(m) == 1,
	    "one message left");
	mbox_close(m);
	tl_buf_free(&f.content);
}

/*
 * An MDA that locks the other way round, as procmail does: dot-lock
 * first, then a blocking fcntl lock. We must not hold fcntl while waiting
 * for its dot-lock, or both wait until our lock_timeout.
 */
static void
test_dotlock_first_mda(void)
{
	struct fx f;
	char pidbuf[24], c;
	int ready[2];
	pid_t child;
	uint64_t t0;
	int r, status = -1;

	fx_init(&f);
	if (pipe(ready) != 0)
		abort();
	fflush(stdout);
	child = fork();
	if (child == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd;

		snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
		write_lock(f.lock, pidbuf, 0);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		/* Let the parent take fcntl and find the dot-lock busy. */
		mbox_msleep(300);
		fd = open(f.path, O_RDWR | O_APPEND);
		if (fd < 0 || fcntl(fd, F_SETLKW, &fl) != 0)
			_exit(1);
		/* "Deliver", then unlock in the MDA's order. */
		mbox_msleep(50);
		unlink(f.lock);
		_exit(0);
	}
	if (read(ready[0], &c, 1) != 1)
		abort();
	f.cfg.lock_timeout = 20;
	t0 = now_ms();
	r = try_open(&f);
	is_int(r, MBOX_OK, "dot-lock-first MDA waiting in fcntl: we get both "
	    "locks once it is done");
	ok(now_ms() - t0 < 10 * 1000, "... long before lock_timeout "
	    "(%llu ms; a deadlock would last %u s)",
	    (unsigned long long)(now_ms() - t0), f.cfg.lock_timeout);
	waitpid(child, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "and the MDA got its fcntl lock too");
	close(ready[0]);
	close(ready[1]);
	tl_buf_free(&f.content);
}

int
main(void)
{
	test_dotlocks();
	test_dotlock_first_mda();
	test_fcntl_and_session();
	test_session_finishing();
	test_file_safety();
	test_readonly_dir();
	return tap_done();
}
