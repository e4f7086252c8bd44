/*
 * master_main.c - postern, the root master: options, configuration,
 * daemonizing, signals and the event loop.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "master.h"
#include "master_systemd.h"
#include "params.h"
#include "privdrop.h"
#include "sandbox.h"
#include "tls_conf.h"
#include "util.h"

static int sig_pipe[2] = { -1, -1 };
static struct master master_state;

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	/* If the pipe is full the loop is awake already; the result is
	 * checked only to satisfy _FORTIFY_SOURCE's warn_unused_result. */
	if (write(sig_pipe[1], &c, 1) == -1)
		c = 0;
	errno = saved;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: postern [-dFhntV] [-c config]\n"
	    "  -c FILE   configuration file (default %s/postern.conf)\n"
	    "  -F        stay in the foreground and log to stderr\n"
	    "  -d        debug logging (implies nothing else)\n"
	    "  -t        check the configuration and exit\n"
	    "  -n        print the effective configuration and exit\n"
	    "  -V, --version  print the version and exit\n",
	    POSTERN_SYSCONFDIR);
	exit(2);
}

bool
master_send_config(struct master *m, int fd)
{
	struct ipc_buf b;
	int r;

	ipc_begin(&b, IPC_CONFIG);
	ipc_put_str(&b, m->config_text);
	r = ipc_send_nb(fd, &b);
	ipc_buf_free(&b);
	return r == 0;
}

/*
 * The unprivileged account the workers run as, looked up here (at start
 * and at every reload) rather than in each worker: a worker is root until
 * it confines itself, and name service lookups would have it read
 * nsswitch.conf and maybe load NSS modules first.
 */
static bool
resolve_unpriv(const struct config *cfg, uid_t *uid, gid_t *gid, char *err,
    size_t errsz)
{
	struct passwd *pw;

	pw = getpwnam(cfg->unpriv_user);
	if (pw == NULL) {
		snprintf(err, errsz, "unpriv_user %s does not exist (create it: adduser --system --group --no-create-home %s)",
		    cfg->unpriv_user, cfg->unpriv_user);
		return false;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errsz, "unpriv_user %s has uid or gid 0", cfg->unpriv_user);
		return false;
	}
	if (pw->pw_uid == (uid_t)-1 || pw->pw_gid == (gid_t)-1) {
		snprintf(err, errsz, "unpriv_user %s has uid or gid -1", cfg->unpriv_user);
		return false;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	endpwent();
	return true;
}

/* Checks that need the system: the account, directories, helper
 * programs. */
static bool
check_system(struct master *m, char *err, size_t errsz)
{
	const struct config *cfg = &m->cfg;
	const char *helpers[] = {
		"postern-pop3", "postern-pop3s", "postern-auth", "postern-store",
	};
	const char *why;
	char path[4096];

	if (!resolve_unpriv(cfg, &m->unpriv_uid, &m->unpriv_gid, err, errsz))
		return false;
	if (privdrop_check_empty_dir(cfg->empty_dir, m->unpriv_uid, &why) == -1) {
		snprintf(err, errsz, "empty_dir %s: %s", cfg->empty_dir, why);
		return false;
	}
	for (size_t i = 0; i < nitems(helpers); i++) {
		/* The TLS worker is started only when TLS is configured. */
		if (strcmp(helpers[i], "postern-pop3s") == 0 &&
		    cfg->tls_cert[0] == '\0')
			continue;
		snprintf(path, sizeof(path), "%s/%s", cfg->libexec_dir, helpers[i]);
		if (access(path, X_OK) == -1) {
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			return false;
		}
	}
	return true;
}

/*
 * tls_conf_check_files() run in a child that reports back over a pipe and
 * exits: the certificate, key and system trust store are parsed by a
 * process that lives for a second, and the long-lived master never has
 * OpenSSL's parsers, the trust store (~1 MB of heap) or the ~3 MB of
 * library code they touch resident.
 */
