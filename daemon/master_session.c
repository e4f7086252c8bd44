/*
 * master_session.c - one entry per client connection: accept, limits,
 * starting the worker, relaying its logs, reaping. The client socket is
 * handed to the worker unread.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc_msgs.h"
#include "log.h"
#include "master.h"
#include "util.h"

struct session *
session_by_id(struct master *m, uint64_t id)
{
	for (struct session *s = m->sessions; s != NULL; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

/* Sessions from the address key rkey (IPv6: the /64); with
 * preauth_only, those not yet authenticated (what a slowloris holds). */
static unsigned
sessions_from(struct master *m, const char *rkey, bool preauth_only)
{
	unsigned n = 0;

	for (struct session *s = m->sessions; s != NULL; s = s->next)
		if (strcmp(s->rkey, rkey) == 0 &&
		    (!preauth_only || s->phase == SESSION_PREAUTH))
			n++;
	return n;
}

bool
limit_log_due(struct master *m, enum master_limit limit)
{
	uint64_t now = now_ms();

	if (m->last_limit_log[limit] != 0 &&
	    now - m->last_limit_log[limit] < MASTER_LIMIT_LOG_MS)
		return false;
	m->last_limit_log[limit] = now;
	return true;
}

/* Over a limit: tell the client in one line, close, log each limit at
 * most once per interval. */
static void
refuse(struct master *m, int fd, const char *rhost, enum master_limit limit)
{
	static const char msg[] = "-ERR [SYS/TEMP] Too many connections; try again later.\r\n";
	static const char *const names[] = {
		[LIMIT_TOTAL] = "max_connections",
		[LIMIT_PER_ADDR] = "max_connections_per_addr",
		[LIMIT_PREAUTH_PER_ADDR] = "max_preauth_per_addr",
	};
	const char *which = names[limit];

	(void)send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	if (limit_log_due(m, limit))
		log_warnx("limit %s reached; refusing connections (first: rhost=%s); "
		    "logged at most every 10 s", which, rhost);
}

void
session_set_cause(struct session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->end_cause[0] != '\0')
		return;
	va_start(ap, fmt);
	(void)vsnprintf(s->end_cause, sizeof(s->end_cause), fmt, ap);
	va_end(ap);
}

/*
 * The one "session end" line of a connection. Normally the worker's
 * WORKER_STATS supplies the counts and the reason; a worker that ends
 * without reporting (killed by the sandbox or by the master, failed,
 * ended for breaking a protocol) cannot, so the master writes the line
 * itself when it forgets the session: counts 0 (unknown), and the cause
 * it saw. why is already escaped.
 */
static void
session_log_end(struct session *s, uint32_t retrieved, uint32_t deleted,
    uint64_t octets, const char *why)
{
	char user[200];

	s->end_logged = true;
	escape_for_log(s->user ? s->user : "", s->user ? strlen(s->user) : 0,
	    user, sizeof(user));
	log_notice("session end: rhost=%s user=\"%s\" session=%llu tls=%s retrieved=%u deleted=%u octets=%llu reason=\"%s\" seconds=%llu",
	    s->rhost, user, (unsigned long long)s->id, s->tls ? "yes" : "no",
	    retrieved, deleted, (unsigned long long)octets, why,
	    (unsigned long long)((now_ms() - s->started_ms) / 1000));
}

/* Storage opened the maildrop: the login is complete. Once per session. */
static bool
store_ready(struct master *m, struct session *s, struct ipc_msg *msg)
{
	if (s->store_ready || !ipc_dec_empty(msg) || s->user == NULL)
		return false;
	s->store_ready = true;
	if (m->cfg.login_delay > 0)
		login_delay_record(&m->login_delay, (uint32_t)s->uid, now_ms(),
		    (uint64_t)m->cfg.login_delay * 1000);
	return true;
}

/* A socket's identity (sockfs inode), to recognise it when it comes back. */
static void
sock_id_of(int fd, struct sock_id *id)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		id->dev = st.st_dev;
		id->ino = st.st_ino;
	} else {
		id->dev = 0;
		id->ino = 0;	/* matches no socket */
	}
}

static bool
sock_id_is(int fd, const struct sock_id *want)
{
	struct sock_id got;

	sock_id_of(fd, &got);
	return got.ino != 0 && got.dev == want->dev && got.ino == want->ino;
}

/*
 * Start a worker, prog (postern-pop3 or postern-pop3s), for s on the
 * client socket cfd and the auth channel afd (the caller keeps its
 * copies of both), and send it the configuration and WORKER_INIT. On
 * failure s->worker_pid is 0 if no process was started.
 */
