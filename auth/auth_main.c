/*
 * auth_main.c - postern-auth, the only process that sees passwords.
 * Long-lived, started by the master. Each worker gets an auth channel
 * (passed by the master with the session id and the client address the
 * master observed). Each attempt runs PAM in a child; failures are
 * answered on a fixed deadline (and no earlier than a real password
 * check would take: unknown users look like wrong passwords); repeated
 * failures from one address add a growing penalty (auth_throttle.c);
 * success is reported to the master with the identity, and only "ok" to
 * the worker. Passwords are wiped on every path: request buffers right
 * after parsing, the copies handed to the PAM child, the child's own.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_pam.h"
#include "auth_throttle.h"
#include "conf.h"
#include "ipc.h"
#include "ipc_msgs.h"
#include "log.h"
#include "sandbox.h"
#include "util.h"

enum auth_phase {
	AS_IDLE,	/* waiting for a request */
	AS_PAM,		/* a PAM child is working */
	AS_DELAY,	/* the answer waits for its deadline (failure
			 * delay and/or throttling penalty) */
	AS_GRANTED,	/* authenticated: nothing more is accepted */
};

struct auth_session {
	uint64_t id;
	char rhost[64];
	struct ipc_conn conn;
	enum auth_phase phase;
	unsigned attempts;
	pid_t child;
	int child_fd;
	struct auth_pam_result res;
	size_t res_got;
	uint64_t started, reply_at;
	uint8_t reply;			/* enum ipc_auth_result */
	unsigned penalty;		/* throttling of this attempt, ms */
	uint32_t pad;			/* hold an early failure this long */
	uint64_t pair;			/* keyed hash of (user, password) */
	uint8_t mech, tls;
	char user_log[AUTH_MAX_USER * 4 + 8];	/* escaped, for logs */
	struct auth_session *next;
};

static struct config cfg;
static struct ipc_conn master;
static struct auth_session *sessions;
static struct throttle throttle;
/*
 * How long recent real password checks took (ms). A failure that PAM
 * decided without checking a password (unknown user, implausible name)
 * is held for one of these durations, drawn at random, so that its
 * timing follows the same distribution as a wrong password's even when
 * PAM is slower than auth_fail_delay.
 */
#define VERIFY_SAMPLES	16
static uint32_t verify_ms[VERIFY_SAMPLES];
static unsigned nverify, verify_next;
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	stop = 1;
}

static void
session_free(struct auth_session *as)
{
	struct auth_session **pp;

	for (pp = &sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == as) {
			*pp = as->next;
			break;
		}
	}
	if (as->child > 0) {
		kill(as->child, SIGKILL);
		(void)waitpid(as->child, NULL, 0);
	}
	if (as->child_fd >= 0)
		close(as->child_fd);
	ipc_conn_close(&as->conn);
	wipe(&as->res, sizeof(as->res));
	free(as);
}

/* A worker broke the protocol: tell the master to end it, forget it. */
static void
session_kill(struct auth_session *as, const char *why)
{
	struct ipc_buf b;

	log_warnx("session=%llu rhost=%s: worker violated the auth protocol: %s",
	    (unsigned long long)as->id, as->rhost, why);
	ipc_begin(&b, IPC_AUTH_KILL);
	ipc_put_u64(&b, as->id);
	ipc_put_str(&b, why);
	if (ipc_send(FD_MASTER, &b) == -1)
		fatal("send to master");
	ipc_buf_free(&b);
	session_free(as);
}

static void
reply(struct auth_session *as, uint8_t result)
{
	struct ipc_buf b;

	ipc_begin(&b, IPC_AUTH_RESULT);
	ipc_put_u8(&b, result);
	/* A full buffer means the worker is not reading: it is broken. */
	if (ipc_send_nb(as->conn.fd, &b) == -1)
		log_warn("session=%llu: reply to worker", (unsigned long long)as->id);
	ipc_buf_free(&b);
}

/*
 * Rule 10: only plausible account names reach PAM. The answer to an
 * implausible one is the same failure, on the same deadline.
 */
static bool
user_plausible(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > AUTH_MAX_USER || !utf8_valid(u, n))
		return false;
	if (strstr(u, "..") != NULL || u[0] == '-')
		return false;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p < 0x21 || *p == 0x7f || *p == '/' || *p == '\\' ||
		    *p == ':')
			return false;
	return true;
}

static void
log_outcome(struct auth_session *as, bool ok, const char *reason)
{
	char why[192];

	escape_for_log(reason, strlen(reason), why, sizeof(why));
	/* Stable format, documented in postern(8); rhost comes first and is
	 * the master's observation, so client data cannot spoof it. */
	if (ok)
		log_notice("login ok: rhost=%s user=\"%s\" mech=%s tls=%s session=%llu",
		    as->rhost, as->user_log, ipc_mech_name(as->mech),
		    as->tls ? "yes" : "no", (unsigned long long)as->id);
	else
		log_notice("login failed: rhost=%s user=\"%s\" mech=%s tls=%s session=%llu reason=\"%s\"",
		    as->rhost, as->user_log, ipc_mech_name(as->mech),
		    as->tls ? "yes" : "no", (unsigned long long)as->id, why);
}

