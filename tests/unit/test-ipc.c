/*
 * test-ipc.c - IPC framing and marshalling: round trips, descriptor
 * passing, and rejection of truncated, oversized, wrong-version,
 * unknown-flag and over-read frames; compaction of the receive buffer
 * leaves no stale copy.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "params.h"
#include "tap.h"
#include "util.h"

static void
raw_frame(uint8_t *out, uint32_t len, uint16_t type, uint8_t version,
    uint8_t flags)
{
	memcpy(out, &len, 4);
	memcpy(out + 4, &type, 2);
	out[6] = version;
	out[7] = flags;
}

static void
test_header(void)
{
	uint8_t h[IPC_HDR_SIZE];
	uint16_t type;
	uint8_t flags;
	uint32_t len;

	raw_frame(h, 10, IPC_STORE_STAT, IPC_VERSION, 0);
	is_int(ipc_parse_header(h, sizeof(h), &type, &flags, &len), 1, "valid header accepted");
	is_int(type, IPC_STORE_STAT, "type decoded");
	is_int(len, 10, "length decoded");
	is_int(ipc_parse_header(h, 7, &type, &flags, &len), 0, "truncated header needs more");
	raw_frame(h, 10, IPC_STORE_STAT, IPC_VERSION + 1, 0);
	is_int(ipc_parse_header(h, sizeof(h), &type, &flags, &len), -1, "wrong version rejected");
	raw_frame(h, 10, IPC_STORE_STAT, IPC_VERSION, 0x80);
	is_int(ipc_parse_header(h, sizeof(h), &type, &flags, &len), -1, "unknown flag rejected");
	raw_frame(h, IPC_MAX_PAYLOAD + 1, IPC_STORE_STAT, IPC_VERSION, 0);
	is_int(ipc_parse_header(h, sizeof(h), &type, &flags, &len), -1, "oversized frame rejected");
	raw_frame(h, IPC_MAX_PAYLOAD, IPC_STORE_DATA, IPC_VERSION, 0);
	is_int(ipc_parse_header(h, sizeof(h), &type, &flags, &len), 1, "maximal frame accepted");
	raw_frame(h, 0, 0, IPC_VERSION, 0);
	is_int(ipc_parse_header(h, sizeof(h), &type, &flags, &len), -1, "type 0 rejected");
}

static void
test_roundtrip(void)
{
	int sp[2];
	struct ipc_buf b;
	struct ipc_conn c;
	struct ipc_msg m;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	char *s = NULL;
	int fd, r;
	struct stat st1, st2;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	fd = open("/dev/null", O_RDONLY);
	ipc_begin(&b, IPC_AUTH_ATTACH);
	ipc_put_u8(&b, 7);
	ipc_put_u16(&b, 0xbeef);
	ipc_put_u32(&b, 0xdeadbeef);
	ipc_put_u64(&b, 0x0123456789abcdefULL);
	ipc_put_str(&b, "hello");
	ipc_put_fd(&b, fd);
	is_int(ipc_send(sp[0], &b), 0, "frame with descriptor sent");
	ipc_buf_free(&b);
	ipc_conn_init(&c, sp[1]);
	r = ipc_conn_recv(&c, &m, 5000);
	is_int(r, 1, "frame received");
	is_int(m.type, IPC_AUTH_ATTACH, "type survives");
	ok(ipc_get_u8(&m, &u8) && u8 == 7, "u8 survives");
	ok(ipc_get_u16(&m, &u16) && u16 == 0xbeef, "u16 survives");
	ok(ipc_get_u32(&m, &u32) && u32 == 0xdeadbeef, "u32 survives");
	ok(ipc_get_u64(&m, &u64) && u64 == 0x0123456789abcdefULL, "u64 survives");
	ok(ipc_get_str(&m, &s, 16) && strcmp(s, "hello") == 0, "string survives");
	free(s);
	ok(ipc_get_end(&m), "payload consumed exactly");
	ok(m.fd >= 0, "descriptor received");
	fstat(fd, &st1);
	fstat(m.fd, &st2);
	ok(st1.st_ino == st2.st_ino && st1.st_dev == st2.st_dev,
	    "received descriptor is the sent file");
	ok(fcntl(m.fd, F_GETFD) & FD_CLOEXEC, "received descriptor is close-on-exec");
	close(m.fd);
	close(fd);

	/* Over-reading and leftovers are errors. */
	ipc_begin(&b, IPC_STORE_DELE);
	ipc_put_u32(&b, 5);
	ipc_put_u8(&b, 1);
	ipc_send(sp[0], &b);
	ipc_buf_free(&b);
	ipc_conn_recv(&c, &m, 5000);
	ok(ipc_get_u32(&m, &u32) && u32 == 5, "first field read");
	ok(!ipc_get_end(&m), "leftover byte detected");
	ok(ipc_get_u8(&m, &u8), "last byte readable");
	ok(!ipc_get_u32(&m, &u32), "read past the end fails");
	ok(!ipc_get_end(&m), "a failed getter poisons the message");

	/* Strings: length limit and embedded NUL. */
	ipc_begin(&b, IPC_LOG);
	ipc_put_bytes(&b, "a\0b", 3);
	ipc_send(sp[0], &b);
	ipc_buf_free(&b);
	ipc_conn_recv(&c, &m, 5000);
	s = NULL;
	ok(!ipc_get_str(&m, &s, 16) && s == NULL, "string with NUL rejected");
	ipc_begin(&b, IPC_LOG);
	ipc_put_str(&b, "0123456789");
	ipc_send(sp[0], &b);
	ipc_buf_free(&b);
	ipc_conn_recv(&c, &m, 5000);
	ok(!ipc_get_str(&m, &s, 5), "string over its limit rejected");

	/* A length field that points past the frame. */
	ipc_begin(&b, IPC_LOG);
	ipc_put_u32(&b, 1000);
	memcpy(ipc_put_raw(&b, 3), "xyz", 3);
	ipc_send(sp[0], &b);
	ipc_buf_free(&b);
	ipc_conn_recv(&c, &m, 5000);
	{
		const uint8_t *p;
		size_t n;

		ok(!ipc_get_bytes(&m, &p, &n, 4096), "inner length past the frame rejected");
	}

	/* A frame that claims a descriptor that never came. */
	{
		uint8_t h[IPC_HDR_SIZE];

		raw_frame(h, 0, IPC_WORKER_SESSION, IPC_VERSION, IPC_F_FD);
		write_all(sp[0], h, sizeof(h));
		is_int(ipc_conn_recv(&c, &m, 5000), -1, "promised descriptor missing: protocol error");
	}
	ipc_conn_close(&c);
	close(sp[0]);
}

