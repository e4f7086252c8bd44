/*
 * ipc_msgs.c - the decoders of lib/ipc_msgs.h: each message type's
 * getter sequence written once, used by its receiver and by the fuzzer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "ipc_msgs.h"
#include "util.h"

bool
ipc_dec_log(struct ipc_msg *m, struct ipc_log *out)
{
	return ipc_get_u8(m, &out->prio) &&
	    ipc_get_bytes(m, &out->text, &out->len, IPC_MAX_LOG_TEXT) &&
	    ipc_get_end(m) && out->prio <= LOG_DEBUG;
}

bool
ipc_dec_log_str(struct ipc_msg *m, uint8_t *prio, char **text)
{
	*text = NULL;
	if (ipc_get_u8(m, prio) && ipc_get_str(m, text, IPC_MAX_LOG_TEXT) &&
	    ipc_get_end(m) && *prio <= LOG_DEBUG)
		return true;
	free(*text);
	*text = NULL;
	return false;
}

bool
ipc_dec_config(struct ipc_msg *m, char **text)
{
	*text = NULL;
	if (ipc_get_str(m, text, IPC_MAX_CONFIG_TEXT) && ipc_get_end(m))
		return true;
	free(*text);
	*text = NULL;
	return false;
}

void
ipc_worker_init_free(struct ipc_worker_init *w)
{
	free(w->rhost);
	free(w->laddr);
	w->rhost = w->laddr = NULL;
}

bool
ipc_dec_worker_init(struct ipc_msg *m, struct ipc_worker_init *w)
{
	memset(w, 0, sizeof(*w));
	if (ipc_get_u64(m, &w->session) &&
	    ipc_get_str(m, &w->rhost, IPC_MAX_ADDR) &&
	    ipc_get_u16(m, &w->rport) &&
	    ipc_get_str(m, &w->laddr, IPC_MAX_ADDR) &&
	    ipc_get_u16(m, &w->lport) && ipc_get_u8(m, &w->start) &&
	    w->start <= IPC_START_STLS &&
	    ipc_get_u32(m, &w->preauth_used_ms) &&
	    ipc_get_u32(m, &w->unpriv_uid) && ipc_get_u32(m, &w->unpriv_gid) &&
	    ipc_get_end(m))
		return true;
	ipc_worker_init_free(w);
	return false;
}

bool
ipc_dec_worker_stls(struct ipc_msg *m, uint8_t *part)
{
	return ipc_get_u8(m, part) && *part <= IPC_STLS_AUTH && ipc_get_end(m);
}

/*
 * A protocol or cipher name as OpenSSL spells them ("TLSv1.3",
 * "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256"): printable
 * ASCII without spaces, not empty. Anything else did not come from a
 * handshake.
 */
static bool
tls_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

bool
ipc_dec_worker_tls(struct ipc_msg *m, char **version, char **cipher)
{
	*version = *cipher = NULL;
	if (ipc_get_str(m, version, IPC_MAX_TLS_VERSION) &&
	    ipc_get_str(m, cipher, IPC_MAX_TLS_CIPHER) && ipc_get_end(m) &&
	    tls_name_ok(*version) && tls_name_ok(*cipher))
		return true;
	free(*version);
	free(*cipher);
	*version = *cipher = NULL;
	return false;
}

bool
ipc_dec_status(struct ipc_msg *m, uint8_t *status, char **text)
{
	*text = NULL;
	if (ipc_get_u8(m, status) && ipc_get_str(m, text, IPC_MAX_STATUS_TEXT) &&
	    ipc_get_end(m))
		return true;
	free(*text);
	*text = NULL;
	return false;
}

bool
ipc_dec_worker_stats(struct ipc_msg *m, struct ipc_worker_stats *w)
{
	return ipc_get_u32(m, &w->retrieved) && ipc_get_u32(m, &w->deleted) &&
	    ipc_get_u64(m, &w->octets) &&
	    ipc_get_bytes(m, &w->reason, &w->reason_len, IPC_MAX_STATS_REASON) &&
	    ipc_get_end(m);
}

bool
ipc_dec_auth_attach(struct ipc_msg *m, uint64_t *session, char **rhost)
{
	*rhost = NULL;
	if (ipc_get_u64(m, session) && ipc_get_str(m, rhost, IPC_MAX_ADDR) &&
	    ipc_get_end(m))
		return true;
	free(*rhost);
	*rhost = NULL;
	return false;
}

bool
ipc_dec_u64(struct ipc_msg *m, uint64_t *v)
{
	return ipc_get_u64(m, v) && ipc_get_end(m);
}