static bool
worker_start(struct master *m, struct session *s, const char *prog,
    int cfd, int afd, enum ipc_worker_start start)
{
	struct ipc_buf b;
	char path[4096];
	uint64_t used;
	int mw[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mw) == -1) {
		log_warn("socketpair");
		return false;
	}
	snprintf(path, sizeof(path), "%s/%s", m->cfg.libexec_dir, prog);
	{
		const struct spawn_fd fds[] = {
			{ mw[1], FD_MASTER }, { cfd, FD_CLIENT }, { afd, FD_AUTH },
		};

		s->worker_pid = spawn_child(path, prog, fds, 3, NULL);
	}
	close(mw[1]);
	if (s->worker_pid == -1) {
		log_warn("fork for %s", path);
		s->worker_pid = 0;
		close(mw[0]);
		return false;
	}
	s->worker_prog = prog;
	s->worker_start = start;
	ipc_conn_init(&s->worker, mw[0]);
	(void)set_nonblock(mw[0], true);
	if (!master_send_config(m, mw[0]))
		return false;
	used = now_ms() - s->started_ms;
	ipc_begin(&b, IPC_WORKER_INIT);
	ipc_put_u64(&b, s->id);
	ipc_put_str(&b, s->rhost);
	ipc_put_u16(&b, s->rport);
	ipc_put_str(&b, s->laddr);
	ipc_put_u16(&b, s->lport);
	ipc_put_u8(&b, (uint8_t)start);
	ipc_put_u32(&b, used > UINT32_MAX ? UINT32_MAX : (uint32_t)used);
	ipc_put_u32(&b, (uint32_t)m->unpriv_uid);
	ipc_put_u32(&b, (uint32_t)m->unpriv_gid);
	r = ipc_send_nb(mw[0], &b);
	ipc_buf_free(&b);
	return r != -1;
}

