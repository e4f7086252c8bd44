/*
 * master_auth.c - the master's side of the auth helper: start and
 * restart it, and act on its verdicts. Identity comes only from the
 * helper; on a grant the master starts storage as that user and hands
 * the worker its end of the storage channel.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc_msgs.h"
#include "log.h"
#include "master.h"
#include "util.h"

void
auth_start(struct master *m)
{
	char path[4096];
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair for the auth helper");
		return;
	}
	snprintf(path, sizeof(path), "%s/postern-auth", m->cfg.libexec_dir);
	{
		const struct spawn_fd fds[] = { { sp[1], FD_MASTER } };

		m->auth_pid = spawn_child(path, "postern-auth", fds, 1, NULL);
	}
	close(sp[1]);
	if (m->auth_pid == -1) {
		log_warn("fork for %s", path);
		close(sp[0]);
		m->auth_pid = 0;
		return;
	}
	ipc_conn_init(&m->auth, sp[0]);
	if (!master_send_config(m, sp[0]))
		log_warnx("could not configure the auth helper");
	(void)set_nonblock(sp[0], true);
	log_info("auth helper started, pid %ld", (long)m->auth_pid);
}

static bool auth_unqueue_attach(struct master *, uint64_t);

void
auth_detach(struct master *m, uint64_t id)
{
	struct ipc_buf b;

	if (m->auth.fd < 0 || auth_unqueue_attach(m, id))
		return;
	ipc_begin(&b, IPC_AUTH_DETACH);
	ipc_put_u64(&b, id);
	auth_send(m, &b, 0);
}

static void
auth_out_free(struct ipc_buf *b)
{
	if (b->fd >= 0)
		close(b->fd);
	ipc_buf_free(b);
}

/*
 * A burst of connections (hundreds at once) can fill the channel while the
 * helper is busy forking PAM children; a session's ATTACH must then wait,
 * not be lost (its worker would see the helper gone) and not block the
 * master. Frames are small, so the socket takes each whole or not at all.
 * The queue is bounded by the sessions themselves: one ATTACH and one
 * DETACH each.
 */
void
auth_send(struct master *m, struct ipc_buf *b, uint64_t session)
{
	struct auth_out *o;

	if (m->auth.fd < 0) {
		auth_out_free(b);
		return;
	}
	if (m->auth_out == NULL) {
		if (ipc_send_nb(m->auth.fd, b) == 0) {
			auth_out_free(b);
			return;
		}
		if (errno != EAGAIN) {
			log_warn("sending to the auth helper");
			auth_out_free(b);
			return;
		}
	}
	if (m->auth_out_len >= MASTER_AUTH_QUEUE_MAX) {
		/* Not reading for this long is not busy but stuck. */
		log_err("auth helper not reading its channel (%zu frames "
		    "waiting); restarting it", m->auth_out_len);
		auth_out_free(b);
		if (m->auth_pid > 0)
			kill(m->auth_pid, SIGKILL);
		auth_channel_close(m);
		return;
	}
	o = xcalloc(1, sizeof(*o));
	o->b = *b;
	o->session = session;
	if (m->auth_out == NULL) {
		log_debug("auth helper channel full: queueing");
		m->auth_out_tail = &m->auth_out;
	}
	*m->auth_out_tail = o;
	m->auth_out_tail = &o->next;
	m->auth_out_len++;
}

/* Still queued: forget session's ATTACH (closing the helper's end of its
 * channel) and report true, so that no DETACH needs to follow it. */
static bool
auth_unqueue_attach(struct master *m, uint64_t session)
{
	for (struct auth_out **pp = &m->auth_out; *pp != NULL;
	    pp = &(*pp)->next) {
		struct auth_out *o = *pp;

		if (o->session != session)
			continue;
		*pp = o->next;
		if (m->auth_out_tail == &o->next)
			m->auth_out_tail = pp;
		m->auth_out_len--;
		auth_out_free(&o->b);
		free(o);
		return true;
	}
	return false;
}