/*
 * Schedule a failure answer on the uniform deadline: the same for every
 * kind of failure, counted from the request's arrival, plus this
 * address's throttling penalty (fixed when the request arrived).
 */
static void
fail_later(struct auth_session *as, uint8_t result, const char *reason)
{
	log_outcome(as, false, reason);
	if (result == IPC_AUTH_FAIL) {
		unsigned n = throttle_failure(&throttle, as->rhost, as->pair,
		    now_ms());
		unsigned next = throttle_penalty_for(n, cfg.auth_throttle_max);

		if (next > 0 && next != as->penalty)
			log_notice("throttling: rhost=%s failures=%u: further attempts from this address wait %u ms more (auth_throttle_max %u)",
			    as->rhost, n, next, cfg.auth_throttle_max);
	}
	as->pair = 0;
	as->phase = AS_DELAY;
	as->reply = result;
	if (result == IPC_AUTH_FAIL && as->attempts >= cfg.auth_max_attempts)
		as->reply = IPC_AUTH_TOO_MANY;
	as->reply_at = as->started + cfg.auth_fail_delay + as->penalty;
	if (as->started + as->pad + as->penalty > as->reply_at)
		as->reply_at = as->started + as->pad + as->penalty;
	as->pad = 0;
}

/* Remember how long a real password check took; or pick such a time
 * for a failure that had none. */
static void
verify_timing(struct auth_session *as)
{
	uint32_t took = (uint32_t)(now_ms() - as->started);

	as->pad = 0;
	if (as->res.verified) {
		verify_ms[verify_next] = took;
		verify_next = (verify_next + 1) % VERIFY_SAMPLES;
		if (nverify < VERIFY_SAMPLES)
			nverify++;
	} else if (nverify > 0) {
		uint32_t r = 0;

		(void)getrandom(&r, sizeof(r), 0);
		as->pad = verify_ms[r % nverify];
	}
}

static void
handle_request(struct auth_session *as, struct ipc_msg *m)
{
	struct ipc_auth_request rq;
	char *authzid, *user, *pass;
	bool ok;

	memset(&rq, 0, sizeof(rq));
	ok = m->fd < 0 && m->type == IPC_AUTH_REQUEST &&
	    ipc_dec_auth_request(m, &rq);
	wipe((void *)(uintptr_t)m->data, m->len);
	if (m->fd >= 0)
		close(m->fd);
	if (!ok || as->phase != AS_IDLE) {
		ipc_auth_request_free(&rq);
		session_kill(as, !ok ? "malformed request" : "request out of phase");
		return;
	}
	if (as->attempts >= cfg.auth_max_attempts) {
		ipc_auth_request_free(&rq);
		session_kill(as, "request after the last allowed attempt");
		return;
	}
	authzid = rq.authzid;
	user = rq.user;
	pass = rq.pass;
	as->attempts++;
	as->mech = rq.mech;
	as->tls = rq.tls;
	as->started = now_ms();
	as->penalty = throttle_penalty(&throttle, as->rhost, as->started);
	as->pair = throttle_pair_hash(&throttle, user, pass);
	escape_for_log(user, strlen(user), as->user_log, sizeof(as->user_log));
	if (authzid[0] != '\0' && strcmp(authzid, user) != 0) {
		fail_later(as, IPC_AUTH_FAIL, "authorization identity differs");
	} else {
		/* An implausible name never reaches PAM but is answered
		 * like an unknown user. Before the first real check there
		 * is no duration to hold early failures for: the child then
		 * does the hashing work itself. */
		as->child = auth_pam_spawn(cfg.pam_service, user, pass,
		    as->rhost, !user_plausible(user), nverify == 0,
		    &as->child_fd);
		if (as->child == -1) {
			log_warn("fork for PAM");
			fail_later(as, IPC_AUTH_TEMPFAIL, "fork failed");
		} else {
			as->phase = AS_PAM;
			as->res_got = 0;
		}
	}
	ipc_auth_request_free(&rq);
}

static void
grant(struct auth_session *as)
{
	struct ipc_buf b;

	ipc_begin(&b, IPC_AUTH_GRANTED);
	ipc_put_u64(&b, as->id);
	ipc_put_str(&b, as->res.user);
	ipc_put_u32(&b, as->res.uid);
	ipc_put_u32(&b, as->res.gid);
	ipc_put_str(&b, as->res.home);
	ipc_put_str(&b, ipc_mech_name(as->mech));
	ipc_put_u8(&b, as->tls);
	if (ipc_send(FD_MASTER, &b) == -1)
		fatal("send to master");
	ipc_buf_free(&b);
	as->phase = AS_GRANTED;
	reply(as, IPC_AUTH_OK);
}