void
session_accept(struct master *m, struct listener *ls)
{
	struct sockaddr_storage ss, ls_addr;
	socklen_t slen = sizeof(ss), llen = sizeof(ls_addr);
	char rhost[64], laddr[64], rkey[ADDR_KEY_MAX];
	uint16_t rport, lport;
	int cfd, wa[2];
	struct session *s;
	struct ipc_buf b;
	bool started;

	cfd = accept4(ls->fd, (struct sockaddr *)&ss, &slen, SOCK_CLOEXEC);
	if (cfd == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept on %s", ls->name);
		return;
	}
	sockaddr_host(&ss, slen, rhost, sizeof(rhost), &rport);
	addr_key(rhost, rkey, sizeof(rkey));
	if (getsockname(cfd, (struct sockaddr *)&ls_addr, &llen) == -1)
		memset(&ls_addr, 0, sizeof(ls_addr));
	sockaddr_host(&ls_addr, llen, laddr, sizeof(laddr), &lport);

	if (m->nsessions >= m->cfg.max_connections) {
		refuse(m, cfd, rhost, LIMIT_TOTAL);
		return;
	}
	if (sessions_from(m, rkey, false) >= m->cfg.max_connections_per_addr) {
		refuse(m, cfd, rhost, LIMIT_PER_ADDR);
		return;
	}
	if (sessions_from(m, rkey, true) >= m->cfg.max_preauth_per_addr) {
		refuse(m, cfd, rhost, LIMIT_PREAUTH_PER_ADDR);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wa) == -1) {
		log_warn("socketpair");
		close(cfd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->id = ++m->next_id;
	s->phase = SESSION_PREAUTH;
	s->started_ms = now_ms();
	snprintf(s->rhost, sizeof(s->rhost), "%s", rhost);
	snprintf(s->rkey, sizeof(s->rkey), "%s", rkey);
	s->rport = rport;
	snprintf(s->laddr, sizeof(s->laddr), "%s", laddr);
	s->lport = lport;
	s->stls_client_fd = -1;
	sock_id_of(cfd, &s->client_id);
	sock_id_of(wa[0], &s->auth_id);
	ipc_conn_init(&s->worker, -1);
	ipc_conn_init(&s->store, -1);
	/* Plaintext connections get the worker without OpenSSL. */
	started = worker_start(m, s, ls->tls ? "postern-pop3s" : "postern-pop3",
	    cfd, wa[0], ls->tls ? IPC_START_IMPLICIT_TLS : IPC_START_PLAIN);
	close(cfd);
	close(wa[0]);
	if (s->worker_pid == 0) {
		close(wa[1]);
		ipc_conn_close(&s->worker);
		session_log_end(s, 0, 0, 0, "worker not started");
		free(s);
		return;
	}
	s->next = m->sessions;
	m->sessions = s;
	m->nsessions++;
	log_debug("session=%llu rhost=%s port=%u: accepted on %s, worker pid %ld",
	    (unsigned long long)s->id, rhost, rport, ls->name, (long)s->worker_pid);
	if (!started) {
		close(wa[1]);
		session_set_cause(s, "worker not started");
		session_end(m, s);
		return;
	}

	/* Hand the auth helper its end; it learns the address from us. */
	ipc_begin(&b, IPC_AUTH_ATTACH);
	ipc_put_u64(&b, s->id);
	ipc_put_str(&b, rhost);
	ipc_put_fd(&b, wa[1]);
	if (m->auth.fd < 0)
		log_warnx("session=%llu: auth helper unavailable", (unsigned long long)s->id);
	auth_send(m, &b, s->id);	/* closes wa[1] */
}

/* Kill what is left of a session and forget it. */
bool
session_end(struct master *m, struct session *s)
{
	struct session **pp;

	if (s->worker_pid > 0)
		kill(s->worker_pid, SIGKILL);
	if (s->phase == SESSION_PREAUTH)
		auth_detach(m, s->id);
	/* Storage is not killed: it ends by itself when the worker's channel
	 * closes, and it must be able to finish a commit in progress. */
	ipc_conn_close(&s->worker);
	if (s->stls_client_fd >= 0) {
		close(s->stls_client_fd);
		s->stls_client_fd = -1;
	}
	s->phase = SESSION_CLOSING;
	if (s->worker_pid > 0 || s->store_pid > 0)
		return false;	/* freed when the last process is reaped */
	ipc_conn_close(&s->store);
	if (!s->end_logged)
		session_log_end(s, 0, 0, 0, s->end_cause[0] != '\0' ?
		    s->end_cause : "unknown");
	for (pp = &m->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	m->nsessions--;
	free(s->user);
	free(s);
	return true;
}

/* Relay a child's log line; false if the frame was not a valid LOG. */
static bool
relay_log(struct ipc_msg *msg, const char *ident, pid_t pid)
{
	struct ipc_log l;
	char buf[2100];

	if (!ipc_dec_log(msg, &l))
		return false;
	/* A sandboxed child may be compromised: escape what it says. */
	escape_for_log((const char *)l.text, l.len, buf, sizeof(buf));
	log_relay(l.prio, ident, (long)pid, buf);
	return true;
}

/* The worker's report, written as the session-end line. Once per
 * session: a second one (a forged line) is a protocol violation. */
static bool
worker_stats(struct session *s, struct ipc_msg *msg)
{
	struct ipc_worker_stats w;
	char why[80];

	if (s->end_logged || !ipc_dec_worker_stats(msg, &w))
		return false;
	escape_for_log((const char *)w.reason, w.reason_len, why, sizeof(why));
	session_log_end(s, w.retrieved, w.deleted, w.octets, why);
	return true;
}

/* The worker finished a TLS handshake; once per session, before login. */
static bool
worker_tls(struct session *s, struct ipc_msg *msg)
{
	char *version = NULL, *cipher = NULL;
	bool ok;

	/*
	 * Once per session, before login. The worker sends it before any
	 * authentication request, on its own channel; the helper's GRANTED
	 * comes over another one and may be read first, so handle_granted()
	 * drains the worker's channel (session_worker_drain) before the
	 * session leaves PREAUTH. It only sets tls=yes in the logs.
	 */
	ok = ipc_dec_worker_tls(msg, &version, &cipher) && !s->tls &&
	    s->phase == SESSION_PREAUTH;
	if (ok)
		s->tls = true;
	free(version);
	free(cipher);
	return ok;
}

/*
 * STLS in the plaintext worker: it answered "+OK Begin TLS negotiation."
 * and hands over the client socket, then its auth channel (with which
 * the helper keeps the session's attempt count). postern-pop3s does the
 * handshake and continues the session; the plaintext worker is killed,
 * and whatever it read after STLS dies with it (rule 5). Once per
 * session, before login, from a worker started in plaintext, only while
 * TLS is configured and the pre-authentication backstop has not fired.
 * Each descriptor must be the very socket the master gave it (fstat
 * identity): a compromised worker that passed its client socket as the
 * "auth channel" would make postern-pop3s write the credentials it
 * receives inside TLS back onto the TCP stream in cleartext.
 * Takes msg->fd. Returns -1 if refused, 0 while waiting for the second
 * part, 1 once the session has moved: s->worker is the new channel.
 */
static int
worker_stls(struct master *m, struct session *s, struct ipc_msg *msg)
{
	uint8_t part;
	int fd = msg->fd;
	bool ok;

	msg->fd = -1;
	if (fd < 0 || !ipc_dec_worker_stls(msg, &part) ||
	    s->phase != SESSION_PREAUTH || s->tls || s->stls_moved ||
	    s->worker_start != IPC_START_PLAIN || s->deadline_killed ||
	    m->cfg.tls_cert[0] == '\0' ||
	    (part == IPC_STLS_CLIENT) != (s->stls_client_fd < 0) ||
	    !sock_id_is(fd, part == IPC_STLS_CLIENT ? &s->client_id :
	    &s->auth_id)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (part == IPC_STLS_CLIENT) {
		s->stls_client_fd = fd;
		return 0;
	}
	s->stls_moved = true;
	if (s->worker_pid > 0) {
		kill(s->worker_pid, SIGKILL);
		s->retired_pid = s->worker_pid;
		s->worker_pid = 0;
	}
	ipc_conn_close(&s->worker);
	ok = worker_start(m, s, "postern-pop3s", s->stls_client_fd, fd,
	    IPC_START_STLS);
	close(s->stls_client_fd);
	s->stls_client_fd = -1;
	close(fd);
	if (!ok) {
		/* Forked but not set up: it must not outlive the session
		 * (the reaper ends the session when it goes). */
		if (s->worker_pid > 0)
			kill(s->worker_pid, SIGKILL);
		return -1;
	}
	log_debug("session=%llu: STLS; continued by postern-pop3s pid %ld",
	    (unsigned long long)s->id, (long)s->worker_pid);
	return 1;
}

/*
 * Read and dispatch what a child sent. With final (the child has exited)
 * read up to EOF and leave ending the session to the caller: its last
 * frames, such as the worker's statistics, arrive together with SIGCHLD
 * and must not be lost to the reaper. Returns false if the session was
 * ended and freed (no process of it was left), true if s is still valid.
 */
static bool
conn_input(struct master *m, struct session *s, struct ipc_conn *c,
    const char *ident, pid_t pid, bool final)
{
	struct ipc_msg msg;
	ssize_t n;
	int r;

	do {
		n = ipc_conn_fill(c);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n <= 0) {
			if (final)
				return true;
			/* The process closed its channel; reaping finishes the job. */
			if (c == &s->worker) {
				s->worker_eof = true;
				return !session_end(m, s);
			}
			ipc_conn_close(c);
			return true;
		}
		while ((r = ipc_conn_next(c, &msg)) == 1) {
			bool ok;

			if (msg.type == IPC_WORKER_STLS && c == &s->worker) {
				int h = worker_stls(m, s, &msg);

				if (h == 1)
					return true;	/* a new channel now */
				ok = h == 0;
				goto checked;
			}
			ok = msg.fd < 0;
			if (msg.fd >= 0)
				close(msg.fd);
			if (ok && msg.type == IPC_LOG)
				ok = relay_log(&msg, ident, pid);
			else if (ok && msg.type == IPC_WORKER_STATS && c == &s->worker)
				ok = worker_stats(s, &msg);
			else if (ok && msg.type == IPC_WORKER_TLS && c == &s->worker)
				ok = worker_tls(s, &msg);
			else if (ok && msg.type == IPC_STORE_READY && c == &s->store)
				ok = store_ready(m, s, &msg);
			else
				ok = false;
checked:
			if (!ok) {
				log_warnx("session=%llu: unexpected %s from %s[%ld]; ending session",
				    (unsigned long long)s->id, ipc_type_name(msg.type),
				    ident, (long)pid);
				session_set_cause(s, "unexpected %s from %s",
				    ipc_type_name(msg.type), ident);
				return final || !session_end(m, s);
			}
		}
		if (r < 0) {
			log_warnx("session=%llu: bad frame from %s[%ld]; ending session",
			    (unsigned long long)s->id, ident, (long)pid);
			session_set_cause(s, "bad frame from %s", ident);
			return final || !session_end(m, s);
		}
	} while (final);
	return true;
}

void
session_worker_input(struct master *m, struct session *s)
{
	(void)conn_input(m, s, &s->worker, s->worker_prog, s->worker_pid, false);
}

bool
session_worker_drain(struct master *m, struct session *s)
{
	return conn_input(m, s, &s->worker, s->worker_prog, s->worker_pid, false);
}

void
session_store_input(struct master *m, struct session *s)
{
	(void)conn_input(m, s, &s->store, "postern-store", s->store_pid, false);
}

static void
describe_exit(struct session *s, const char *role, pid_t pid, int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		if (sig == SIGSYS)
			log_err("session=%llu rhost=%s: %s[%ld] killed by the sandbox (SIGSYS): a forbidden system call",
			    (unsigned long long)s->id, s->rhost, role, (long)pid);
		else if (sig != SIGKILL && sig != SIGTERM)
			log_err("session=%llu rhost=%s: %s[%ld] died with signal %d",
			    (unsigned long long)s->id, s->rhost, role, (long)pid, sig);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		log_warnx("session=%llu rhost=%s: %s[%ld] exited with status %d",
		    (unsigned long long)s->id, s->rhost, role, (long)pid,
		    WEXITSTATUS(status));
	}
}

/* A worker that ended without its report: why, from how it ended
 * (unless the master had a reason to end it first). */
static void
worker_exit_cause(struct session *s, int status)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		session_set_cause(s, "killed by the sandbox (SIGSYS)");
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    s->worker_eof)
		session_set_cause(s, "worker closed its channel");
	else if (WIFSIGNALED(status))
		session_set_cause(s, "worker killed by signal %d",
		    WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		session_set_cause(s, "worker failed (exit status %d)",
		    WEXITSTATUS(status));
	else
		session_set_cause(s, "worker exited without its report");
}

