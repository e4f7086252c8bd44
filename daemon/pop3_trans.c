/*
 * pop3_trans.c - the TRANSACTION state. Every command becomes one request
 * to postern-store, which owns the mailbox and the session's deletion
 * marks; the worker turns replies into protocol text and streams
 * message data straight to the client.
 */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "ipc_msgs.h"
#include "log.h"
#include "pop3.h"
#include "util.h"

/* Receive the next storage reply, waiting at most timeout_ms; any
 * failure ends the session. */
static void
store_recv_within(struct pop3_session *s, struct ipc_msg *m, int timeout_ms)
{
	if (ipc_conn_recv(&s->store, m, timeout_ms) != 1)
		pop3_peer_failed(s, "storage", "no reply");
	if (m->fd >= 0)
		pop3_peer_failed(s, "storage", "unexpected descriptor");
}

static void
store_recv(struct pop3_session *s, struct ipc_msg *m)
{
	store_recv_within(s, m, IPC_REPLY_TIMEOUT_MS);
}

/* OPEN and COMMIT take the mailbox locks first, which may take up to
 * lock_timeout when an MDA holds them. */
static void
store_recv_locked(struct pop3_session *s, struct ipc_msg *m)
{
	store_recv_within(s, m, config_store_locked_reply_ms());
}

static void
store_request(struct pop3_session *s, uint16_t type, int nargs, uint32_t a0,
    uint32_t a1)
{
	struct ipc_buf b;

	/* One request at a time: a read-ahead answer not wanted after all
	 * is taken off the channel first. */
	if (s->ahead_n != 0)
		pop3_trans_drain_ahead(s);

	ipc_begin(&b, type);
	if (nargs > 0)
		ipc_put_u32(&b, a0);
	if (nargs > 1)
		ipc_put_u32(&b, a1);
	if (ipc_send(s->store.fd, &b) == -1)
		pop3_peer_failed(s, "storage", "send failed");
	ipc_buf_free(&b);
}

/* Answer an IPC_STORE_ERROR reply with the matching -ERR line. */
static void
store_error(struct pop3_session *s, struct ipc_msg *m, uint32_t msgno)
{
	uint8_t code;
	char *text = NULL;

	if (m->type != IPC_STORE_ERROR || !ipc_dec_status(m, &code, &text))
		pop3_peer_failed(s, "storage", "unexpected message");
	switch (code) {
	case IPC_ST_NO_SUCH_MSG:
		client_printf(&s->client, "-ERR No such message.\r\n");
		break;
	case IPC_ST_DELETED:
		client_printf(&s->client, "-ERR Message %u already deleted.\r\n", msgno);
		break;
	case IPC_ST_IN_USE:
		client_printf(&s->client, "-ERR [IN-USE] %s\r\n", text);
		break;
	case IPC_ST_SYS_PERM:
		client_printf(&s->client, "-ERR [SYS/PERM] %s\r\n", text);
		break;
	default:
		client_printf(&s->client, "-ERR [SYS/TEMP] %s\r\n", text);
		break;
	}
	free(text);
}

bool
pop3_trans_begin(struct pop3_session *s)
{
	struct ipc_msg m;
	uint32_t n;
	uint64_t octets;

	store_request(s, IPC_STORE_OPEN, 0, 0, 0);
	store_recv_locked(s, &m);
	if (m.type == IPC_STORE_OPENED) {
		if (!ipc_dec_store_count(&m, &n, &octets))
			pop3_peer_failed(s, "storage", "bad OPENED");
		client_printf(&s->client, "+OK Logged in; %u message%s (%llu octets).\r\n",
		    n, n == 1 ? "" : "s", (unsigned long long)octets);
		s->nmsgs = n;
		/* What authentication allocated is freed, and the channels'
		 * input buffers are empty (64 KiB each): give their pages
		 * back before the session idles. A channel used again gets
		 * a new buffer. */
		ipc_conn_release(&s->master);
		ipc_conn_release(&s->auth);
		ipc_conn_release(&s->store);
		(void)malloc_trim(0);
		return true;
	}
	store_error(s, &m, 0);
	s->end_reason = "mailbox unavailable";
	return false;
}