static bool
tls_check_in_child(const struct config *cfg, struct tls_report *rep)
{
	struct {
		uint8_t ok;
		struct tls_report rep;
	} msg;
	uint64_t deadline = now_ms() + MASTER_TLS_CHECK_TIMEOUT_MS;
	sigset_t all, old;
	size_t got = 0;
	int p[2], status = 0;
	pid_t pid;

	memset(rep, 0, sizeof(*rep));
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(rep->err, sizeof(rep->err), "TLS check: pipe: %s",
		    strerror(errno));
		return false;
	}
	/* No master handler may run in the child (they write to the
	 * master's signal pipe): signals stay blocked until it has reset
	 * them. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(p[0]);
		memset(&msg, 0, sizeof(msg));
		msg.ok = tls_conf_check_files(cfg, time(NULL), &msg.rep);
		_exit(write_all(p[1], &msg, sizeof(msg)) == 0 ? 0 : 1);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid == -1) {
		snprintf(rep->err, sizeof(rep->err), "TLS check: fork: %s",
		    strerror(errno));
		close(p[0]);
		return false;
	}
	while (got < sizeof(msg)) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;
		int r;

		r = now >= deadline ? 0 : poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			/* A certificate on a hung mount, a FIFO: do not wait
			 * for ever (the master stops serving meanwhile). */
			(void)kill(pid, SIGKILL);
			break;
		}
		n = read(p[0], (uint8_t *)&msg + got, sizeof(msg) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (got != sizeof(msg) || status == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(rep->err, sizeof(rep->err), now_ms() >= deadline ?
		    "TLS check: no answer within %d s (a file on a hung mount, or a FIFO?)" :
		    "TLS check: the checking process failed",
		    MASTER_TLS_CHECK_TIMEOUT_MS / 1000);
		return false;
	}
	*rep = msg.rep;
	rep->err[sizeof(rep->err) - 1] = '\0';
	if (rep->nwarn > TLS_REPORT_MAX_WARN)
		rep->nwarn = TLS_REPORT_MAX_WARN;
	for (unsigned i = 0; i < rep->nwarn; i++)
		rep->warn[i][sizeof(rep->warn[i]) - 1] = '\0';
	return msg.ok != 0;
}

/*
 * The TLS settings and files, checked the way a new connection's worker
 * will load them (the master itself never speaks TLS). Warnings, such as
 * a certificate that expires soon, are logged; errors are returned.
 */
static bool
check_tls(const struct config *cfg, char *err, size_t errsz)
{
	struct tls_report rep;

	if (!tls_check_in_child(cfg, &rep)) {
		snprintf(err, errsz, "%s", rep.err);
		return false;
	}
	for (unsigned i = 0; i < rep.nwarn; i++)
		log_warnx("%s", rep.warn[i]);
	if (cfg->tls_cert[0] != '\0')
		log_info("tls_cert %s: key matches, chain complete%s, valid for %ld more days",
		    cfg->tls_cert, rep.anchor_in_file ?
		    " (anchored in the file)" : "", rep.days_left);
	return true;
}

/* Read the configuration. A reload also refuses it if unpriv_user or the
 * TLS files are unusable (and keeps the old one); at start check_system()
 * and check_tls() do that, after -n had its chance to print it. */
static bool
load_config(struct master *m, char *err, size_t errsz, bool reload)
{
	struct config cfg;
	uid_t uid = 0;
	gid_t gid = 0;

	config_defaults(&cfg);
	if (!config_load(&cfg, m->config_path, err, errsz) ||
	    !config_validate(&cfg, err, errsz) ||
	    (reload && !resolve_unpriv(&cfg, &uid, &gid, err, errsz)) ||
	    (reload && !check_tls(&cfg, err, errsz))) {
		config_free(&cfg);
		return false;
	}
	config_free(&m->cfg);
	m->cfg = cfg;
	if (reload) {
		m->unpriv_uid = uid;
		m->unpriv_gid = gid;
	}
	/* The analyzer loses track of config_text across the event loop and
	 * reports a double free that cannot happen: the pointer is replaced
	 * on the next line. */
	free(m->config_text);	/* NOLINT(clang-analyzer-unix.Malloc) */
	m->config_text = config_dump(&m->cfg);
	return true;
}

