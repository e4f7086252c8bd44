/*
 * mbox_hash.c - MurmurHash3_x64_128 (see mbox_hash.h for why this hash
 * and what it is trusted with), one-shot and streaming. Blocks of 16
 * bytes go through two 64-bit lanes; the tail and the length are mixed
 * in at the end, exactly as in the reference implementation, so the
 * unit test can check SMHasher's published verification value.
 */
#include "config.h"

#include <endian.h>
#include <string.h>

#include "mbox_hash.h"

#define C1	0x87c37b91114253d5ULL
#define C2	0x4cf5ad432745937fULL

/* UIDLs depend on it: changing it changes every UIDL. */
#define MBOX_HASH_SEED	0u

static inline uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t
fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* The body: whole 16-byte blocks. */
static void
blocks(uint64_t *h1p, uint64_t *h2p, const uint8_t *p, size_t nblocks)
{
	uint64_t h1 = *h1p, h2 = *h2p, k1, k2;

	while (nblocks-- > 0) {
		k1 = load64(p);
		k2 = load64(p + 8);
		p += 16;
		k1 *= C1;
		k1 = rotl64(k1, 31);
		k1 *= C2;
		h1 ^= k1;
		h1 = rotl64(h1, 27);
		h1 += h2;
		h1 = h1 * 5 + 0x52dce729;
		k2 *= C2;
		k2 = rotl64(k2, 33);
		k2 *= C1;
		h2 ^= k2;
		h2 = rotl64(h2, 31);
		h2 += h1;
		h2 = h2 * 5 + 0x38495ab5;
	}
	*h1p = h1;
	*h2p = h2;
}

static void
put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* The tail (len < 16 bytes) and the finalisation. */
static void
finish(uint64_t h1, uint64_t h2, const uint8_t *tail, size_t len,
    uint64_t total, uint8_t out[MBOX_HASH_LEN])
{
	uint64_t k1 = 0, k2 = 0;
	size_t i;

	for (i = len; i > 8; i--)
		k2 ^= (uint64_t)tail[i - 1] << (8 * (i - 9));
	if (len > 8) {
		k2 *= C2;
		k2 = rotl64(k2, 33);
		k2 *= C1;
		h2 ^= k2;
	}
	for (i = len < 8 ? len : 8; i > 0; i--)
		k1 ^= (uint64_t)tail[i - 1] << (8 * (i - 1));
	if (len > 0) {
		k1 *= C1;
		k1 = rotl64(k1, 31);
		k1 *= C2;
		h1 ^= k1;
	}
	h1 ^= total;
	h2 ^= total;
	h1 += h2;
	h2 += h1;
	h1 = fmix64(h1);
	h2 = fmix64(h2);
	h1 += h2;
	h2 += h1;
	put64(out, h1);
	put64(out + 8, h2);
}

void
mbox_hash128_seed(const void *buf, size_t len, uint32_t seed,
    uint8_t out[MBOX_HASH_LEN])
{
	const uint8_t *p = buf;
	uint64_t h1 = seed, h2 = seed;

	blocks(&h1, &h2, p, len / 16);
	finish(h1, h2, p + (len & ~(size_t)15), len & 15, (uint64_t)len, out);
}

void
mbox_hash128(const void *buf, size_t len, uint8_t out[MBOX_HASH_LEN])
{
	mbox_hash128_seed(buf, len, MBOX_HASH_SEED, out);
}

void
mbox_hash_init(struct mbox_hash *h)
{
	h->h1 = h->h2 = MBOX_HASH_SEED;
	h->total = 0;
}

void
mbox_hash_update(struct mbox_hash *h, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t have = (size_t)(h->total & 15), take;

	h->total += len;
	if (have != 0) {
		take = 16 - have < len ? 16 - have : len;
		memcpy(h->part + have, p, take);
		p += take;
		len -= take;
		if (have + take < 16)
			return;
		blocks(&h->h1, &h->h2, h->part, 1);
	}
	blocks(&h->h1, &h->h2, p, len / 16);
	memcpy(h->part, p + (len & ~(size_t)15), len & 15);
}

void
mbox_hash_final(const struct mbox_hash *h, uint8_t out[MBOX_HASH_LEN])
{
	finish(h->h1, h->h2, h->part, (size_t)(h->total & 15), h->total, out);
}
