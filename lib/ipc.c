/*
 * ipc.c - framing and marshalling for postern's Unix socket channels.
 * Every reader checks lengths against the frame and fails closed.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

const char *
ipc_type_name(unsigned type)
{
	switch (type) {
	case IPC_LOG: return "LOG";
	case IPC_CONFIG: return "CONFIG";
	case IPC_WORKER_INIT: return "WORKER_INIT";
	case IPC_WORKER_TLS: return "WORKER_TLS";
	case IPC_WORKER_SESSION: return "WORKER_SESSION";
	case IPC_WORKER_STATS: return "WORKER_STATS";
	case IPC_WORKER_STLS: return "WORKER_STLS";
	case IPC_AUTH_ATTACH: return "AUTH_ATTACH";
	case IPC_AUTH_DETACH: return "AUTH_DETACH";
	case IPC_AUTH_GRANTED: return "AUTH_GRANTED";
	case IPC_AUTH_KILL: return "AUTH_KILL";
	case IPC_AUTH_REQUEST: return "AUTH_REQUEST";
	case IPC_AUTH_RESULT: return "AUTH_RESULT";
	case IPC_STORE_OPEN: return "STORE_OPEN";
	case IPC_STORE_OPENED: return "STORE_OPENED";
	case IPC_STORE_LIST: return "STORE_LIST";
	case IPC_STORE_LISTING: return "STORE_LISTING";
	case IPC_STORE_UIDL: return "STORE_UIDL";
	case IPC_STORE_UIDLS: return "STORE_UIDLS";
	case IPC_STORE_RETR: return "STORE_RETR";
	case IPC_STORE_DATA: return "STORE_DATA";
	case IPC_STORE_DELE: return "STORE_DELE";
	case IPC_STORE_OK: return "STORE_OK";
	case IPC_STORE_RSET: return "STORE_RSET";
	case IPC_STORE_STAT: return "STORE_STAT";
	case IPC_STORE_STATUS: return "STORE_STATUS";
	case IPC_STORE_COMMIT: return "STORE_COMMIT";
	case IPC_STORE_ERROR: return "STORE_ERROR";
	case IPC_STORE_INIT: return "STORE_INIT";
	case IPC_STORE_READY: return "STORE_READY";
	case IPC_STORE_RETR_AHEAD: return "STORE_RETR_AHEAD";
	default: return "UNKNOWN";
	}
}

const char *
ipc_mech_name(unsigned mech)
{
	switch (mech) {
	case IPC_MECH_USER: return "USER";
	case IPC_MECH_PLAIN: return "PLAIN";
	case IPC_MECH_LOGIN: return "LOGIN";
	default: return "UNKNOWN";
	}
}

/* ---- building ---- */

static void
buf_reserve(struct ipc_buf *b, size_t n)
{
	size_t cap;
	uint8_t *nd;

	if (b->cap - b->len >= n)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	/* Not realloc: the old buffer may hold a password; wipe it. */
	nd = xmalloc(cap);
	if (b->len)
		memcpy(nd, b->data, b->len);
	wipe(b->data, b->cap);
	free(b->data);
	b->data = nd;
	b->cap = cap;
}

void
ipc_begin(struct ipc_buf *b, uint16_t type)
{
	uint8_t hdr[IPC_HDR_SIZE] = { 0 };

	b->data = NULL;
	b->len = b->cap = 0;
	b->fd = -1;
	memcpy(hdr + 4, &type, 2);
	hdr[6] = IPC_VERSION;
	hdr[7] = 0;
	buf_reserve(b, IPC_HDR_SIZE);
	memcpy(b->data, hdr, IPC_HDR_SIZE);
	b->len = IPC_HDR_SIZE;
}

uint8_t *
ipc_put_raw(struct ipc_buf *b, size_t n)
{
	uint8_t *p;

	buf_reserve(b, n);
	p = b->data + b->len;
	b->len += n;
	return p;
}

void
ipc_put_u8(struct ipc_buf *b, uint8_t v)
{
	*ipc_put_raw(b, 1) = v;
}

