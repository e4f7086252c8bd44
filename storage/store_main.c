/*
 * store_main.c - postern-store: one process per authenticated session,
 * running as the mail user (the master set the ids before exec). It owns
 * the mailbox through the engine in mbox.h and answers the worker's
 * requests, accepting each only in its phase.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ipc.h"
#include "ipc_msgs.h"
#include "log.h"
#include "mbox.h"
#include "sandbox.h"
#include "testhook.h"
#include "util.h"

struct store {
	struct config cfg;
	struct ipc_conn worker;
	/* RETR's IPC_STORE_OK, held back to go out with the first data
	 * frame in one system call (the worker then wakes up once for
	 * both) while retr_ok_pending. */
	struct ipc_buf retr_ok;
	bool retr_ok_pending;
	/* Read-ahead (see prefetch()): message ahead_msgno as RETR sends
	 * it, ahead_len bytes, while ahead_valid. */
	uint8_t *ahead;		/* RETR_AHEAD_MAX mapped, see ahead_sink() */
	size_t ahead_len, ahead_used;	/* message, pages touched */
	uint32_t ahead_failed;	/* prefetch() could not: not again */
	uint32_t ahead_msgno;
	bool ahead_valid;
	/* A RETR_AHEAD of this batch was refused: so are the rest. */
	bool ahead_stopped;
	struct mbox_config mcfg;
	struct mbox *mbox;
	char *user, *mailbox, *index_dir;
	uint32_t uid;
	uint64_t session;
};

static void
engine_log(int prio, const char *msg)
{
	log_msg(prio, "%s", msg);
}

/*
 * The worker ends its session by closing the channel, which resets it
 * if answers were left unread (read-ahead). A send that meets that is
 * the end of the session, as when the worker goes between requests
 * (main), not an error: no expunge, exit 0.
 */
static void __attribute__((noreturn))
send_failed(struct store *st)
{
	if (errno == EPIPE || errno == ECONNRESET) {
		if (st->mbox != NULL)
			mbox_close(st->mbox);
		exit(0);
	}
	fatal("send to worker");
}

static void
worker_send(struct store *st, struct ipc_buf *b)
{
	if (ipc_send(st->worker.fd, b) == -1)
		send_failed(st);
}

static void
reply_error(struct store *st, enum ipc_status code, const char *text)
{
	struct ipc_buf b;

	ipc_begin(&b, IPC_STORE_ERROR);
	ipc_put_u8(&b, (uint8_t)code);
	ipc_put_str(&b, text);
	worker_send(st, &b);
	ipc_buf_free(&b);
}

static void
reply_ok(struct store *st, uint64_t v)
{
	struct ipc_buf b;

	ipc_begin(&b, IPC_STORE_OK);
	ipc_put_u64(&b, v);
	worker_send(st, &b);
	ipc_buf_free(&b);
}

/* A large expunge's commit point: answer now, then let the engine
 * finish the rewrite. A worker that has gone meanwhile must not stop
 * that (fatal() would), so a failed send is only logged. */
struct commit_ack {
	struct store *st;
	bool sent;
};

static void
commit_acked(void *ctx, uint32_t deleted)
{
	struct commit_ack *a = ctx;
	struct ipc_buf b;

	/* The mailbox locks are held: a worker that stopped reading must
	 * not keep MDAs waiting, so this one small frame is not waited for
	 * (a full socket buffer is already a broken worker). */
	ipc_begin(&b, IPC_STORE_OK);
	ipc_put_u64(&b, deleted);
	if (ipc_send_nb(a->st->worker.fd, &b) == -1)
		log_info("send to worker: %s; finishing the expunge anyway",
		    strerror(errno));
	ipc_buf_free(&b);
	a->sent = true;
}

/* Map an engine error to a reply. */
static void
reply_mbox_error(struct store *st, int err)
{
	switch (err) {
	case MBOX_ERR_NOMSG:
		reply_error(st, IPC_ST_NO_SUCH_MSG, "No such message.");
		break;
	case MBOX_ERR_DELETED:
		reply_error(st, IPC_ST_DELETED, "Message already deleted.");
		break;
	case MBOX_ERR_INUSE:
		reply_error(st, IPC_ST_IN_USE, "Mailbox is in use by another session.");
		break;
	case MBOX_ERR_PERM:
		reply_error(st, IPC_ST_SYS_PERM, "Mailbox is unsafe; ask the administrator.");
		break;
	default:
		reply_error(st, IPC_ST_SYS_TEMP, "Mailbox is temporarily unavailable; try again later.");
		break;
	}
}