/*
 * A verdict that took longer than the uniform delay is answered late, and
 * its timing may then differ between kinds of failure: tell the admin,
 * at most once a minute.
 */
static void
slow_pam_warning(struct auth_session *as)
{
	static uint64_t last;
	uint64_t now = now_ms(), took = now - as->started;

	if (took <= cfg.auth_fail_delay || (last != 0 && now - last < 60000))
		return;
	last = now;
	log_warnx("PAM took %llu ms, longer than auth_fail_delay (%u ms): failures may be told apart by timing; raise auth_fail_delay",
	    (unsigned long long)took, cfg.auth_fail_delay);
}

/* The PAM child wrote (part of) its result or exited. */
static void
handle_child(struct auth_session *as)
{
	ssize_t n = read(as->child_fd, (char *)&as->res + as->res_got,
	    sizeof(as->res) - as->res_got);

	if (n > 0) {
		as->res_got += (size_t)n;
		if (as->res_got < sizeof(as->res))
			return;
	} else if (n < 0 && errno == EINTR) {
		return;
	}
	close(as->child_fd);
	as->child_fd = -1;
	(void)waitpid(as->child, NULL, 0);
	as->child = 0;
	if (as->res_got != sizeof(as->res) || as->res.magic != AUTH_PAM_MAGIC) {
		fail_later(as, IPC_AUTH_TEMPFAIL, "PAM child died");
		return;
	}
	as->res.user[sizeof(as->res.user) - 1] = '\0';
	as->res.home[sizeof(as->res.home) - 1] = '\0';
	as->res.reason[sizeof(as->res.reason) - 1] = '\0';
	slow_pam_warning(as);
	verify_timing(as);
	if (as->res.status == IPC_AUTH_OK) {
		log_outcome(as, true, "");
		as->pair = 0;
		if (as->penalty > 0 && now_ms() < as->started + as->penalty) {
			/* A throttled address learns nothing early: even a
			 * right guess waits out the penalty. */
			as->phase = AS_DELAY;
			as->reply = IPC_AUTH_OK;
			as->reply_at = as->started + as->penalty;
			return;
		}
		grant(as);
	} else {
		fail_later(as, as->res.status == IPC_AUTH_TEMPFAIL ?
		    IPC_AUTH_TEMPFAIL : IPC_AUTH_FAIL, as->res.reason);
	}
	wipe(&as->res, sizeof(as->res));
}

/* Act on every complete frame from the master already buffered. */
static void
master_frames(void)
{
	struct ipc_msg m;
	int r;

	while ((r = ipc_conn_next(&master, &m)) == 1) {
		struct auth_session *as;
		uint64_t id;
		char *rhost = NULL;

		switch (m.type) {
		case IPC_AUTH_ATTACH:
			if (!ipc_dec_auth_attach(&m, &id, &rhost) || m.fd < 0)
				fatalx("bad AUTH_ATTACH from the master");
			as = xcalloc(1, sizeof(*as));
			as->id = id;
			snprintf(as->rhost, sizeof(as->rhost), "%s", rhost);
			free(rhost);
			ipc_conn_init(&as->conn, m.fd);
			(void)set_nonblock(m.fd, true);
			as->child_fd = -1;
			as->next = sessions;
			sessions = as;
			break;
		case IPC_AUTH_DETACH:
			if (!ipc_dec_u64(&m, &id))
				fatalx("bad AUTH_DETACH from the master");
			for (as = sessions; as != NULL; as = as->next)
				if (as->id == id)
					break;
			if (as != NULL)
				session_free(as);
			break;
		default:
			fatalx("unexpected %s from the master", ipc_type_name(m.type));
		}
	}
	if (r < 0)
		fatalx("bad frame from the master");
}

static void
handle_master(void)
{
	if (ipc_conn_fill(&master) <= 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		stop = 1;	/* the master is gone */
		return;
	}
	master_frames();
}

static void
handle_worker(struct auth_session *as)
{
	struct ipc_msg m;
	ssize_t n;
	int r;

	n = ipc_conn_fill(&as->conn);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		session_free(as);	/* worker gone */
		return;
	}
	while ((r = ipc_conn_next(&as->conn, &m)) == 1) {
		uint64_t id = as->id;
		struct auth_session *p;

		handle_request(as, &m);
		/* handle_request may have freed as on a violation: look the
		 * session up again by id (never compare a freed pointer). */
		for (p = sessions; p != NULL && p->id != id; p = p->next)
			;
		if (p == NULL)
			return;
		as = p;
	}
	if (r < 0)
		session_kill(as, "bad frame");
}