void
auth_flush(struct master *m)
{
	while (m->auth_out != NULL) {
		struct auth_out *o = m->auth_out;

		if (ipc_send_nb(m->auth.fd, &o->b) == -1) {
			if (errno == EAGAIN)
				return;
			log_warn("sending to the auth helper");
			auth_channel_close(m);
			return;
		}
		m->auth_out = o->next;
		m->auth_out_len--;
		auth_out_free(&o->b);
		free(o);
		if (m->auth_out == NULL) {
			m->auth_out_tail = &m->auth_out;
			log_debug("auth helper channel: queue sent");
		}
	}
}

void
auth_channel_close(struct master *m)
{
	while (m->auth_out != NULL) {
		struct auth_out *o = m->auth_out;

		m->auth_out = o->next;
		auth_out_free(&o->b);
		free(o);
	}
	m->auth_out_tail = &m->auth_out;
	m->auth_out_len = 0;
	ipc_conn_close(&m->auth);
}

static void
tell_worker(struct session *s, enum ipc_status st, const char *text, int fd)
{
	struct ipc_buf b;

	ipc_begin(&b, IPC_WORKER_SESSION);
	ipc_put_u8(&b, (uint8_t)st);
	ipc_put_str(&b, text);
	if (fd >= 0)
		ipc_put_fd(&b, fd);
	if (ipc_send_nb(s->worker.fd, &b) == -1)
		log_warn("session=%llu: to worker", (unsigned long long)s->id);
	ipc_buf_free(&b);
}

/*
 * The per-user index directory: created by root (its parent is root's),
 * owned by the user, mode 0700. Returns "" if it cannot be made safe;
 * storage then works without an index.
 */
static char *
prepare_index_dir(const char *dir, uid_t uid, gid_t gid)
{
	char *parent = xstrdup(dir), *p;
	struct stat st;
	int fd;

	p = dirname(parent);
	/* The parent is created root-owned; a user must not control it. */
	for (char *q = p + 1; ; q++) {
		if (*q == '/' || *q == '\0') {
			char c = *q;

			*q = '\0';
			if (mkdir(p, 0755) == -1 && errno != EEXIST)
				break;
			*q = c;
			if (c == '\0')
				break;
		}
	}
	if (lstat(p, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		log_warnx("index_dir parent %s must be a root-owned directory not writable by others; running without an index", p);
		free(parent);
		return xstrdup("");
	}
	free(parent);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return xstrdup("");
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		log_warn("open %s", dir);
		if (fd != -1)
			close(fd);
		return xstrdup("");
	}
	if (st.st_uid != uid && (st.st_uid != 0 || fchown(fd, uid, gid) == -1)) {
		log_warnx("%s belongs to uid %u, not %u; running without an index",
		    dir, (unsigned)st.st_uid, (unsigned)uid);
		close(fd);
		return xstrdup("");
	}
	(void)fchmod(fd, 0700);
	close(fd);
	return xstrdup(dir);
}

/*
 * Debian's /var/mail is root:mail 2775: dot-locks need group mail.
 * Grant it only when the mailbox directory is group-writable by "mail".
 */
static size_t
mail_group(const char *mailbox, gid_t *out)
{
	char *copy = xstrdup(mailbox);
	struct group *gr = getgrnam("mail");
	struct stat st;
	size_t n = 0;

	if (gr != NULL && stat(dirname(copy), &st) == 0 &&
	    st.st_gid == gr->gr_gid && (st.st_mode & S_IWGRP) != 0) {
		out[0] = gr->gr_gid;
		n = 1;
	}
	free(copy);
	return n;
}

/* Start storage and hand the worker its channel; false if the session
 * could not have its mailbox (the worker has been told why). */
