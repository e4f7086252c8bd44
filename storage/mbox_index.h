/*
 * mbox_index.h - the on-disk UIDL index: its format and its parser. The
 * index lives in a directory the user can write, so the reader is a
 * parser of hostile input like the mbox scanner, and just as I/O-free
 * (the fuzz target calls mbox_index_parse directly).
 *
 * Layout (little-endian):
 *   header, MBOX_INDEX_HDR_SIZE bytes:
 *     0 magic "PSTNIDX1"      8 version (u32) = 2
 *    12 header size (u32)    16 record size (u32)   20 format (u32)
 *    24 st_dev (u64)         32 st_ino (u64)
 *    40 size covered (u64): the records describe [0, size)
 *    48 mtime seconds (i64)  56 mtime nanoseconds (u32)
 *    60 number of records (u32)
 *    64 validation hash (16): mbox_hash128 of sampled From_ lines and
 *       of the last 64 KiB of [0, size), to check the mailbox cheaply
 *    80 zero
 *   records, MBOX_INDEX_REC_SIZE bytes each:
 *     from_off, data_off, end_off, size (u64 each), digest (16),
 *     UIDL suffix (u32), flags (u32: 1 = pseudo message)
 *   trailer: 64-bit checksum of everything before it (mbox_sum64,
 *     little-endian), against accidental damage only.
 */
#ifndef POSTERN_MBOX_INDEX_H
#define POSTERN_MBOX_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "mbox_hash.h"

struct mbox_msg;

#define MBOX_INDEX_MAGIC	"PSTNIDX1"
/* Bump whenever the meaning of a record changes, including the digest
 * (mbox_scan.h: what is hashed, the caps) or the size rules: an index of
 * another version is rebuilt, while a stale one would make every commit
 * fail its re-scan check. Version 1 used SHA-256 for the digests and the
 * validation hash. */
#define MBOX_INDEX_VERSION	2
#define MBOX_INDEX_HDR_SIZE	128
#define MBOX_INDEX_REC_SIZE	56
#define MBOX_INDEX_SUM_SIZE	8

struct mbox_index_hdr {
	uint32_t format;
	uint64_t dev, ino;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t nmsgs;
	uint8_t validation[MBOX_HASH_LEN];
};

/*
 * Parse a complete index file image. On success returns 0 and *msgs is a
 * malloc'd array of hdr->nmsgs records (NULL when there are none); every
 * record is consistent with its neighbours and with hdr->size, and UIDLs
 * are unique. On failure returns -1 and *why says what was wrong.
 */
int mbox_index_parse(const uint8_t *buf, size_t len,
    struct mbox_index_hdr *hdr, struct mbox_msg **msgs, const char **why);

/* Encoders and the checksum, used by the writer and by tests and fuzz
 * targets that forge indexes. */
uint64_t mbox_sum64(uint64_t h, const void *, size_t);
size_t mbox_index_file_size(uint32_t nmsgs);
void mbox_index_encode_hdr(const struct mbox_index_hdr *,
    uint8_t out[MBOX_INDEX_HDR_SIZE]);
void mbox_index_encode_rec(const struct mbox_msg *,
    uint8_t out[MBOX_INDEX_REC_SIZE]);

#endif