int
main(int argc, char **argv)
{
	struct ipc_msg m;
	char *text = NULL, err[256];

	const char *why;

	if (fcntl(FD_MASTER, F_GETFD) == -1)
		return 2;
	log_init("postern-auth", LOG_TARGET_IPC, FD_MASTER);
	/* It holds passwords: no core dumps, not dumpable (so not
	 * ptrace-able or readable through /proc by anyone but root). */
	if (sandbox_enter(SANDBOX_AUTH, NULL, &why) == -1)
		fatal("sandbox: %s", why);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGHUP, SIG_IGN);
	ipc_conn_init(&master, FD_MASTER);
	if (ipc_conn_recv(&master, &m, IPC_REPLY_TIMEOUT_MS) != 1 ||
	    m.type != IPC_CONFIG || !ipc_dec_config(&m, &text))
		fatalx("no configuration from the master");
	config_defaults(&cfg);
	if (!config_parse(&cfg, text, strlen(text), "(master)", err, sizeof(err)))
		fatalx("configuration from the master: %s", err);
	free(text);
	{
		uint8_t key[16];

		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
			fatal("getrandom");
		throttle_init(&throttle, AUTH_THROTTLE_SLOTS,
		    cfg.auth_throttle_max, key);
		wipe(key, sizeof(key));
	}
	/* The master may have attached a session right behind the
	 * configuration (a connection waiting at start-up, as with socket
	 * activation): its frame can be in the buffer already, and poll()
	 * would not report it. */
	master_frames();
	auth_pam_init_dummy();
	if (!auth_pam_preload(cfg.pam_service))
		log_warnx("PAM service %s: pam_start failed; every attempt "
		    "loads the modules itself", cfg.pam_service);
	if (!auth_pam_have_dummy())
		log_info("no local password hash found: unknown users are answered without equalising work (the uniform delay still applies)");

	while (!stop) {
		struct pollfd *pfd;
		struct auth_session **who;
		size_t n = 1, i = 0;
		uint64_t now = now_ms(), next = UINT64_MAX;
		int timeout;

		for (struct auth_session *as = sessions; as; as = as->next)
			n += 2;
		pfd = xcalloc(n, sizeof(*pfd));
		who = xcalloc(n, sizeof(*who));
		pfd[i].fd = FD_MASTER;
		pfd[i++].events = POLLIN;
		for (struct auth_session *as = sessions; as; as = as->next) {
			/* Always watch the worker: EOF or a request out of
			 * phase must be noticed at once. */
			who[i] = as;
			pfd[i].fd = as->conn.fd;
			pfd[i++].events = POLLIN;
			if (as->phase == AS_PAM) {
				who[i] = as;
				pfd[i].fd = as->child_fd;
				pfd[i++].events = POLLIN;
				if (as->started + AUTH_PAM_TIMEOUT_S * 1000 < next)
					next = as->started + AUTH_PAM_TIMEOUT_S * 1000;
			}
			if (as->phase == AS_DELAY && as->reply_at < next)
				next = as->reply_at;
		}
		timeout = next == UINT64_MAX ? -1 :
		    next <= now ? 0 : (int)(next - now);
		if (poll(pfd, i, timeout) < 0 && errno != EINTR)
			fatal("poll");
		if (pfd[0].revents)
			handle_master();
		for (size_t k = 1; k < i; k++) {
			struct auth_session *as = who[k], *p;

			if (pfd[k].revents == 0)
				continue;
			/* Skip sessions freed earlier in this round. */
			for (p = sessions; p != NULL && p != as; p = p->next)
				;
			if (p == NULL)
				continue;
			if (pfd[k].fd == as->conn.fd)
				handle_worker(as);
			else if (as->phase == AS_PAM && pfd[k].fd == as->child_fd)
				handle_child(as);
		}
		free(pfd);
		free(who);

		now = now_ms();
		for (struct auth_session *as = sessions, *nx; as; as = nx) {
			nx = as->next;
			if (as->phase == AS_PAM &&
			    now >= as->started + AUTH_PAM_TIMEOUT_S * 1000) {
				kill(as->child, SIGKILL);
				(void)waitpid(as->child, NULL, 0);
				as->child = 0;
				close(as->child_fd);
				as->child_fd = -1;
				fail_later(as, IPC_AUTH_TEMPFAIL, "PAM timed out");
			}
			if (as->phase == AS_DELAY && now >= as->reply_at) {
				if (as->reply == IPC_AUTH_OK) {
					grant(as);
					wipe(&as->res, sizeof(as->res));
				} else {
					reply(as, as->reply);
					as->phase = AS_IDLE;
				}
			}
		}
	}
	while (sessions != NULL)
		session_free(sessions);
	throttle_free(&throttle);
	return 0;
}