static void
cmd_stat(struct pop3_session *s)
{
	struct ipc_msg m;
	uint32_t n;
	uint64_t octets;

	store_request(s, IPC_STORE_STAT, 0, 0, 0);
	store_recv(s, &m);
	if (m.type != IPC_STORE_STATUS || !ipc_dec_store_count(&m, &n, &octets))
		pop3_peer_failed(s, "storage", "bad STATUS");
	client_printf(&s->client, "+OK %u %llu\r\n", n, (unsigned long long)octets);
}

/* LIST and UIDL share their shape: one entry, or a multi-line listing
 * that may span several frames. */
static void
cmd_listing(struct pop3_session *s, bool uidl, const struct pop3_cmd *cmd)
{
	uint16_t want = uidl ? IPC_STORE_UIDLS : IPC_STORE_LISTING;
	uint32_t msgno = cmd->nargs ? cmd->num[0] : 0;
	bool first = true;
	uint8_t more = 1;

	store_request(s, uidl ? IPC_STORE_UIDL : IPC_STORE_LIST, 1, msgno, 0);
	while (more) {
		struct ipc_msg m;
		uint32_t count;

		store_recv(s, &m);
		if (first && m.type == IPC_STORE_ERROR) {
			store_error(s, &m, msgno);
			return;
		}
		if (m.type != want || !ipc_dec_listing_head(&m, &more, &count) ||
		    (msgno != 0 && (count != 1 || more)))
			pop3_peer_failed(s, "storage", "bad listing");
		if (first && msgno == 0)
			client_printf(&s->client, "+OK %s follows\r\n",
			    uidl ? "unique-id listing" : "scan listing");
		for (uint32_t i = 0; i < count; i++) {
			struct ipc_listing_entry e;

			if (!ipc_dec_listing_entry(&m, uidl, &e))
				pop3_peer_failed(s, "storage",
				    uidl ? "bad uidl" : "bad listing");
			if (uidl)
				client_printf(&s->client, "%s%u %.*s\r\n",
				    msgno ? "+OK " : "", e.msgno,
				    (int)e.uidl_len, (const char *)e.uidl);
			else
				client_printf(&s->client, "%s%u %llu\r\n",
				    msgno ? "+OK " : "", e.msgno,
				    (unsigned long long)e.size);
		}
		if (!ipc_get_end(&m))
			pop3_peer_failed(s, "storage", "bad listing");
		first = false;
	}
	if (msgno == 0)
		client_printf(&s->client, ".\r\n");
}

/* EXPIRE 0: note a message RETR sent, to delete it at QUIT. */
static void
remember_retrieved(struct pop3_session *s, uint32_t msgno)
{
	size_t byte = msgno / 8;

	if (byte >= s->retrieved_set_len) {
		size_t len = byte + 1;

		s->retrieved_set = xreallocarray(s->retrieved_set, len, 1);
		memset(s->retrieved_set + s->retrieved_set_len, 0,
		    len - s->retrieved_set_len);
		s->retrieved_set_len = len;
	}
	s->retrieved_set[byte] |= (uint8_t)(1u << (msgno % 8));
}

/*
 * EXPIRE 0 (RFC 2449 section 6.7): the client may not leave on the server
 * what it retrieved. At QUIT, before the commit, every message that RETR
 * sent in full is marked for deletion as if the client had sent DELE
 * (RSET does not bring them back). Only the normal end of a session
 * deletes: a dropped connection never reaches this. False if storage
 * refused a mark; then nothing is committed.
 */