static void
recv_setup(struct store *st)
{
	struct ipc_conn master;
	struct ipc_msg m;
	struct ipc_store_init si;
	char *text = NULL, err[256];

	ipc_conn_init(&master, FD_MASTER);
	if (ipc_conn_recv(&master, &m, IPC_REPLY_TIMEOUT_MS) != 1 ||
	    m.type != IPC_CONFIG || !ipc_dec_config(&m, &text))
		fatalx("no configuration from the master");
	config_defaults(&st->cfg);
	if (!config_parse(&st->cfg, text, strlen(text), "(master)", err, sizeof(err)))
		fatalx("configuration from the master: %s", err);
	free(text);
	if (ipc_conn_recv(&master, &m, IPC_REPLY_TIMEOUT_MS) != 1 ||
	    m.type != IPC_STORE_INIT || !ipc_dec_store_init(&m, &si))
		fatalx("bad STORE_INIT from the master");
	st->session = si.session;
	st->user = si.user;
	st->uid = si.uid;
	st->mailbox = si.mailbox;
	st->index_dir = si.index_dir;
	/* The master channel stays open for logging only. */
	free(master.in);
}

/*
 * One IPC_STORE_DATA frame per chunk of the transform's output, sent
 * from where the transform left it: a header and the "last" byte in
 * front, nothing copied; the first one after the held-back OK.
 */
static int
data_sink(void *ctx, const void *buf, size_t len, bool last)
{
	struct store *st = ctx;
	uint8_t flag = last ? 1 : 0;
	struct iovec iov[2];
	int r;

	iov[0].iov_base = &flag;
	iov[0].iov_len = 1;
	iov[1].iov_base = (void *)buf;
	iov[1].iov_len = len;
	r = ipc_send_iov(st->worker.fd, st->retr_ok_pending ? &st->retr_ok :
	    NULL, IPC_STORE_DATA, iov, len > 0 ? 2 : 1);
	st->retr_ok_pending = false;
	return r;
}

/*
 * The read-ahead's sink: the whole message, up to RETR_AHEAD_MAX, into
 * a mapping of that size made once per session. Only the pages written
 * are memory. ahead_shrink() gives back all but the first frame's once
 * the session stops retrieving, or idles a second (main): not after
 * each larger message, whose successor would fault them in again, and
 * not with free(), after which glibc would keep them anyway (it raises
 * its trim threshold after a large free).
 */
static int
ahead_sink(void *ctx, const void *buf, size_t len, bool last)
{
	struct store *st = ctx;

	if (len > RETR_AHEAD_MAX - st->ahead_len)
		return 1;
	memcpy(st->ahead + st->ahead_len, buf, len);
	st->ahead_len += len;
	if (st->ahead_len > st->ahead_used)
		st->ahead_used = st->ahead_len;
	return 0;
}

static void
ahead_shrink(struct store *st)
{
	if (st->ahead_used > STORE_DATA_CHUNK) {
		(void)madvise(st->ahead + STORE_DATA_CHUNK,
		    RETR_AHEAD_MAX - STORE_DATA_CHUNK, MADV_DONTNEED);
		st->ahead_used = STORE_DATA_CHUNK;
	}
}

/*
 * Clients fetch messages in order. The worker asks for message n + 1
 * (RETR_AHEAD) as soon as it has answered RETR n, or, once its client
 * has fetched two in a row, for the next RETR_AHEAD_DEPTH in one write
 * (and again once it has used them up); it leaves the answers in its
 * channel until its client asks: RETR n + 1 is then answered without
 * waiting for storage, anything else makes the worker read and drop
 * them. One wake-up of storage per batch, not per message, and reading
 * ahead messages of several frames too (up to RETR_AHEAD_MAX; 57% of
 * the benchmark's bytes are in messages over one frame) took plain
 * RETR on the benchmark from ~850 to ~1,300 MB/s.
 * Storage goes one further: right after answering
 * (RETR or RETR_AHEAD for) message n, it reads, checks and transforms
 * message n + 1 as its RETR would do and keeps it, so that the worker's
 * next RETR_AHEAD is answered at once; a request other than RETR or
 * RETR_AHEAD drops it (dispatch; TOP never uses it). On the benchmark's
 * 95 KB messages this second step is worth 5-15%.
 *
 * What the client gets was read and checked before it asked (it may
 * have waited in the worker's socket as long as the client idled): the
 * message as it was when its size and UIDL were given; only a program
 * that ignores the locks could have changed it since. A session idle
 * after a RETR holds up to RETR_AHEAD_DEPTH + 1 messages of at most
 * RETR_AHEAD_MAX: one here, the rest in the worker's channel (the
 * master sizes our end's send buffer for RETR_AHEAD_DEPTH one-frame
 * answers; larger ones wait here, in send, for the worker to read, and
 * keep their buffer: the idle shrink in main cannot run meanwhile). A
 * failure here (a changed mailbox, an I/O error, a larger message) just
 * means no read-ahead: the RETR itself then meets and reports it, and
 * the rest of its batch is refused unread (ahead_stopped).
 */
