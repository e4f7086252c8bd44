/*
 * mbox_io.c - the file operations of the mailbox engine: full reads and
 * writes that retry EINTR and short transfers, kernel-side copies, and
 * the syncs and renames expunge depends on. Every call that changes a
 * file on disk passes through here, which is where the crash test's
 * fault-injection points sit (compiled only into the test library).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mbox_hash.h"
#include "mbox_int.h"

ssize_t
mbox_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, p + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int
mbox_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	size_t chunk = mbox_io_chunk(), n;
	ssize_t w;

	while (len > 0) {
		n = len < chunk ? len : chunk;
		if (MBOX_FAULT() != 0)
			return -1;
		w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

/* Fallback copy through a buffer, for when the kernel cannot copy. */
static int
copy_via_buffer(int in, uint64_t in_off, int out, uint64_t out_off,
    uint64_t len)
{
	size_t chunk = mbox_io_chunk(), n;
	uint8_t *buf = malloc(chunk);
	ssize_t r;

	if (buf == NULL)
		return -1;
	while (len > 0) {
		n = len < chunk ? (size_t)len : chunk;
		r = mbox_pread_full(in, buf, n, in_off);
		if (r != (ssize_t)n) {
			if (r >= 0)
				errno = EIO;	/* source too short */
			free(buf);
			return -1;
		}
		if (mbox_pwrite_full(out, buf, n, out_off) < 0) {
			free(buf);
			return -1;
		}
		in_off += n;
		out_off += n;
		len -= n;
	}
	free(buf);
	return 0;
}

/*
 * Copy len bytes between files. copy_file_range keeps the data in the
 * kernel (and shares extents where the filesystem can); it is tried
 * first, the buffer copy covers old kernels and cross-device copies.
 */
int
mbox_copy_range(int in, uint64_t in_off, int out, uint64_t out_off,
    uint64_t len)
{
	size_t chunk = mbox_io_chunk();
	loff_t io, oo;
	ssize_t n;
	size_t want;

	while (len > 0) {
		want = len < chunk ? (size_t)len : chunk;
		io = (loff_t)in_off;
		oo = (loff_t)out_off;
		if (MBOX_FAULT() != 0)
			return -1;
		n = copy_file_range(in, &io, out, &oo, want, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EXDEV || errno == ENOSYS ||
			    errno == EINVAL || errno == EOPNOTSUPP)
				return copy_via_buffer(in, in_off, out,
				    out_off, len);
			return -1;
		}
		if (n == 0) {
			errno = EIO;	/* source shorter than promised */
			return -1;
		}
		in_off += (uint64_t)n;
		out_off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int
mbox_fsync(int fd)
{
	if (MBOX_FAULT() != 0)
		return -1;
	while (fsync(fd) != 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

int
mbox_ftruncate(int fd, uint64_t len)
{
	if (MBOX_FAULT() != 0)
		return -1;
	while (ftruncate(fd, (off_t)len) != 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

/* Reserve [0, len) of a new file (it becomes that long). EOPNOTSUPP
 * where the file system cannot reserve without writing. */
int
mbox_fallocate(int fd, uint64_t len)
{
	if (MBOX_FAULT() != 0)
		return -1;
	while (fallocate(fd, 0, 0, (off_t)len) != 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

int
mbox_renameat(int dfd, const char *from, const char *to)
{
	if (MBOX_FAULT() != 0)
		return -1;
	return renameat(dfd, from, dfd, to);
}

int
mbox_unlinkat(int dfd, const char *name)
{
	if (MBOX_FAULT() != 0)
		return -1;
	return unlinkat(dfd, name, 0);
}

void
mbox_msleep(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* mbox_hash128 of the file bytes [off, off + len); -1 if they are not
 * all there. */
int
mbox_hash_range(int fd, uint64_t off, uint64_t len,
    uint8_t out[MBOX_HASH_LEN])
{
	size_t chunk = MBOX_IO_CHUNK, n;
	uint8_t *buf = malloc(chunk);
	struct mbox_hash h;

	if (buf == NULL)
		return -1;
	mbox_hash_init(&h);
	while (len > 0) {
		n = len < chunk ? (size_t)len : chunk;
		if (mbox_pread_full(fd, buf, n, off) != (ssize_t)n) {
			free(buf);
			return -1;
		}
		mbox_hash_update(&h, buf, n);
		off += n;
		len -= n;
	}
	free(buf);
	mbox_hash_final(&h, out);
	return 0;
}

/*
 * A fast 64-bit checksum (word-at-a-time multiply-xorshift) for the
 * index trailer and the journal payload. Feeding it in pieces that are
 * multiples of 8 bytes gives the same result as one call. It guards
 * against accidental damage and tells "this is that data" apart from
 * unrelated data; nothing depends on it resisting a forger (whoever can
 * write these files can write the mailbox too). SHA-256 would cost most
 * of an expunge's CPU time.
 */
uint64_t
mbox_sum64(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ le64toh(w)) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		h = (h ^ *p++) * 0xc4ceb9fe1a85ec53ULL;
	return h;
}

/* mbox_sum64 of the file bytes [off, off + len); -1 if not all there. */
int
mbox_sum_range(int fd, uint64_t off, uint64_t len, uint64_t *out)
{
	size_t chunk = MBOX_IO_CHUNK, n;
	uint8_t *buf = malloc(chunk);
	uint64_t h = 0;

	if (buf == NULL)
		return -1;
	while (len > 0) {
		n = len < chunk ? (size_t)len : chunk;
		if (mbox_pread_full(fd, buf, n, off) != (ssize_t)n) {
			free(buf);
			return -1;
		}
		h = mbox_sum64(h, buf, n);
		off += n;
		len -= n;
	}
	free(buf);
	*out = h;
	return 0;
}

bool
mbox_from_at(int fd, uint64_t off)
{
	uint8_t b[6];

	if (off == 0)
		return mbox_pread_full(fd, b, 5, 0) == 5 &&
		    memcmp(b, "From ", 5) == 0;
	return mbox_pread_full(fd, b, 6, off - 1) == 6 && b[0] == '\n' &&
	    memcmp(b + 1, "From ", 5) == 0;
}

/*
 * Fault in the pages of a large fresh allocation in one call before it
 * is filled: one page fault each costs more, on a paravirtualised VM
 * several times more. Only whole pages inside [p, p + len); a kernel
 * without MADV_POPULATE_WRITE (before 5.14) just faults them later.
 */
void
mbox_prefault(void *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t e = ((uintptr_t)p + len) & ~(pg - 1);

	if (e > a)
		(void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)len;
#endif
}

#ifndef MBOX_FAULT_INJECTION
size_t
mbox_io_chunk(void)
{
	return MBOX_IO_CHUNK;
}
#endif