static bool
expire_retrieved(struct pop3_session *s)
{
	for (size_t byte = 0; byte < s->retrieved_set_len; byte++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			uint32_t msgno = (uint32_t)(byte * 8 + bit);
			struct ipc_msg m;
			uint64_t v;
			uint8_t code;
			char *text = NULL;

			if ((s->retrieved_set[byte] & (1u << bit)) == 0)
				continue;
			store_request(s, IPC_STORE_DELE, 1, msgno, 0);
			store_recv(s, &m);
			if (m.type == IPC_STORE_OK) {
				if (!ipc_dec_u64(&m, &v))
					pop3_peer_failed(s, "storage", "bad reply");
				continue;
			}
			if (m.type != IPC_STORE_ERROR ||
			    !ipc_dec_status(&m, &code, &text))
				pop3_peer_failed(s, "storage", "unexpected message");
			free(text);
			/* Already marked by the client: nothing to add. */
			if (code != IPC_ST_DELETED) {
				client_printf(&s->client, "-ERR [SYS/TEMP] Could not "
				    "delete the retrieved messages (EXPIRE 0); "
				    "nothing was deleted.\r\n");
				return false;
			}
		}
	}
	return true;
}

/* The next IPC_STORE_DATA frame of a RETR answer (valid until the next
 * receive); anything else ends the session. */
static void
store_recv_data(struct pop3_session *s, uint8_t *last, const uint8_t **data,
    size_t *len)
{
	struct ipc_msg m;

	store_recv(s, &m);
	if (m.type != IPC_STORE_DATA ||
	    !ipc_dec_store_data(&m, last, data, len))
		pop3_peer_failed(s, "storage", "bad DATA");
}

/* Read and drop the answers to RETR_AHEADs the client did not want. */
void
pop3_trans_drain_ahead(struct pop3_session *s)
{
	while (s->ahead_n > 0) {
		struct ipc_msg m;
		const uint8_t *data;
		uint8_t last = 0;
		uint64_t octets;
		size_t len;

		s->ahead_n--;
		s->ahead++;
		store_recv(s, &m);
		if (m.type == IPC_STORE_ERROR)
			continue;
		if (m.type != IPC_STORE_OK || !ipc_dec_u64(&m, &octets))
			pop3_peer_failed(s, "storage", "bad RETR_AHEAD reply");
		while (!last)
			store_recv_data(s, &last, &data, &len);
	}
}

/*
 * Clients fetch in order: after RETR msgno, ask storage for the message
 * that follows while this one travels to the client. A client that has
 * fetched two in a row gets the next RETR_AHEAD_DEPTH asked for at once,
 * in one system call, and again once they are used up: storage then
 * wakes once per batch rather than once per message. One that does
 * something else between RETRs (RETR 1, DELE 1, RETR 2 ...) gets one at
 * a time, as its next command throws away whatever is waiting.
 */
_Static_assert(RETR_AHEAD_DEPTH <= IPC_SEND_BATCH_MAX,
    "a batch of RETR_AHEAD requests goes in one ipc_send_batch");

static void
request_ahead(struct pop3_session *s, uint32_t msgno, bool in_a_row)
{
	struct ipc_buf b[RETR_AHEAD_DEPTH];
	int n = 0, depth = in_a_row ? RETR_AHEAD_DEPTH : 1;

	if (s->ahead_n > 0)
		return;
	for (uint32_t next = msgno + 1; next <= s->nmsgs &&
	    n < depth; next++) {
		ipc_begin(&b[n], IPC_STORE_RETR_AHEAD);
		ipc_put_u32(&b[n++], next);
	}
	if (n == 0)
		return;
	if (ipc_send_batch(s->store.fd, b, n) == -1)
		pop3_peer_failed(s, "storage", "send failed");
	for (int i = 0; i < n; i++)
		ipc_buf_free(&b[i]);
	s->ahead = msgno + 1;
	s->ahead_n = (uint32_t)n;
}