static bool
start_storage(struct master *m, struct session *s, const char *home, gid_t gid)
{
	char *mailbox, *index_tmpl, *index, path[4096];
	int sw[2], ms[2];
	gid_t groups[1];
	struct spawn_ids ids;
	struct ipc_buf b;

	mailbox = config_expand(m->cfg.mailbox, s->user, home);
	index_tmpl = config_expand(m->cfg.index_dir, s->user, home);
	if (mailbox == NULL || index_tmpl == NULL) {
		log_warnx("session=%llu: mailbox or index_dir template does not expand to an absolute path for user %s",
		    (unsigned long long)s->id, s->user);
		free(mailbox);
		free(index_tmpl);
		tell_worker(s, IPC_ST_SYS_TEMP, "Mailbox location is misconfigured.", -1);
		return false;
	}
	index = prepare_index_dir(index_tmpl, s->uid, gid);
	free(index_tmpl);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sw) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ms) == -1) {
		log_warn("socketpair");
		free(mailbox);
		free(index);
		tell_worker(s, IPC_ST_SYS_TEMP, "Server busy.", -1);
		return false;
	}
	{
		/* Room for RETR_AHEAD_DEPTH one-frame read-ahead answers
		 * (with the kernel's per-buffer overhead, and the kernel
		 * doubles the figure), so that storage answers a batch of
		 * requests without waiting for the worker to read the first
		 * ones. The kernel caps it at twice net.core.wmem_max (416
		 * KiB by default): the administrator's limit holds, and it
		 * needs no privilege. Only what the worker asked for is ever
		 * queued. */
		int sndbuf = RETR_AHEAD_DEPTH * (STORE_DATA_CHUNK + 32 * 1024) / 2;

		(void)setsockopt(sw[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
		    sizeof(sndbuf));
	}
	ids.uid = s->uid;
	ids.gid = gid;
	ids.groups = groups;
	ids.ngroups = mail_group(mailbox, groups);
	snprintf(path, sizeof(path), "%s/postern-store", m->cfg.libexec_dir);
	{
		const struct spawn_fd fds[] = { { ms[1], FD_MASTER }, { sw[0], FD_WORKER } };

		s->store_pid = spawn_child(path, "postern-store", fds, 2, &ids);
	}
	close(ms[1]);
	close(sw[0]);
	if (s->store_pid == -1) {
		log_warn("fork for %s", path);
		s->store_pid = 0;
		close(ms[0]);
		close(sw[1]);
		free(mailbox);
		free(index);
		tell_worker(s, IPC_ST_SYS_TEMP, "Server busy.", -1);
		return false;
	}
	log_debug("session=%llu: storage pid %ld", (unsigned long long)s->id,
	    (long)s->store_pid);
	ipc_conn_init(&s->store, ms[0]);
	(void)master_send_config(m, ms[0]);
	ipc_begin(&b, IPC_STORE_INIT);
	ipc_put_u64(&b, s->id);
	ipc_put_str(&b, s->user);
	ipc_put_u32(&b, (uint32_t)s->uid);
	ipc_put_str(&b, mailbox);
	ipc_put_str(&b, index);
	(void)ipc_send_nb(ms[0], &b);
	ipc_buf_free(&b);
	(void)set_nonblock(ms[0], true);
	free(mailbox);
	free(index);
	tell_worker(s, IPC_ST_OK, "", sw[1]);
	close(sw[1]);
	return true;
}

/*
 * RFC 2449 LOGIN-DELAY: refuse a login that comes too soon after this
 * user's last one, before any storage is started. Decided here, on the
 * uid the auth helper granted, after the password was right: the answer
 * reveals nothing to a client that does not know it.
 */
static bool
login_delayed(struct master *m, struct session *s)
{
	uint64_t left;
	char text[96], user[160];

	if (m->cfg.login_delay == 0)
		return false;
	left = login_delay_left(&m->login_delay, (uint32_t)s->uid, now_ms(),
	    (uint64_t)m->cfg.login_delay * 1000);
	if (left == 0)
		return false;
	escape_for_log(s->user, strlen(s->user), user, sizeof(user));
	log_notice("login delayed: rhost=%s user=\"%s\" session=%llu: %llu s left of login_delay %u",
	    s->rhost, user, (unsigned long long)s->id,
	    (unsigned long long)(left + 999) / 1000, m->cfg.login_delay);
	snprintf(text, sizeof(text), "Logged in less than %u seconds ago; "
	    "try again in %llu seconds.", m->cfg.login_delay,
	    (unsigned long long)(left + 999) / 1000);
	tell_worker(s, IPC_ST_LOGIN_DELAY, text, -1);
	return true;
}