static void
prefetch(struct store *st, uint32_t msgno)
{
	uint64_t size;

	st->ahead_valid = false;
	if (msgno == 0 || msgno > mbox_count(st->mbox) ||
	    msgno == st->ahead_failed ||
	    mbox_info(st->mbox, msgno, &size, NULL) != MBOX_OK ||
	    size > RETR_AHEAD_MAX)
		return;
	if (st->ahead == NULL) {
		void *p = mmap(NULL, RETR_AHEAD_MAX, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return;
		st->ahead = p;
	}
	st->ahead_len = 0;
	if (mbox_retr(st->mbox, msgno, -1, ahead_sink, st) == MBOX_OK) {
		st->ahead_msgno = msgno;
		st->ahead_valid = true;
	} else {
		/* Its RETR will meet the problem and report it; reading it
		 * again for the worker's RETR_AHEAD would only repeat it. */
		st->ahead_failed = msgno;
		ahead_shrink(st);
	}
}

/* The read-ahead copy as RETR's answer: the OK and the first data frame
 * in one system call, then the rest a frame at a time; then the next
 * message is read ahead. */
static void
send_ahead(struct store *st, uint64_t size)
{
	uint32_t msgno = st->ahead_msgno;
	size_t off = 0;

	st->ahead_valid = false;
	ipc_begin(&st->retr_ok, IPC_STORE_OK);
	ipc_put_u64(&st->retr_ok, size);
	st->retr_ok_pending = true;
	do {
		size_t n = st->ahead_len - off;

		if (n > STORE_DATA_CHUNK)
			n = STORE_DATA_CHUNK;
		if (data_sink(st, st->ahead + off, n,
		    off + n == st->ahead_len) != 0)
			send_failed(st);
		off += n;
	} while (off < st->ahead_len);
	ipc_buf_free(&st->retr_ok);
	st->retr_ok_pending = false;
	prefetch(st, msgno + 1);
}

/* IPC_STORE_RETR_AHEAD: only what prefetch() takes, else an error that the
 * worker does not show its client. */
static void
do_retr_ahead(struct store *st, uint32_t msgno)
{
	uint64_t size;
	int r;

	if (st->ahead_stopped) {
		reply_error(st, IPC_ST_SYS_TEMP, "Not read ahead.");
		return;
	}
	r = mbox_info(st->mbox, msgno, &size, NULL);
	if (r == MBOX_OK && (!st->ahead_valid || st->ahead_msgno != msgno))
		prefetch(st, msgno);
	if (r != MBOX_OK || !st->ahead_valid || st->ahead_msgno != msgno) {
		/* The worker must now ask for msgno with RETR, and reads
		 * the answers to the rest of the batch first: make those
		 * cheap, and read nothing it would throw away. */
		st->ahead_stopped = true;
		st->ahead_valid = false;
		ahead_shrink(st);
		if (r != MBOX_OK)
			reply_mbox_error(st, r);
		else
			reply_error(st, IPC_ST_SYS_TEMP, "Not read ahead.");
		return;
	}
	send_ahead(st, size);
}

static void
do_retr(struct store *st, uint32_t msgno, uint32_t lines)
{
	uint64_t size;
	const char *uidl;
	int r;

	r = mbox_info(st->mbox, msgno, &size, &uidl);
	if (r != MBOX_OK) {
		reply_mbox_error(st, r);
		return;
	}
	if (st->ahead_valid && st->ahead_msgno == msgno &&
	    lines == UINT32_MAX) {
		send_ahead(st, size);
		return;
	}
	ipc_begin(&st->retr_ok, IPC_STORE_OK);
	ipc_put_u64(&st->retr_ok, size);
	st->retr_ok_pending = true;
	r = mbox_retr(st->mbox, msgno, lines == UINT32_MAX ? -1 : (int64_t)lines,
	    data_sink, st);
	if (r != MBOX_OK && st->retr_ok_pending) {
		/* Nothing went out yet (the mailbox changed under us, found
		 * before the first chunk: any message shorter than a chunk):
		 * a plain -ERR, and the session goes on. */
		ipc_buf_free(&st->retr_ok);
		st->retr_ok_pending = false;
		reply_mbox_error(st, r);
		return;
	}
	if (r != MBOX_OK) {
		/* The +OK is out (or goes now, as it always did): the worker
		 * cannot send -ERR any more. End the session rather than
		 * send a truncated message as if it were whole (the frame
		 * marked last was never sent). */
		if (st->retr_ok_pending)
			(void)ipc_send(st->worker.fd, &st->retr_ok);
		fatalx("retrieving message %u failed (%d)", msgno, r);
	}
	ipc_buf_free(&st->retr_ok);
	if (lines == UINT32_MAX)
		prefetch(st, msgno + 1);
}

static void
do_listing(struct store *st, bool uidl, uint32_t msgno)
{
	uint32_t first = msgno ? msgno : 1;
	uint32_t last = msgno ? msgno : mbox_count(st->mbox);
	struct ipc_buf b;
	uint32_t count = 0;
	size_t count_at;
	int r;

	if (msgno != 0) {
		uint64_t size;
		const char *id;

		r = mbox_info(st->mbox, msgno, &size, &id);
		if (r != MBOX_OK) {
			reply_mbox_error(st, r);
			return;
		}
	}
	ipc_begin(&b, uidl ? IPC_STORE_UIDLS : IPC_STORE_LISTING);
	ipc_put_u8(&b, 0);
	count_at = b.len;
	ipc_put_u32(&b, 0);
	for (uint32_t i = first; i <= last && i != 0; i++) {
		uint64_t size;
		const char *id;

		if (mbox_info(st->mbox, i, &size, &id) != MBOX_OK)
			continue;	/* deleted */
		ipc_put_u32(&b, i);
		if (uidl)
			ipc_put_str(&b, id);
		else
			ipc_put_u64(&b, size);
		count++;
		if (ipc_payload_len(&b) > IPC_MAX_PAYLOAD - 128) {
			b.data[IPC_HDR_SIZE] = 1;	/* more follows */
			memcpy(b.data + count_at, &count, 4);
			worker_send(st, &b);
			ipc_buf_free(&b);
			ipc_begin(&b, uidl ? IPC_STORE_UIDLS : IPC_STORE_LISTING);
			ipc_put_u8(&b, 0);
			count_at = b.len;
			ipc_put_u32(&b, 0);
			count = 0;
		}
	}
	memcpy(b.data + count_at, &count, 4);
	worker_send(st, &b);
	ipc_buf_free(&b);
}

static void
do_open(struct store *st)
{
	uint32_t n;
	uint64_t octets;
	int r;

	st->mcfg.path = st->mailbox;
	st->mcfg.index_dir = st->index_dir[0] ? st->index_dir : NULL;
	st->mcfg.format = st->cfg.mbox_format == CFG_MBOXRD ?
	    MBOX_FMT_MBOXRD : MBOX_FMT_MBOXO;
	st->mcfg.lock_timeout = st->cfg.lock_timeout;
	st->mcfg.uid = (uid_t)st->uid;
	st->mcfg.commit_ack_min = STORE_COMMIT_ACK_MIN;
	st->mcfg.log = engine_log;
	r = mbox_open(&st->mcfg, &st->mbox);
	if (r != MBOX_OK) {
		reply_mbox_error(st, r);
		return;
	}
	mbox_stat(st->mbox, &n, &octets);
	{
		struct ipc_buf b;

		ipc_begin(&b, IPC_STORE_OPENED);
		ipc_put_u32(&b, n);
		ipc_put_u64(&b, octets);
		worker_send(st, &b);
		ipc_buf_free(&b);
		/* The login is complete: the master counts login_delay
		 * from here, not from a grant whose mailbox was busy. */
		ipc_begin(&b, IPC_STORE_READY);
		(void)ipc_send(FD_MASTER, &b);
		ipc_buf_free(&b);
	}
	/* The scan's and the index's buffers are freed but their pages
	 * stay resident (glibc raises its trim threshold after large
	 * frees): an idle session keeps only what it uses. */
	(void)malloc_trim(0);
}

/* Handle one request; returns false when the session is over. */
static bool
dispatch(struct store *st, struct ipc_msg *m)
{
	uint32_t a = 0, b = 0, n;
	uint64_t octets;
	int r;

	if (m->fd >= 0)
		fatalx("worker sent a descriptor");
	if (m->type != IPC_STORE_OPEN && st->mbox == NULL)
		fatalx("worker sent %s before a successful OPEN", ipc_type_name(m->type));
	if (m->type != IPC_STORE_RETR && m->type != IPC_STORE_RETR_AHEAD) {
		st->ahead_valid = false;
		st->ahead_failed = 0;
		ahead_shrink(st);
	}
	if (m->type != IPC_STORE_RETR_AHEAD)
		st->ahead_stopped = false;
	switch (m->type) {
	case IPC_STORE_OPEN:
		if (!ipc_dec_empty(m) || st->mbox != NULL)
			fatalx("bad or repeated OPEN");
		do_open(st);
		return st->mbox != NULL;
	case IPC_STORE_STAT:
		if (!ipc_dec_empty(m))
			fatalx("bad STAT");
		mbox_stat(st->mbox, &n, &octets);
		{
			struct ipc_buf o;

			ipc_begin(&o, IPC_STORE_STATUS);
			ipc_put_u32(&o, n);
			ipc_put_u64(&o, octets);
			worker_send(st, &o);
			ipc_buf_free(&o);
		}
		return true;
	case IPC_STORE_LIST:
	case IPC_STORE_UIDL:
		if (!ipc_dec_u32(m, &a))
			fatalx("bad %s", ipc_type_name(m->type));
		do_listing(st, m->type == IPC_STORE_UIDL, a);
		return true;
	case IPC_STORE_RETR:
		if (!ipc_dec_store_retr(m, &a, &b))
			fatalx("bad RETR");
		do_retr(st, a, b);
		return true;
	case IPC_STORE_RETR_AHEAD:
		if (!ipc_dec_u32(m, &a))
			fatalx("bad RETR_AHEAD");
		do_retr_ahead(st, a);
		return true;
	case IPC_STORE_DELE:
		if (!ipc_dec_u32(m, &a))
			fatalx("bad DELE");
		r = mbox_dele(st->mbox, a);
		if (r == MBOX_OK)
			reply_ok(st, 0);
		else
			reply_mbox_error(st, r);
		return true;
	case IPC_STORE_RSET:
		if (!ipc_dec_empty(m))
			fatalx("bad RSET");
		mbox_rset(st->mbox);
		reply_ok(st, 0);
		return true;
	case IPC_STORE_COMMIT:
		if (!ipc_dec_empty(m))
			fatalx("bad COMMIT");
		{
			struct commit_ack ack = { st, false };

			r = mbox_commit_ack(st->mbox, &n, commit_acked, &ack);
			if (ack.sent)
				;	/* the engine logged any later error */
			else if (r == MBOX_OK)
				reply_ok(st, n);
			else
				reply_mbox_error(st, r);
		}
		return false;
	default:
		fatalx("unexpected %s (%u) from the worker",
		    ipc_type_name(m->type), m->type);
	}
}

int
main(int argc, char **argv)
{
	static struct store st;
	const char *why;

	signal(SIGPIPE, SIG_IGN);
	if (fcntl(FD_MASTER, F_GETFD) == -1 || fcntl(FD_WORKER, F_GETFD) == -1)
		return 2;	/* not started by the master */
	log_init("postern-store", LOG_TARGET_IPC, FD_MASTER);
	if (getuid() == 0 || geteuid() == 0)
		fatalx("refusing to run as root");
	recv_setup(&st);
	{
		char ctx[128];

		snprintf(ctx, sizeof(ctx), "session=%llu user=%s",
		    (unsigned long long)st.session, st.user);
		log_set_context(ctx);
	}
	/* Confine before the first file is touched: Landlock limits the
	 * engine to the mailbox's directory (mailbox, dot-lock, journal)
	 * and the index directory. */
	{
		char *dir = xstrdup(st.mailbox);
		const char *dirs[3];

		dirs[0] = dirname(dir);
		dirs[1] = st.index_dir;
		dirs[2] = NULL;
		if (sandbox_enter(SANDBOX_STORE, dirs, &why) == -1)
			fatalx("sandbox: %s; ending the session", why);
		free(dir);
	}
	TESTHOOK_PROBE_OPENS();
	ipc_conn_init(&st.worker, FD_WORKER);
	for (;;) {
		struct ipc_msg m;
		int r;

		errno = 0;
		r = ipc_conn_recv(&st.worker, &m, st.ahead_used >
		    STORE_DATA_CHUNK ? STORE_AHEAD_IDLE_MS : -1);
		if (r == 0 && errno == ETIMEDOUT) {
			/* Idle with a large read-ahead: give it back. */
			if (st.ahead_len > STORE_DATA_CHUNK)
				st.ahead_valid = false;
			ahead_shrink(&st);
			continue;
		}
		/* Worker gone: no expunge (RFC 1939 section 6). A worker that
		 * ends with a read-ahead answer unread resets the socket. */
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		if (r < 0)
			fatalx("bad frame from the worker");
		if (!dispatch(&st, &m))
			break;
	}
	if (st.mbox != NULL)
		mbox_close(st.mbox);
	return 0;
}