static void
cmd_retr(struct pop3_session *s, uint32_t msgno, uint32_t lines)
{
	struct ipc_msg m;
	uint64_t octets;
	uint8_t last = 0;

	m.type = IPC_STORE_ERROR;
	if (s->ahead_n > 0 && s->ahead == msgno && lines == UINT32_MAX) {
		/* Asked for while the client read an earlier message: the
		 * answer is (or will be) in the socket already. An error
		 * only means "not read ahead": ask the ordinary way. */
		s->ahead++;
		s->ahead_n--;
		store_recv(s, &m);
	}
	if (m.type == IPC_STORE_ERROR) {
		store_request(s, IPC_STORE_RETR, 2, msgno, lines);
		store_recv(s, &m);
	}
	if (m.type == IPC_STORE_ERROR) {
		store_error(s, &m, msgno);
		return;
	}
	if (m.type != IPC_STORE_OK || !ipc_dec_u64(&m, &octets))
		pop3_peer_failed(s, "storage", "bad RETR reply");
	if (lines == UINT32_MAX)
		client_printf(&s->client, "+OK %llu octets\r\n",
		    (unsigned long long)octets);
	else
		client_printf(&s->client, "+OK\r\n");
	while (!last) {
		const uint8_t *data;
		size_t len;

		store_recv_data(s, &last, &data, &len);
		/* The terminating line goes with the last data. */
		client_write_data(&s->client, data, len, last ? ".\r\n" : NULL,
		    last ? 3 : 0);
	}
	if (lines == UINT32_MAX) {
		bool in_a_row = s->last_retr != 0 && msgno == s->last_retr + 1;

		s->last_retr = msgno;
		s->retrieved++;
		if (s->cfg.expire == CFG_EXPIRE_0)
			remember_retrieved(s, msgno);
		request_ahead(s, msgno, in_a_row);
	}
}

/* DELE and RSET: true when storage said OK (the caller answers). */
static bool
cmd_simple(struct pop3_session *s, uint16_t type, uint32_t msgno)
{
	struct ipc_msg m;
	uint64_t v;

	store_request(s, type, type == IPC_STORE_DELE ? 1 : 0, msgno, 0);
	store_recv(s, &m);
	if (m.type == IPC_STORE_ERROR) {
		store_error(s, &m, msgno);
		return false;
	}
	if (m.type != IPC_STORE_OK || !ipc_dec_u64(&m, &v))
		pop3_peer_failed(s, "storage", "bad reply");
	return true;
}

static void
cmd_quit(struct pop3_session *s)
{
	struct ipc_msg m;
	uint64_t deleted;

	s->state = POP3_DONE;
	if (s->cfg.expire == CFG_EXPIRE_0 && !expire_retrieved(s)) {
		s->end_reason = "expunge failed";
		return;
	}
	store_request(s, IPC_STORE_COMMIT, 0, 0, 0);
	store_recv_locked(s, &m);
	if (m.type == IPC_STORE_ERROR) {
		store_error(s, &m, 0);
		s->end_reason = "expunge failed";
		s->deleted = 0;
		return;
	}
	if (m.type != IPC_STORE_OK || !ipc_dec_u64(&m, &deleted))
		pop3_peer_failed(s, "storage", "bad COMMIT reply");
	s->deleted = (uint32_t)deleted;
	s->end_reason = "quit";
	client_printf(&s->client, "+OK postern signing off (%llu message%s "
	    "deleted).\r\n", (unsigned long long)deleted,
	    deleted == 1 ? "" : "s");
}

void
pop3_trans_command(struct pop3_session *s, struct pop3_cmd *cmd)
{
	if (cmd->id != CMD_RETR)
		s->last_retr = 0;
	switch (cmd->id) {
	case CMD_STAT:
		cmd_stat(s);
		break;
	case CMD_LIST:
		cmd_listing(s, false, cmd);
		break;
	case CMD_UIDL:
		cmd_listing(s, true, cmd);
		break;
	case CMD_RETR:
		cmd_retr(s, cmd->num[0], UINT32_MAX);
		break;
	case CMD_TOP:
		cmd_retr(s, cmd->num[0], cmd->num[1]);
		break;
	case CMD_DELE:
		if (cmd_simple(s, IPC_STORE_DELE, cmd->num[0]))
			client_printf(&s->client, "+OK Message %u deleted.\r\n",
			    cmd->num[0]);
		break;
	case CMD_RSET:
		if (cmd_simple(s, IPC_STORE_RSET, 0))
			client_printf(&s->client, "+OK Deletion marks removed.\r\n");
		break;
	case CMD_NOOP:
		client_printf(&s->client, "+OK\r\n");
		break;
	case CMD_QUIT:
		cmd_quit(s);
		break;
	default:
		client_printf(&s->client, "-ERR Command not valid in the TRANSACTION state.\r\n");
		break;
	}
}