static void
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	pid = fork();
	if (pid == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	fd = open("/dev/null", O_RDWR);
	if (fd == -1)
		fatal("/dev/null");
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/*
 * The pid file, locked (flock) for the master's whole life: a second
 * master finds it locked and refuses to start rather than take over
 * the first one's file (and delete it when it exits). A file left by a
 * master that was killed is not locked and is reused. Never opened
 * through a symbolic link or if it is not a regular file, never written
 * while it has another name (a hard link planted there); its directory
 * is created root-owned if missing; removed on every exit of the master.
 * The descriptor is close-on-exec and spawn_child() closes it anyway: no
 * child may hold the lock after the master is gone.
 */
static char *pid_file_written;
static pid_t pid_file_owner;
static int pid_file_fd = -1;

static void
remove_pid_file(void)
{
	if (pid_file_written != NULL && getpid() == pid_file_owner)
		(void)unlink(pid_file_written);
}

/* The pid recorded in a locked pid file, for the refusal message. */
static void
pid_file_holder(int fd, char *out, size_t outsz)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	escape_for_log(buf, strlen(buf), out, outsz);
}

/*
 * Open and lock path: the descriptor, -1 if it cannot be used (logged;
 * the master runs without one), or -2 if another master holds it.
 */
static int
lock_pid_file(const char *path)
{
	struct stat st, named;
	char *dir, holder[64];
	int fd;

	for (int tries = 0; tries < 5; tries++) {
		if (lstat(path, &named) == 0 && !S_ISREG(named.st_mode)) {
			log_warnx("pid file %s is not a regular file (not written)",
			    path);
			return -1;
		}
		/* A planted link, or a file someone else made or may write
		 * (and could hold locked to keep us from starting): not ours
		 * to obey; start afresh. Checked again once it is open. */
		if (lstat(path, &named) == 0 && (named.st_nlink > 1 ||
		    named.st_uid != 0 || (named.st_mode & 022) != 0)) {
			if (unlink(path) == -1)
				break;
			continue;
		}
		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC | O_NOCTTY, 0644);
		if (fd == -1 && errno == ENOENT) {
			dir = xstrdup(path);
			(void)mkdir(dirname(dir), 0755);
			free(dir);
			continue;
		}
		if (fd == -1)
			break;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_nlink > 1 || st.st_uid != 0 ||
		    (st.st_mode & 022) != 0)) {
			(void)unlink(path);
			close(fd);
			continue;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			if (errno == EWOULDBLOCK) {
				pid_file_holder(fd, holder, sizeof(holder));
				log_warnx("pid file %s is locked by a running postern (pid %s); not starting",
				    path, holder);
				close(fd);
				return -2;
			}
			close(fd);
			break;
		}
		/* Ours only if it is still the file named path (a master
		 * that is exiting removes it) and has no other name. */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 1 && st.st_uid == 0 &&
		    (st.st_mode & 022) == 0 && lstat(path, &named) == 0 &&
		    named.st_dev == st.st_dev && named.st_ino == st.st_ino)
			return fd;
		if (fstat(fd, &st) == 0 && st.st_nlink > 1)
			(void)unlink(path);	/* linked since: start afresh */
		close(fd);
	}
	log_warn("pid file %s (not written)", path);
	return -1;
}

/*
 * Take the pid file before the listeners: a second master must not take
 * them (or the first one's file) over. The lock survives daemonize()'s
 * forks; pid_file_write() records the pid that stays. False if another
 * master holds it: this one must not run.
 */
static bool
pid_file_lock(const char *path)
{
	int fd = lock_pid_file(path);

	if (fd == -2)
		return false;
	if (fd >= 0) {
		pid_file_fd = fd;	/* held open: the lock lasts as long as we do */
		pid_file_written = xstrdup(path);
	}
	return true;
}

/* Start-up failed after pid_file_lock(): leave no file behind. */
static void
pid_file_abandon(void)
{
	if (pid_file_fd >= 0)
		(void)unlink(pid_file_written);
}