void
ipc_auth_granted_free(struct ipc_auth_granted *g)
{
	free(g->user);
	free(g->home);
	free(g->mech);
	g->user = g->home = g->mech = NULL;
}

bool
ipc_dec_auth_granted(struct ipc_msg *m, struct ipc_auth_granted *g)
{
	memset(g, 0, sizeof(*g));
	if (ipc_get_u64(m, &g->session) &&
	    ipc_get_str(m, &g->user, AUTH_MAX_USER) &&
	    ipc_get_u32(m, &g->uid) && ipc_get_u32(m, &g->gid) &&
	    ipc_get_str(m, &g->home, IPC_MAX_HOME) &&
	    ipc_get_str(m, &g->mech, IPC_MAX_MECH) &&
	    ipc_get_u8(m, &g->tls) && ipc_get_end(m) &&
	    g->uid != 0 && g->gid != 0)
		return true;
	ipc_auth_granted_free(g);
	return false;
}

bool
ipc_dec_auth_kill(struct ipc_msg *m, uint64_t *session, char **why)
{
	*why = NULL;
	if (ipc_get_u64(m, session) &&
	    ipc_get_str(m, why, IPC_MAX_KILL_REASON) && ipc_get_end(m))
		return true;
	free(*why);
	*why = NULL;
	return false;
}

void
ipc_auth_request_free(struct ipc_auth_request *r)
{
	free(r->authzid);
	free(r->user);
	free_secret(r->pass);
	r->authzid = r->user = r->pass = NULL;
}

bool
ipc_dec_auth_request(struct ipc_msg *m, struct ipc_auth_request *r)
{
	memset(r, 0, sizeof(*r));
	if (ipc_get_u8(m, &r->mech) && ipc_get_u8(m, &r->tls) &&
	    ipc_get_str(m, &r->authzid, AUTH_MAX_USER * 4) &&
	    ipc_get_str(m, &r->user, AUTH_MAX_USER * 4) &&
	    ipc_get_str(m, &r->pass, AUTH_MAX_PASS) && ipc_get_end(m) &&
	    r->mech >= IPC_MECH_USER && r->mech <= IPC_MECH_LOGIN)
		return true;
	ipc_auth_request_free(r);
	return false;
}

bool
ipc_dec_u8(struct ipc_msg *m, uint8_t *v)
{
	return ipc_get_u8(m, v) && ipc_get_end(m);
}

bool
ipc_dec_empty(struct ipc_msg *m)
{
	return ipc_get_end(m);
}

bool
ipc_dec_u32(struct ipc_msg *m, uint32_t *v)
{
	return ipc_get_u32(m, v) && ipc_get_end(m);
}

bool
ipc_dec_store_retr(struct ipc_msg *m, uint32_t *msgno, uint32_t *lines)
{
	return ipc_get_u32(m, msgno) && ipc_get_u32(m, lines) && ipc_get_end(m);
}

bool
ipc_dec_store_count(struct ipc_msg *m, uint32_t *msgs, uint64_t *octets)
{
	return ipc_get_u32(m, msgs) && ipc_get_u64(m, octets) && ipc_get_end(m);
}

bool
ipc_dec_listing_head(struct ipc_msg *m, uint8_t *more, uint32_t *count)
{
	return ipc_get_u8(m, more) && ipc_get_u32(m, count);
}

bool
ipc_dec_listing_entry(struct ipc_msg *m, bool uidl, struct ipc_listing_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (!ipc_get_u32(m, &e->msgno))
		return false;
	if (!uidl)
		return ipc_get_u64(m, &e->size);
	if (!ipc_get_bytes(m, &e->uidl, &e->uidl_len, IPC_MAX_UIDL) ||
	    e->uidl_len == 0) {
		m->bad = true;
		return false;
	}
	/* The worker prints it on a protocol line: no spaces, no controls. */
	for (size_t k = 0; k < e->uidl_len; k++) {
		if (e->uidl[k] < 0x21 || e->uidl[k] > 0x7e) {
			m->bad = true;
			return false;
		}
	}
	return true;
}

bool
ipc_dec_store_data(struct ipc_msg *m, uint8_t *last, const uint8_t **data,
    size_t *len)
{
	if (!ipc_get_u8(m, last))
		return false;
	*data = m->data + m->pos;
	*len = m->len - m->pos;
	m->pos = m->len;
	return true;
}

void
ipc_store_init_free(struct ipc_store_init *s)
{
	free(s->user);
	free(s->mailbox);
	free(s->index_dir);
	s->user = s->mailbox = s->index_dir = NULL;
}