void
session_reaped(struct master *m, pid_t pid, int status)
{
	for (struct session *s = m->sessions; s != NULL; s = s->next) {
		if (s->worker_pid == pid) {
			const char *prog = s->worker_prog;

			/* Reaped: this pid must never be signalled again. */
			s->worker_pid = 0;
			/* Its last words (statistics, logs) before forgetting it. */
			if (s->worker.fd >= 0)
				(void)conn_input(m, s, &s->worker, prog, pid, true);
			describe_exit(s, prog, pid, status);
			/* Its last words handed the session over at STLS. */
			if (s->worker_pid > 0)
				return;
			if (!s->end_logged)
				worker_exit_cause(s, status);
			session_end(m, s);
			return;
		}
		if (s->retired_pid == pid) {
			describe_exit(s, "postern-pop3", pid, status);
			s->retired_pid = 0;
			return;
		}
		if (s->store_pid == pid) {
			describe_exit(s, "postern-store", pid, status);
			s->store_pid = 0;
			/* Read its last log lines before forgetting it. A bad
			 * frame among them ends the session, which frees it
			 * when the worker is gone too: then s is gone. */
			if (s->store.fd >= 0 && !conn_input(m, s, &s->store,
			    "postern-store", pid, false))
				return;
			if (s->phase == SESSION_CLOSING)
				session_end(m, s);
			return;
		}
	}
}

