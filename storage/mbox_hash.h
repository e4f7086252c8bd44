/*
 * mbox_hash.h - the one hash function of the mailbox engine: UIDL
 * digests, the index's validation sample and checksum, the journal's
 * header and old-tail checks.
 *
 * It is MurmurHash3_x64_128 (Austin Appleby, public domain), fixed
 * seed, written out here so that postern-store needs no crypto library.
 * It is not a cryptographic hash and nothing relies on it being one:
 *
 *  - UIDL digests: identical digests are told apart by the "-N" suffix,
 *    so a collision, accidental or crafted, never makes two UIDLs equal.
 *    The seed is fixed because UIDLs must come out the same from the
 *    mailbox alone when the index is lost; a secret key would have to
 *    live somewhere that survives that, and there is no such place.
 *    Storage/MBOX.md ("UIDL") says what a crafted collision could and
 *    could not do.
 *  - index and journal: they guard against torn writes and against
 *    mistaking one state of the mailbox for another; whoever could
 *    forge them can write the mailbox itself.
 *
 * The streaming interface gives the same result as one call over the
 * concatenated input, however the input is cut.
 */
#ifndef POSTERN_MBOX_HASH_H
#define POSTERN_MBOX_HASH_H

#include <stddef.h>
#include <stdint.h>

#define MBOX_HASH_LEN	16

struct mbox_hash {
	uint64_t h1, h2;
	uint64_t total;		/* bytes fed so far */
	uint8_t part[16];	/* an incomplete block: total % 16 bytes */
};

void mbox_hash_init(struct mbox_hash *);
void mbox_hash_update(struct mbox_hash *, const void *, size_t);
/* The 128-bit result as 16 bytes (h1, h2, each little-endian). */
void mbox_hash_final(const struct mbox_hash *, uint8_t out[MBOX_HASH_LEN]);
void mbox_hash128(const void *, size_t, uint8_t out[MBOX_HASH_LEN]);

/* MurmurHash3_x64_128 with an arbitrary seed: only for the known-answer
 * test (SMHasher's verification value), which varies the seed. */
void mbox_hash128_seed(const void *, size_t, uint32_t seed,
    uint8_t out[MBOX_HASH_LEN]);

#endif