static void
test_stream_errors(void)
{
	int sp[2];
	struct ipc_conn c;
	struct ipc_msg m;
	uint8_t h[IPC_HDR_SIZE + 4] = { 0 };

	/* Truncated: a header promising 4 bytes, 2 sent, then EOF. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	raw_frame(h, 4, IPC_STORE_DELE, IPC_VERSION, 0);
	write_all(sp[0], h, IPC_HDR_SIZE + 2);
	close(sp[0]);
	ipc_conn_init(&c, sp[1]);
	is_int(ipc_conn_recv(&c, &m, 5000), 0, "truncated frame then EOF: no message");
	ipc_conn_close(&c);

	/* Oversized length on the wire. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	raw_frame(h, 0x7fffffff, IPC_STORE_DATA, IPC_VERSION, 0);
	write_all(sp[0], h, IPC_HDR_SIZE);
	ipc_conn_init(&c, sp[1]);
	is_int(ipc_conn_recv(&c, &m, 5000), -1, "oversized frame: protocol error");
	ipc_conn_close(&c);
	close(sp[0]);

	/* Timeout when nothing arrives. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	ipc_conn_init(&c, sp[1]);
	errno = 0;
	is_int(ipc_conn_recv(&c, &m, 50), 0, "silence: no message");
	is_int(errno, ETIMEDOUT, "silence reported as a timeout");
	ipc_conn_close(&c);
	close(sp[0]);

	/* Many frames in one write come out one by one, in order. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	{
		struct ipc_buf b;
		uint32_t v, bad = 0;

		for (uint32_t i = 0; i < 100; i++) {
			ipc_begin(&b, IPC_STORE_DELE);
			ipc_put_u32(&b, i);
			ipc_send(sp[0], &b);
			ipc_buf_free(&b);
		}
		ipc_conn_init(&c, sp[1]);
		for (uint32_t i = 0; i < 100; i++)
			if (ipc_conn_recv(&c, &m, 5000) != 1 ||
			    !ipc_get_u32(&m, &v) || v != i || !ipc_get_end(&m))
				bad++;
		is_int(bad, 0, "100 pipelined frames decoded in order");
		ipc_conn_close(&c);
		close(sp[0]);
	}
}

static uint8_t
pattern(uint32_t frame, size_t i)
{
	return (uint8_t)(frame * 131u + i * 7u + (i >> 9));
}

/* Payload size of frame i: large ones (a RETR data frame, a maximal
 * frame) that arrive in several reads, between small ones. */
static size_t
frame_size(uint32_t i)
{
	static const size_t sizes[] = { 1 + STORE_DATA_CHUNK, 9, 1,
	    IPC_MAX_PAYLOAD, 70001, 1 + STORE_DATA_CHUNK, 65536, 3 };

	return sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
}

/*
 * Large frames, sent by ipc_send_iov (a "last" byte and the data in two
 * pieces, as postern-store sends RETR data) or written by hand in pieces
 * of odd sizes: every frame is read back whole, in order, byte for byte,
 * however the reads split it.
 */
static void
test_large_frames(void)
{
	enum { NFRAMES = 64 };
	struct ipc_conn c;
	struct ipc_msg m;
	int sp[2], status = -1;
	uint32_t bad = 0;
	pid_t pid;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	fflush(stdout);		/* no buffered TAP output copied into the child */
	pid = fork();
	if (pid == 0) {
		struct ipc_buf b;
		uint32_t rnd = 12345;

		close(sp[1]);
		ipc_begin(&b, IPC_STORE_DATA);
		for (uint32_t i = 0; i < NFRAMES; i++) {
			size_t n = frame_size(i), off = 0;
			uint8_t *p;

			b.len = IPC_HDR_SIZE;
			p = ipc_put_raw(&b, n);
			for (size_t k = 0; k < n; k++)
				p[k] = pattern(i, k);
			if (i % 2 == 0) {
				struct iovec iov[2] = {
					{ p, 1 }, { p + 1, n - 1 } };

				struct ipc_buf pre;

				/* Every fourth one after a small frame, in
				 * the same system call. */
				ipc_begin(&pre, IPC_STORE_OK);
				ipc_put_u64(&pre, i);
				if (ipc_send_iov(sp[0], i % 4 == 0 ? &pre :
				    NULL, IPC_STORE_DATA, iov, 2) == -1)
					_exit(1);
				ipc_buf_free(&pre);
				continue;
			}
			/* The same frame by hand, in pieces: the header as
			 * ipc_send would write it, then odd-sized writes. */
			memcpy(b.data, &(uint32_t){ (uint32_t)n }, 4);
			while (off < b.len) {
				size_t piece;

				rnd = rnd * 1103515245u + 12345u;
				piece = 1 + (rnd >> 8) % 50000;
				if (piece > b.len - off)
					piece = b.len - off;
				if (write(sp[0], b.data + off, piece) !=
				    (ssize_t)piece)
					_exit(1);
				off += piece;
			}
		}
		_exit(0);
	}
	close(sp[0]);
	ipc_conn_init(&c, sp[1]);
	for (uint32_t i = 0; i < NFRAMES; i++) {
		size_t n = frame_size(i);
		uint64_t v;

		if (i % 4 == 0 && (ipc_conn_recv(&c, &m, 10000) != 1 ||
		    m.type != IPC_STORE_OK || !ipc_get_u64(&m, &v) || v != i ||
		    !ipc_get_end(&m))) {
			bad++;
			break;
		}
		if (ipc_conn_recv(&c, &m, 10000) != 1 ||
		    m.type != IPC_STORE_DATA || m.len != n) {
			bad++;
			break;
		}
		for (size_t k = 0; k < n; k++)
			if (m.data[k] != pattern(i, k)) {
				bad++;
				break;
			}
	}
	is_int(bad, 0, "%d frames of up to %d bytes, written whole and in "
	    "pieces: each read back exactly", NFRAMES, IPC_MAX_PAYLOAD);
	is_int(bad == 0 ? ipc_conn_recv(&c, &m, 10000) : -1, 0, "then EOF");
	{
		static uint8_t huge[IPC_MAX_PAYLOAD + 1];
		struct iovec big = { huge, sizeof(huge) };

		errno = 0;
		ok(ipc_send_iov(sp[1], NULL, IPC_STORE_DATA, &big, 1) == -1 &&
		    errno == EMSGSIZE, "ipc_send_iov: an oversized payload "
		    "is refused before anything is sent");
	}
	ipc_conn_close(&c);	/* first: a writer still writing must fail */
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer finished");
}

/*
 * Compacting the receive buffer moves a partly received frame down to its
 * start; the copy left where it was (an auth request carries a password)
 * must be wiped, not merely left unused.
 */
static void
test_compact_wipe(void)
{
	static const char secret[] = "compaction-leaves-no-copy";
	struct ipc_buf big, sec;
	struct ipc_conn c;
	struct ipc_msg m;
	uint32_t plen;
	int sp[2];
	bool got;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	ipc_conn_init(&c, sp[1]);
	/* A large frame, then all but the last byte of a small one that
	 * carries the secret: reading the large one takes the small one's
	 * first part too, and the read that completes it compacts. */
	ipc_begin(&big, IPC_STORE_DATA);
	memset(ipc_put_raw(&big, 100 * 1024), 'x', 100 * 1024);
	ipc_begin(&sec, IPC_AUTH_REQUEST);
	ipc_put_str(&sec, secret);
	ipc_put_u8(&sec, 0);	/* the part sent first holds all the secret */
	plen = (uint32_t)(sec.len - IPC_HDR_SIZE);
	memcpy(sec.data, &plen, 4);
	got = ipc_send(sp[0], &big) == 0 &&
	    write(sp[0], sec.data, sec.len - 1) == (ssize_t)sec.len - 1 &&
	    ipc_conn_recv(&c, &m, 5000) == 1 && m.type == IPC_STORE_DATA &&
	    write(sp[0], sec.data + sec.len - 1, 1) == 1 &&
	    ipc_conn_recv(&c, &m, 5000) == 1 && m.type == IPC_AUTH_REQUEST;
	ok(got, "a large frame, then a small one completed by a later read");
	ok(got && c.inlen < 1024, "... which compacted the buffer (%zu bytes "
	    "in it)", c.inlen);
	/* Only what reads ever filled: the rest was never written (and is
	 * uninitialised to valgrind). */
	ok(got && memmem(c.in + c.inlen,
	    (big.len + sec.len < c.incap ? big.len + sec.len : c.incap) - c.inlen,
	    secret, sizeof(secret) - 1) == NULL,
	    "no copy of the moved frame is left behind in the buffer");
	ipc_buf_free(&big);
	ipc_buf_free(&sec);
	ipc_conn_close(&c);
	close(sp[0]);
}

/*
 * ipc_conn_release gives back an empty buffer only: unread bytes (a frame
 * queued behind the one just taken, or a partial one) keep it, and the
 * channel works on after a release.
 */
static void
test_release(void)
{
	struct ipc_buf b;
	struct ipc_conn c;
	struct ipc_msg m;
	uint32_t v = 0;
	int sp[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	ipc_conn_init(&c, sp[1]);
	ipc_conn_release(&c);
	ok(c.in == NULL && c.incap == 0, "release before any read: nothing to free");
	for (uint32_t i = 1; i <= 2; i++) {
		ipc_begin(&b, IPC_STORE_DELE);
		ipc_put_u32(&b, i);
		ipc_send(sp[0], &b);
		ipc_buf_free(&b);
	}
	/* Both frames arrive in one read (a socketpair delivers them
	 * together once both are written). */
	ok(ipc_conn_recv(&c, &m, 5000) == 1 && ipc_get_u32(&m, &v) && v == 1,
	    "first frame received");
	ipc_conn_release(&c);
	ok(c.in != NULL && c.inlen > c.inpos,
	    "release with a frame still unread keeps the buffer");
	ok(ipc_conn_recv(&c, &m, 5000) == 1 && ipc_get_u32(&m, &v) && v == 2,
	    "... and the queued frame is intact");
	ipc_conn_release(&c);
	ok(c.in == NULL && c.incap == 0 && c.inlen == 0 && c.inpos == 0,
	    "release of an emptied buffer frees it");
	ipc_begin(&b, IPC_STORE_DELE);
	ipc_put_u32(&b, 3);
	ipc_send(sp[0], &b);
	ipc_buf_free(&b);
	ok(ipc_conn_recv(&c, &m, 5000) == 1 && ipc_get_u32(&m, &v) && v == 3,
	    "the channel reads on after a release");
	ipc_conn_close(&c);
	close(sp[0]);
}

/* ipc_send_batch: several frames in one system call, in order. */
static void
test_batch(void)
{
	struct ipc_buf b[IPC_SEND_BATCH_MAX + 1];
	struct ipc_conn c;
	struct ipc_msg m;
	uint32_t v;
	int sp[2], n = 0, bad = 0;
	ssize_t got;
	uint8_t raw[512];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	for (int i = 0; i < IPC_SEND_BATCH_MAX; i++) {
		ipc_begin(&b[i], IPC_STORE_RETR_AHEAD);
		ipc_put_u32(&b[i], 100 + (uint32_t)i);
	}
	is_int(ipc_send_batch(sp[0], b, IPC_SEND_BATCH_MAX), 0,
	    "a batch of IPC_SEND_BATCH_MAX frames is sent");
	/* One system call: all of them are readable at once. */
	got = recv(sp[1], raw, sizeof(raw), MSG_PEEK | MSG_DONTWAIT);
	is_int((int)got, (int)(IPC_SEND_BATCH_MAX * (IPC_HDR_SIZE + 4)),
	    "... all of them in the socket at once");
	ipc_conn_init(&c, sp[1]);
	for (int i = 0; i < IPC_SEND_BATCH_MAX; i++) {
		if (ipc_conn_recv(&c, &m, 5000) != 1 ||
		    m.type != IPC_STORE_RETR_AHEAD || !ipc_get_u32(&m, &v) ||
		    v != 100 + (uint32_t)i || !ipc_get_end(&m))
			bad++;
		else
			n++;
	}
	ok(n == IPC_SEND_BATCH_MAX && bad == 0,
	    "each frame arrives whole and in order (%d of %d)", n,
	    IPC_SEND_BATCH_MAX);
	for (int i = 0; i < IPC_SEND_BATCH_MAX; i++)
		ipc_buf_free(&b[i]);
	ok(ipc_send_batch(sp[0], b, 0) == -1 && errno == EINVAL,
	    "an empty batch is refused");
	ok(ipc_send_batch(sp[0], b, IPC_SEND_BATCH_MAX + 1) == -1 &&
	    errno == EINVAL, "a batch over IPC_SEND_BATCH_MAX is refused");
	ipc_begin(&b[0], IPC_STORE_STAT);
	ipc_begin(&b[1], IPC_AUTH_ATTACH);
	ipc_put_fd(&b[1], 0);
	ok(ipc_send_batch(sp[0], b, 2) == -1 && errno == EINVAL,
	    "a batch with a descriptor is refused");
	got = recv(sp[1], raw, sizeof(raw), MSG_DONTWAIT);
	ok(got == -1 && errno == EAGAIN, "... and nothing of it was sent");
	ipc_buf_free(&b[0]);
	ipc_buf_free(&b[1]);
	ipc_conn_close(&c);
	close(sp[0]);
}

int
main(void)
{
	test_header();
	test_roundtrip();
	test_stream_errors();
	test_large_frames();
	test_compact_wipe();
	test_release();
	test_batch();
	return tap_done();
}