static void
pid_file_write(void)
{
	char buf[32];
	int n;

	if (pid_file_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(pid_file_fd, 0) == -1 ||
	    write_all(pid_file_fd, buf, (size_t)n) == -1)
		log_warn("pid file %s", pid_file_written);
	pid_file_owner = getpid();
	atexit(remove_pid_file);
}

static void
reap(struct master *m)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->auth_pid) {
			log_err("auth helper (pid %ld) exited (status 0x%x); restarting it",
			    (long)pid, status);
			m->auth_pid = 0;
			auth_channel_close(m);
			continue;
		}
		session_reaped(m, pid, status);
	}
}

static void
handle_signals(struct master *m, bool *stopping)
{
	unsigned char sigs[64];
	ssize_t n = read(sig_pipe[0], sigs, sizeof(sigs));
	char err[512];

	for (ssize_t i = 0; i < n; i++) {
		switch (sigs[i]) {
		case SIGCHLD:
			reap(m);
			break;
		case SIGHUP:
			sd_notify_send("RELOADING=1");
			if (load_config(m, err, sizeof(err), true))
				log_notice("configuration reloaded; new connections use it (listen addresses need a restart)");
			else
				log_err("reload failed, keeping the old configuration: %s", err);
			sd_notify_send("READY=1");
			break;
		case SIGTERM:
		case SIGINT:
			if (!*stopping)
				sd_notify_send("STOPPING=1");
			*stopping = true;
			break;
		default:
			break;
		}
	}
}