void
session_check_deadlines(struct master *m)
{
	uint64_t now = now_ms();

	/* The worker enforces preauth_timeout itself; this is the backstop
	 * for a worker that does not (compromised, or stuck writing to a
	 * client that never reads). An attempt started just before the
	 * deadline may still take PAM's timeout, the uniform delay and the
	 * throttling penalty. */
	uint64_t limit = (uint64_t)m->cfg.preauth_timeout * 1000 +
	    AUTH_PAM_TIMEOUT_S * 1000 + (uint64_t)m->cfg.auth_fail_delay +
	    (uint64_t)m->cfg.auth_throttle_max + 10000;

	for (struct session *s = m->sessions; s != NULL; s = s->next) {
		if (s->phase == SESSION_PREAUTH && s->worker_pid > 0 &&
		    !s->deadline_killed && now - s->started_ms > limit) {
			s->deadline_killed = true;
			log_warnx("session=%llu rhost=%s: pre-authentication deadline passed; killing worker",
			    (unsigned long long)s->id, s->rhost);
			session_set_cause(s, "pre-authentication deadline passed");
			kill(s->worker_pid, SIGKILL);
		}
	}
}

/* The master exits: the sessions still open lose their connection now
 * (storage is left to finish), and each still gets its line. */
void
sessions_abandon(struct master *m)
{
	for (struct session *s = m->sessions; s != NULL; s = s->next) {
		if (s->worker_pid > 0)
			kill(s->worker_pid, SIGKILL);
		if (!s->end_logged) {
			session_set_cause(s, "server stopped");
			session_log_end(s, 0, 0, 0, s->end_cause);
		}
	}
}