static bool
handle_granted(struct master *m, struct ipc_msg *msg)
{
	struct ipc_auth_granted g;
	struct session *s;
	char *home;

	/* The decoder refuses uid 0 and gid 0. */
	if (!ipc_dec_auth_granted(msg, &g))
		return false;
	free(g.mech);
	home = g.home;
	s = session_by_id(m, g.session);
	if (s == NULL || s->phase != SESSION_PREAUTH || s->worker_pid <= 0) {
		free(g.user);
		free(home);
		return true;	/* the session went away meanwhile */
	}
	/* What the worker sent before its request (its TLS report) is
	 * older than this verdict: take it first, while still PREAUTH. */
	if (!session_worker_drain(m, s) || s->phase != SESSION_PREAUTH ||
	    s->worker.fd < 0) {
		/* The drain ended the session (its worker is being reaped):
		 * no storage for it. */
		free(g.user);
		free(home);
		return true;
	}
	s->phase = SESSION_STORAGE;
	s->user = g.user;
	s->uid = (uid_t)g.uid;
	/*
	 * One session per user at a time (RFC 1939 exclusive access). The
	 * answer is [IN-USE] (RFC 2449), not [SYS/TEMP], on purpose: the
	 * password was right, and [IN-USE] makes clients report a busy
	 * mailbox instead of asking for the password again. It reveals
	 * nothing to whoever does not know the password: only a granted
	 * login gets this far. Logged like the connection limits, at most
	 * once per interval.
	 */
	for (struct session *o = m->sessions; o != NULL; o = o->next) {
		if (o != s && o->phase == SESSION_STORAGE && o->uid == s->uid &&
		    o->store_pid > 0) {
			char user[200];

			if (limit_log_due(m, LIMIT_SESSIONS_PER_USER)) {
				escape_for_log(s->user, strlen(s->user), user,
				    sizeof(user));
				log_warnx("limit sessions_per_user reached; refusing logins with [IN-USE] (first: rhost=%s user=\"%s\" session=%llu, open: session=%llu); logged at most every 10 s",
				    s->rhost, user, (unsigned long long)s->id,
				    (unsigned long long)o->id);
			}
			tell_worker(s, IPC_ST_IN_USE,
			    "Mailbox is in use by another session.", -1);
			free(home);
			return true;
		}
	}
	if (login_delayed(m, s)) {
		free(home);
		return true;
	}
	/* login_delay counts from storage's STORE_READY (the mailbox is
	 * open), not from here: a login whose mailbox was busy or broken
	 * did not happen. */
	(void)start_storage(m, s, home, (gid_t)g.gid);
	free(home);
	return true;
}

void
auth_input(struct master *m)
{
	struct ipc_msg msg;
	ssize_t n;
	int r;

	n = ipc_conn_fill(&m->auth);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_warnx("auth helper channel closed");
		auth_channel_close(m);
		return;
	}
	while ((r = ipc_conn_next(&m->auth, &msg)) == 1) {
		bool ok = msg.fd < 0;
		uint64_t id;
		char *why = NULL;

		if (msg.fd >= 0)
			close(msg.fd);
		if (ok && msg.type == IPC_LOG) {
			uint8_t prio;
			char *text = NULL;

			ok = ipc_dec_log_str(&msg, &prio, &text);
			if (ok)
				log_relay(prio, "postern-auth", (long)m->auth_pid, text);
			free(text);
		} else if (ok && msg.type == IPC_AUTH_GRANTED) {
			ok = handle_granted(m, &msg);
		} else if (ok && msg.type == IPC_AUTH_KILL) {
			struct session *s;

			ok = ipc_dec_auth_kill(&msg, &id, &why);
			if (ok && (s = session_by_id(m, id)) != NULL) {
				char text[48];

				escape_for_log(why, strlen(why), text, sizeof(text));
				log_warnx("session=%llu rhost=%s: ended at the auth helper's request",
				    (unsigned long long)id, s->rhost);
				session_set_cause(s, "ended by the auth helper: %s",
				    text);
				session_end(m, s);
			}
			free(why);
		} else {
			ok = false;
		}
		if (!ok) {
			log_err("auth helper sent a bad %s; restarting it",
			    ipc_type_name(msg.type));
			kill(m->auth_pid, SIGKILL);
			auth_channel_close(m);
			return;
		}
	}
	if (r < 0) {
		log_err("bad frame from the auth helper; restarting it");
		kill(m->auth_pid, SIGKILL);
		auth_channel_close(m);
	}
}
