/*
 * fuzz-mbox-index.c - fuzz target for the UIDL index parser (storage/
 * mbox_index.h); the index lives in a directory the user can write, so
 * it is hostile input. If the first byte is odd the target appends a
 * correct checksum, so the fuzzer gets past it and exercises the record
 * checks. Invariant: whatever parses re-encodes to the same bytes, and
 * its records are ordered and inside the size the header claims.
 *
 * libFuzzer build: as for fuzz-mbox-scan.c, with this file instead.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mbox_index.h"
#include "mbox_int.h"

static unsigned long parsed, rejected;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbox_index_hdr h;
	struct mbox_msg *v = NULL;
	const char *why;
	uint8_t *buf, hb[MBOX_INDEX_HDR_SIZE], rb[MBOX_INDEX_REC_SIZE];
	size_t blen;
	uint32_t i;

	if (size < 1)
		return 0;
	blen = size - 1 + ((data[0] & 1) ? MBOX_INDEX_SUM_SIZE : 0);
	if ((buf = malloc(blen + 1)) == NULL)
		abort();
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1) {
		uint64_t sum = mbox_sum64(0, buf, size - 1);

		for (i = 0; i < 8; i++)
			buf[size - 1 + i] = (uint8_t)(sum >> (8 * i));
	}
	if (mbox_index_parse(buf, blen, &h, &v, &why) == 0) {
		FUZZ_CHECK(blen == mbox_index_file_size(h.nmsgs));
		mbox_index_encode_hdr(&h, hb);
		FUZZ_CHECK(memcmp(hb, buf, sizeof(hb)) == 0);
		for (i = 0; i < h.nmsgs; i++) {
			mbox_index_encode_rec(&v[i], rb);
			FUZZ_CHECK(memcmp(rb, buf + MBOX_INDEX_HDR_SIZE +
			    (size_t)i * MBOX_INDEX_REC_SIZE, sizeof(rb)) == 0);
			FUZZ_CHECK(v[i].data_off <= v[i].end_off &&
			    v[i].end_off <= h.size && v[i].suffix >= 1);
			FUZZ_CHECK(i == 0 || v[i].from_off >= v[i - 1].end_off);
		}
		free(v);
		parsed++;
	} else {
		FUZZ_CHECK(why != NULL && v == NULL);
		rejected++;
	}
	free(buf);
	return 0;
}

#ifdef FUZZ_STANDALONE
int
fuzz_report(char *text, size_t len)
{
	snprintf(text, len, "%lu parsed, %lu rejected", parsed, rejected);
	return parsed > 500 && rejected > 500;
}

/* Valid indexes, then damaged: a field or a byte changed, truncated. */
void
fuzz_generate(uint32_t seed, uint8_t **data, size_t *size)
{
	uint32_t s = seed * 2654435761u, n = seed % 9, i;
	struct mbox_index_hdr h;
	struct mbox_msg m;
	uint64_t off = seed % 3;
	size_t len = 1 + mbox_index_file_size(n), pos;
	uint8_t *p = calloc(1, len);

	if (p == NULL)
		abort();
	p[0] = 1;		/* target appends the checksum */
	memset(&h, 0, sizeof(h));
	h.format = seed & 1;
	h.nmsgs = n;
	for (i = 0; i < n; i++) {
		memset(&m, 0, sizeof(m));
		m.from_off = off;
		m.data_off = off + 5 + seed % 4;
		m.end_off = m.data_off + (i % 3) * 10;
		m.size = m.end_off == m.data_off ? 0 : 12;
		m.digest[0] = (uint8_t)(i / 2);
		m.suffix = 1 + i % 2;
		m.flags = i == 0 && (seed & 2) ? 1 : 0;
		off = m.end_off + i % 3;
		mbox_index_encode_rec(&m, p + 1 + MBOX_INDEX_HDR_SIZE +
		    (size_t)i * MBOX_INDEX_REC_SIZE);
	}
	h.size = off;
	mbox_index_encode_hdr(&h, p + 1);
	len -= MBOX_INDEX_SUM_SIZE;	/* the target adds it */
	s = s * 1103515245u + 12345u;
	switch (seed % 4) {
	case 1:		/* flip a byte */
		pos = 1 + (s >> 8) % (len - 1);
		p[pos] ^= (uint8_t)(1u << (s % 8));
		break;
	case 2:		/* truncate */
		len = 1 + (s >> 8) % len;
		break;
	case 3:		/* no checksum fix-up: must fail the checksum */
		p[0] = 0;
		break;
	default:
		break;
	}
	*data = p;
	*size = len;
}
#endif