static void
run(struct master *m)
{
	bool stopping = false, killed = false;
	uint64_t stop_at = 0;

	for (;;) {
		struct pollfd *pfd;
		struct session **who;
		size_t n = 2 + m->nlisteners + 2 * (size_t)m->nsessions, i = 0;
		uint64_t now = now_ms();

		if (stopping && stop_at == 0) {
			log_notice("stopping: no new connections; open sessions finish their current command (up to 30 s)");
			listeners_close(m);
			/* Each worker finishes the command under way (a QUIT's
			 * expunge included), then says so and closes. */
			for (struct session *s = m->sessions; s; s = s->next)
				if (s->worker_pid > 0) {
					session_set_cause(s, "server stopping");
					kill(s->worker_pid, SIGTERM);
				}
			stop_at = now + MASTER_STOP_GRACE_MS;
		}
		if (stopping && !killed && now >= stop_at && m->sessions != NULL) {
			/* Sessions that did not finish in time lose their
			 * connection, never mail: storage is not killed and
			 * completes a commit already under way. */
			log_notice("stopping: ending %u open session(s); waiting for storage to finish",
			    m->nsessions);
			for (struct session *s = m->sessions; s; s = s->next)
				if (s->worker_pid > 0) {
					session_set_cause(s, "server stopping");
					kill(s->worker_pid, SIGKILL);
				}
			killed = true;
			stop_at = now + MASTER_STOP_STORE_GRACE_MS;
		}
		if (stopping && (m->sessions == NULL || (killed && now >= stop_at)))
			break;
		if (!stopping && m->auth_pid == 0 && now >= m->auth_restarts_at) {
			m->auth_restarts_at = now + 1000;
			auth_start(m);
		}

		pfd = xcalloc(n, sizeof(*pfd));
		who = xcalloc(n, sizeof(*who));
		pfd[i].fd = sig_pipe[0];
		pfd[i++].events = POLLIN;
		pfd[i].fd = m->auth.fd;
		pfd[i++].events = POLLIN | (m->auth_out != NULL ? POLLOUT : 0);
		for (size_t k = 0; k < m->nlisteners; k++) {
			pfd[i].fd = m->listeners[k].fd;
			pfd[i++].events = POLLIN;
		}
		for (struct session *s = m->sessions; s; s = s->next) {
			who[i] = s;
			pfd[i].fd = s->worker.fd;
			pfd[i++].events = POLLIN;
			who[i] = s;
			pfd[i].fd = s->store.fd;
			pfd[i++].events = POLLIN;
		}
		if (poll(pfd, i, 1000) < 0 && errno != EINTR)
			fatal("poll");
		if (pfd[0].revents)
			handle_signals(m, &stopping);
		if ((pfd[1].revents & POLLOUT) && m->auth.fd >= 0)
			auth_flush(m);
		if ((pfd[1].revents & ~POLLOUT) && m->auth.fd >= 0)
			auth_input(m);
		for (size_t k = 0; k < m->nlisteners && !stopping; k++)
			if (pfd[2 + k].revents)
				session_accept(m, &m->listeners[k]);
		for (size_t k = 2 + m->nlisteners; k < i; k++) {
			struct session *s = who[k], *p;

			if (pfd[k].revents == 0)
				continue;
			for (p = m->sessions; p != NULL && p != s; p = p->next)
				;
			if (p == NULL)
				continue;	/* freed earlier in this round */
			if (pfd[k].fd == s->worker.fd)
				session_worker_input(m, s);
			else if (pfd[k].fd == s->store.fd)
				session_store_input(m, s);
		}
		free(pfd);
		free(who);
		session_check_deadlines(m);
	}
	sessions_abandon(m);
	if (m->auth_pid > 0)
		kill(m->auth_pid, SIGTERM);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct master *m = &master_state;
	bool test = false, dump = false, notify;
	char err[1024];
	struct sigaction sa;
	int ch;

	m->config_path = xstrdup(POSTERN_SYSCONFDIR "/postern.conf");
	while ((ch = getopt_long(argc, argv, "c:dFhntV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			free(m->config_path);
			m->config_path = xstrdup(optarg);
			break;
		case 'd':
			log_set_verbose(1);
			break;
		case 'F':
			m->foreground = true;
			break;
		case 'n':
			dump = true;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("postern %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	/* systemd's notification socket, if any: taken before anything can
	 * fork, and removed from the environment. */
	notify = sd_notify_init(getenv("NOTIFY_SOCKET"));
	unsetenv("NOTIFY_SOCKET");
	log_init("postern", LOG_TARGET_STDERR, -1);
	config_defaults(&m->cfg);
	if (!load_config(m, err, sizeof(err), false)) {
		fprintf(stderr, "postern: %s\n", err);
		return 1;
	}
	if (dump) {
		fputs(m->config_text, stdout);
		return 0;
	}
	if (!check_system(m, err, sizeof(err)) ||
	    !check_tls(&m->cfg, err, sizeof(err))) {
		fprintf(stderr, "postern: %s\n", err);
		return 1;
	}
	if (test) {
		printf("postern: configuration %s is OK\n", m->config_path);
		return 0;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "postern: must be started as root (it drops privileges per role)\n");
		return 1;
	}

	/* Listeners before detaching: an address in use must make the
	 * command that starts the daemon fail, with the reason on its stderr
	 * (and in syslog), not exit 0 and leave the news to syslog alone.
	 * The sockets survive the forks of daemonize. */
	if (!m->foreground) {
		if (notify)
			fprintf(stderr, "postern: under systemd, run with -F (Type=notify)\n");
		log_init("postern", LOG_TARGET_SYSLOG, -1);
		log_set_stderr_echo(1);
	}
	if (!pid_file_lock(m->cfg.pid_file))
		return 1;
	if (listeners_open(m) == -1) {
		pid_file_abandon();
		return 1;
	}
	if (!m->foreground) {
		daemonize();
		log_set_stderr_echo(0);
	}
	if (!sandbox_available())
		log_err("WARNING: built --without-seccomp: workers run WITHOUT a system call filter. Do not use this build in production.");
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ipc_conn_init(&m->auth, -1);
	m->auth_out_tail = &m->auth_out;
	login_delay_init(&m->login_delay, LOGIN_DELAY_SLOTS);

	pid_file_write();
	log_notice("postern %s started", PACKAGE_VERSION);
	sd_notify_send("READY=1\nSTATUS=accepting connections");
	run(m);
	login_delay_free(&m->login_delay);
	log_notice("postern stopped");
	return 0;
}