bool
ipc_dec_store_init(struct ipc_msg *m, struct ipc_store_init *s)
{
	memset(s, 0, sizeof(*s));
	if (ipc_get_u64(m, &s->session) &&
	    ipc_get_str(m, &s->user, IPC_MAX_STORE_USER) &&
	    ipc_get_u32(m, &s->uid) &&
	    ipc_get_str(m, &s->mailbox, IPC_MAX_PATH) &&
	    ipc_get_str(m, &s->index_dir, IPC_MAX_PATH) && ipc_get_end(m))
		return true;
	ipc_store_init_free(s);
	return false;
}

/* Listings: the worker's loop, without the client output. */
static bool
check_listing(struct ipc_msg *m, bool uidl)
{
	struct ipc_listing_entry e;
	uint8_t more;
	uint32_t count;

	if (!ipc_dec_listing_head(m, &more, &count))
		return false;
	for (uint32_t i = 0; i < count; i++)
		if (!ipc_dec_listing_entry(m, uidl, &e))
			return false;
	return ipc_get_end(m);
}

int
ipc_msgs_check(struct ipc_msg *m, uint16_t type)
{
	union {
		struct ipc_log log;
		struct ipc_worker_init wi;
		struct ipc_worker_stats ws;
		struct ipc_auth_granted ag;
		struct ipc_auth_request ar;
		struct ipc_store_init si;
	} u;
	char *s = NULL;
	const uint8_t *p;
	size_t n;
	uint64_t u64, u64b;
	uint32_t u32, u32b;
	uint8_t u8;
	bool ok;

	switch (type) {
	case IPC_LOG: {
		/* Both readers of LOG frames; the verdict is the master's. */
		struct ipc_msg copy = *m;

		if (ipc_dec_log_str(&copy, &u8, &s))
			free(s);
		return ipc_dec_log(m, &u.log);
	}
	case IPC_CONFIG:
		ok = ipc_dec_config(m, &s);
		free(s);
		return ok;
	case IPC_WORKER_INIT:
		ok = ipc_dec_worker_init(m, &u.wi);
		if (ok)
			ipc_worker_init_free(&u.wi);
		return ok;
	case IPC_WORKER_TLS: {
		char *cipher = NULL;

		ok = ipc_dec_worker_tls(m, &s, &cipher);
		free(s);
		free(cipher);
		return ok;
	}
	case IPC_WORKER_SESSION:
	case IPC_STORE_ERROR:
		ok = ipc_dec_status(m, &u8, &s);
		free(s);
		return ok;
	case IPC_WORKER_STATS:
		return ipc_dec_worker_stats(m, &u.ws);
	case IPC_AUTH_ATTACH:
		ok = ipc_dec_auth_attach(m, &u64, &s);
		free(s);
		return ok;
	case IPC_AUTH_DETACH:
	case IPC_STORE_OK:
		return ipc_dec_u64(m, &u64);
	case IPC_AUTH_GRANTED:
		ok = ipc_dec_auth_granted(m, &u.ag);
		if (ok)
			ipc_auth_granted_free(&u.ag);
		return ok;
	case IPC_AUTH_KILL:
		ok = ipc_dec_auth_kill(m, &u64, &s);
		free(s);
		return ok;
	case IPC_AUTH_REQUEST:
		ok = ipc_dec_auth_request(m, &u.ar);
		if (ok)
			ipc_auth_request_free(&u.ar);
		return ok;
	case IPC_AUTH_RESULT:
		return ipc_dec_u8(m, &u8);
	case IPC_WORKER_STLS:
		return ipc_dec_worker_stls(m, &u8);
	case IPC_STORE_OPEN:
	case IPC_STORE_READY:
	case IPC_STORE_STAT:
	case IPC_STORE_RSET:
	case IPC_STORE_COMMIT:
		return ipc_dec_empty(m);
	case IPC_STORE_LIST:
	case IPC_STORE_UIDL:
	case IPC_STORE_DELE:
	case IPC_STORE_RETR_AHEAD:
		return ipc_dec_u32(m, &u32);
	case IPC_STORE_RETR:
		return ipc_dec_store_retr(m, &u32, &u32b);
	case IPC_STORE_OPENED:
	case IPC_STORE_STATUS:
		return ipc_dec_store_count(m, &u32, &u64b);
	case IPC_STORE_LISTING:
		return check_listing(m, false);
	case IPC_STORE_UIDLS:
		return check_listing(m, true);
	case IPC_STORE_DATA:
		return ipc_dec_store_data(m, &u8, &p, &n);
	case IPC_STORE_INIT:
		ok = ipc_dec_store_init(m, &u.si);
		if (ok)
			ipc_store_init_free(&u.si);
		return ok;
	default:
		return -1;
	}
}