void
ipc_put_u16(struct ipc_buf *b, uint16_t v)
{
	memcpy(ipc_put_raw(b, 2), &v, 2);
}

void
ipc_put_u32(struct ipc_buf *b, uint32_t v)
{
	memcpy(ipc_put_raw(b, 4), &v, 4);
}

void
ipc_put_u64(struct ipc_buf *b, uint64_t v)
{
	memcpy(ipc_put_raw(b, 8), &v, 8);
}

void
ipc_put_bytes(struct ipc_buf *b, const void *p, size_t n)
{
	if (n > IPC_MAX_PAYLOAD)
		fatalx("ipc_put_bytes: %zu bytes do not fit a frame", n);
	ipc_put_u32(b, (uint32_t)n);
	if (n)
		memcpy(ipc_put_raw(b, n), p, n);
}

void
ipc_put_str(struct ipc_buf *b, const char *s)
{
	ipc_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

void
ipc_put_fd(struct ipc_buf *b, int fd)
{
	b->fd = fd;
}

size_t
ipc_payload_len(const struct ipc_buf *b)
{
	return b->len - IPC_HDR_SIZE;
}

static int
ipc_finish(struct ipc_buf *b)
{
	uint32_t plen = (uint32_t)(b->len - IPC_HDR_SIZE);

	if (b->len - IPC_HDR_SIZE > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(b->data, &plen, 4);
	b->data[7] = b->fd >= 0 ? IPC_F_FD : 0;
	return 0;
}

static int
ipc_send_flags(int sock, struct ipc_buf *b, int flags)
{
	size_t off = 0;

	if (ipc_finish(b) == -1)
		return -1;
	while (off < b->len) {
		struct msghdr mh;
		struct iovec iov;
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		iov.iov_base = b->data + off;
		iov.iov_len = b->len - off;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (off == 0 && b->fd >= 0) {
			struct cmsghdr *c;

			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &b->fd, sizeof(int));
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && off > 0 && (flags & MSG_DONTWAIT)) {
				/* Part of a frame is out: the rest must follow,
				 * or the stream is corrupt. Wait briefly. */
				struct pollfd pfd = { .fd = sock, .events = POLLOUT };

				if (poll(&pfd, 1, 1000) == 1)
					continue;
				errno = EAGAIN;
			}
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* All of iov on a blocking socket (iov is consumed). */
static int
send_iov_all(int sock, struct iovec *iov, size_t niov)
{
	size_t first = 0;

	while (first < niov) {
		struct msghdr mh;
		ssize_t r;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov + first;
		mh.msg_iovlen = niov - first;
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		first = iov_consume(iov, niov, first, (size_t)r);
	}
	return 0;
}

int
ipc_send_iov(int sock, struct ipc_buf *pre, uint16_t type,
    const struct iovec *payload, int n)
{
	uint8_t hdr[IPC_HDR_SIZE];
	struct iovec iov[2 + IPC_SEND_IOV_MAX];
	size_t total = 0, niov = 0;
	uint32_t plen;

	if (n < 0 || n > IPC_SEND_IOV_MAX || (pre != NULL && pre->fd >= 0)) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++)
		total += payload[i].iov_len;
	if (total > IPC_MAX_PAYLOAD || (pre != NULL && ipc_finish(pre) == -1)) {
		errno = EMSGSIZE;
		return -1;
	}
	if (pre != NULL) {
		iov[niov].iov_base = pre->data;
		iov[niov++].iov_len = pre->len;
	}
	plen = (uint32_t)total;
	memcpy(hdr, &plen, 4);
	memcpy(hdr + 4, &type, 2);
	hdr[6] = IPC_VERSION;
	hdr[7] = 0;
	iov[niov].iov_base = hdr;
	iov[niov++].iov_len = IPC_HDR_SIZE;
	for (int i = 0; i < n; i++)
		iov[niov++] = payload[i];
	return send_iov_all(sock, iov, niov);
}

int
ipc_send_batch(int sock, struct ipc_buf *frames, int n)
{
	struct iovec iov[IPC_SEND_BATCH_MAX];

	if (n < 1 || n > IPC_SEND_BATCH_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (frames[i].fd >= 0) {
			errno = EINVAL;
			return -1;
		}
		if (ipc_finish(&frames[i]) == -1)
			return -1;
		iov[i].iov_base = frames[i].data;
		iov[i].iov_len = frames[i].len;
	}
	return send_iov_all(sock, iov, (size_t)n);
}

int
ipc_send(int sock, struct ipc_buf *b)
{
	return ipc_send_flags(sock, b, 0);
}

int
ipc_send_nb(int sock, struct ipc_buf *b)
{
	return ipc_send_flags(sock, b, MSG_DONTWAIT);
}

void
ipc_buf_free(struct ipc_buf *b)
{
	wipe(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- reading ---- */

int
ipc_parse_header(const uint8_t *hdr, size_t avail, uint16_t *type,
    uint8_t *flags, uint32_t *len)
{
	uint32_t l;
	uint16_t t;

	if (avail < IPC_HDR_SIZE)
		return 0;
	memcpy(&l, hdr, 4);
	memcpy(&t, hdr + 4, 2);
	if (hdr[6] != IPC_VERSION)
		return -1;
	if ((hdr[7] & ~IPC_F_FD) != 0)
		return -1;
	if (l > IPC_MAX_PAYLOAD)
		return -1;
	if (t == 0)
		return -1;
	*type = t;
	*flags = hdr[7];
	*len = l;
	return 1;
}

static bool
get_raw(struct ipc_msg *m, void *out, size_t n)
{
	if (m->bad || m->len - m->pos < n) {
		m->bad = true;
		return false;
	}
	memcpy(out, m->data + m->pos, n);
	m->pos += n;
	return true;
}

bool
ipc_get_u8(struct ipc_msg *m, uint8_t *v)
{
	return get_raw(m, v, 1);
}

bool
ipc_get_u16(struct ipc_msg *m, uint16_t *v)
{
	return get_raw(m, v, 2);
}

bool
ipc_get_u32(struct ipc_msg *m, uint32_t *v)
{
	return get_raw(m, v, 4);
}

bool
ipc_get_u64(struct ipc_msg *m, uint64_t *v)
{
	return get_raw(m, v, 8);
}

bool
ipc_get_bytes(struct ipc_msg *m, const uint8_t **p, size_t *n, size_t max)
{
	uint32_t l;

	if (!ipc_get_u32(m, &l))
		return false;
	if (l > max || m->len - m->pos < l) {
		m->bad = true;
		return false;
	}
	*p = m->data + m->pos;
	*n = l;
	m->pos += l;
	return true;
}

bool
ipc_get_str(struct ipc_msg *m, char **s, size_t max)
{
	const uint8_t *p;
	size_t n;

	if (!ipc_get_bytes(m, &p, &n, max))
		return false;
	if (memchr(p, '\0', n) != NULL) {
		m->bad = true;
		return false;
	}
	*s = xstrndup((const char *)p, n);
	return true;
}

bool
ipc_get_end(struct ipc_msg *m)
{
	return !m->bad && m->pos == m->len;
}

void
ipc_conn_init(struct ipc_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

void
ipc_conn_close(struct ipc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	wipe(c->in, c->incap);
	free(c->in);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void
ipc_conn_release(struct ipc_conn *c)
{
	if (c->in == NULL || c->inpos != c->inlen)
		return;
	wipe(c->in, c->incap);
	free(c->in);
	c->in = NULL;
	c->inpos = c->inlen = c->incap = 0;
}

static ssize_t
conn_fill(struct ipc_conn *c, int flags)
{
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
	} cm;
	ssize_t n;

	/* Compact, then make room for at least one maximal frame. Only
	 * when the buffer is empty (free) or short of room at the end: a
	 * large frame arrives in several reads, and moving its first part
	 * down before each of them would copy it again and again. */
	if (c->inpos == c->inlen) {
		c->inpos = c->inlen = 0;
	} else if (c->inpos > 0 && c->incap - c->inlen < 64 * 1024) {
		memmove(c->in, c->in + c->inpos, c->inlen - c->inpos);
		c->inlen -= c->inpos;
		/* The vacated tail still holds a copy of what was moved: a
		 * partly received frame may carry a password (auth helper). */
		wipe(c->in + c->inlen, c->inpos);
		c->inpos = 0;
	}
	if (c->incap - c->inlen < 64 * 1024) {
		size_t cap = c->incap ? c->incap * 2 : 64 * 1024;

		if (cap > IPC_HDR_SIZE + IPC_MAX_PAYLOAD + 64 * 1024)
			cap = IPC_HDR_SIZE + IPC_MAX_PAYLOAD + 64 * 1024;
		if (cap > c->incap) {
			uint8_t *nb = xmalloc(cap);

			if (c->inlen > 0)
				memcpy(nb, c->in, c->inlen);
			wipe(c->in, c->incap);
			free(c->in);
			c->in = nb;
			c->incap = cap;
		}
	}
	if (c->incap == c->inlen) {
		errno = ENOBUFS;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = c->in + c->inlen;
	iov.iov_len = c->incap - c->inlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL;
	    h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			if (c->nfds < IPC_MAX_FDS)
				c->fds[c->nfds++] = fd;
			else
				close(fd);	/* a peer flooding fds */
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		log_warnx("ipc: descriptors truncated on fd %d", c->fd);
	if (n == 0)
		c->eof = true;
	c->inlen += (size_t)n;
	return n;
}

ssize_t
ipc_conn_fill(struct ipc_conn *c)
{
	return conn_fill(c, 0);
}

int
ipc_conn_next(struct ipc_conn *c, struct ipc_msg *m)
{
	uint16_t type;
	uint8_t flags;
	uint32_t len;
	int r;

	/* A descriptor arrives with the first bytes of the frame that
	 * announces it. One still queued when nothing is buffered was
	 * never announced: a protocol error, not something to keep. */
	if (c->nfds > 0 && c->inpos == c->inlen)
		return -1;
	if (c->in == NULL)
		return 0;	/* nothing read yet (and NULL + 0 is undefined) */
	r = ipc_parse_header(c->in + c->inpos, c->inlen - c->inpos, &type,
	    &flags, &len);
	if (r <= 0)
		return r;
	if (c->inlen - c->inpos - IPC_HDR_SIZE < len)
		return 0;
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->flags = flags;
	m->len = len;
	m->data = c->in + c->inpos + IPC_HDR_SIZE;
	m->fd = -1;
	if (flags & IPC_F_FD) {
		if (c->nfds == 0)
			return -1;	/* promised descriptor never came */
		m->fd = c->fds[0];
		memmove(c->fds, c->fds + 1, (c->nfds - 1) * sizeof(int));
		c->nfds--;
	}
	c->inpos += IPC_HDR_SIZE + len;
	return 1;
}

int
ipc_conn_recv(struct ipc_conn *c, struct ipc_msg *m, int timeout_ms)
{
	uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;

	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int r = ipc_conn_next(c, m);
		int wait;

		if (r != 0)
			return r;
		if (c->eof)
			return 0;
		/* Part of a frame is here: read the rest before polling. A
		 * large frame (RETR data) arrives in several reads, and a
		 * poll before each of them is a system call for nothing. But
		 * a reply to a request just sent is never there yet: poll
		 * first then, as a read would only fail with EAGAIN. */
		if (c->inpos < c->inlen) {
			if (conn_fill(c, MSG_DONTWAIT) >= 0)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				return -1;
		}
		wait = -1;
		if (timeout_ms >= 0) {
			uint64_t now = now_ms();

			if (now >= deadline) {
				errno = ETIMEDOUT;
				return 0;
			}
			wait = (int)(deadline - now);
		}
		r = poll(&pfd, 1, wait);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			continue;
		if (ipc_conn_fill(c) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
	}
}
