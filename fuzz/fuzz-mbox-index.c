/*
 * fuzz-mbox-index.c - the UIDL index file, which lives in a directory
 * its (possibly hostile) user can write, through mbox_index_parse(); then
 * the parsed table through mbox_uidl_assign() the two ways mbox.c uses
 * it (mailbox rewritten: new table against the whole old index; mailbox
 * grown: all but the last old record kept).
 *
 * Input: 1 mode byte, then the index image. Mode bit 0 recomputes the
 * checksum trailer, so that the fuzzer gets past the checksum into the
 * structural checks; the rest of the mode byte and the record bytes
 * drive the UIDL assignment. Invariants: whatever parses re-encodes to
 * the same bytes, is ordered and inside the covered size, and every
 * assignment yields unique UIDLs of 1-70 printable octets.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mbox_index.h"
#include "mbox_int.h"

#define MAX_NEW	64

static void
check_uidls(const struct mbox_msg *m, uint32_t n)
{
	char u[MBOX_UIDL_MAX];

	FUZZ_CHECK(mbox_uidl_unique(m, n));
	for (uint32_t i = 0; i < n; i++) {
		size_t len;

		FUZZ_CHECK(m[i].suffix >= 1);
		mbox_uidl_format(&m[i], u);
		len = strlen(u);
		FUZZ_CHECK(len >= 1 && len <= 70);	/* RFC 1939 7 */
		for (size_t k = 0; k < len; k++)
			FUZZ_CHECK(u[k] >= 0x21 && u[k] <= 0x7e);
	}
}

/* A new table whose digests repeat old ones (chosen by sel) or are new. */
static uint32_t
new_table(struct mbox_msg *out, const struct mbox_msg *old, uint32_t nold,
    const uint8_t *sel, size_t nsel)
{
	uint32_t n = 0;

	for (size_t i = 0; i < nsel && n < MAX_NEW; i++, n++) {
		memset(&out[n], 0, sizeof(out[n]));
		if (nold > 0 && (sel[i] & 0x80) == 0)
			memcpy(out[n].digest, old[sel[i] % nold].digest,
			    MBOX_DIGEST_LEN);
		else
			memset(out[n].digest, sel[i], MBOX_DIGEST_LEN);
		out[n].suffix = 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbox_index_hdr h;
	struct mbox_msg *v = NULL, *t;
	uint8_t *img, *re;
	const char *why = NULL;
	size_t len, sel_len;
	const uint8_t *sel;
	uint32_t n;

	if (size < 1)
		return 0;
	len = size - 1;
	img = malloc(len ? len : 1);
	if (img == NULL)
		return 0;
	memcpy(img, data + 1, len);
	if ((data[0] & 1) && len >= MBOX_INDEX_HDR_SIZE + MBOX_INDEX_SUM_SIZE) {
		/* The trailer as the writer computes it (mbox_index.c). */
		uint64_t sum = mbox_sum64(mbox_sum64(0, img, MBOX_INDEX_HDR_SIZE),
		    img + MBOX_INDEX_HDR_SIZE,
		    len - MBOX_INDEX_HDR_SIZE - MBOX_INDEX_SUM_SIZE);

		for (int i = 0; i < MBOX_INDEX_SUM_SIZE; i++)
			img[len - MBOX_INDEX_SUM_SIZE + i] = (uint8_t)(sum >> (8 * i));
	}
	if (mbox_index_parse(img, len, &h, &v, &why) != 0) {
		FUZZ_CHECK(why != NULL && v == NULL);
		free(img);
		return 0;
	}
	n = h.nmsgs;
	FUZZ_CHECK(why == NULL && len == mbox_index_file_size(n));
	FUZZ_CHECK((n == 0) == (v == NULL));

	/* Re-encoding gives back the very same file. */
	re = calloc(1, len + 1);	/* len > 0 here; + 1 for the analyzer */
	FUZZ_CHECK(re != NULL);
	mbox_index_encode_hdr(&h, re);
	for (uint32_t i = 0; i < n; i++)
		mbox_index_encode_rec(&v[i], re + MBOX_INDEX_HDR_SIZE +
		    (size_t)i * MBOX_INDEX_REC_SIZE);
	memcpy(re + len - MBOX_INDEX_SUM_SIZE, img + len - MBOX_INDEX_SUM_SIZE,
	    MBOX_INDEX_SUM_SIZE);
	FUZZ_CHECK(memcmp(re, img, len) == 0);
	free(re);

	for (uint32_t i = 0; i < n; i++) {
		uint64_t next = i + 1 < n ? v[i + 1].from_off : h.size;

		FUZZ_CHECK(v[i].from_off + 5 <= v[i].data_off);
		FUZZ_CHECK(v[i].data_off <= v[i].end_off && v[i].end_off <= next);
		FUZZ_CHECK(next <= h.size);
		FUZZ_CHECK(!(v[i].flags & MSG_PSEUDO) || i == 0);
	}
	check_uidls(v, n);

	/* The rest of the input picks the digests of the "new" mail. */
	sel = data + 1 + MBOX_INDEX_HDR_SIZE;
	sel_len = n * (size_t)MBOX_INDEX_REC_SIZE;
	t = calloc((size_t)n + MAX_NEW, sizeof(*t));
	FUZZ_CHECK(t != NULL);

	/* Mailbox rewritten (index stale): everything is new. */
	{
		uint32_t m = new_table(t, v, n, sel, sel_len);

		mbox_uidl_assign(t, m, 0, v, n, 0);
		check_uidls(t, m);
	}
	/* Mailbox grown: the old table but its last record, then new mail
	 * rescanned from that record on. */
	if (n > 0) {
		uint32_t m;

		memcpy(t, v, (size_t)(n - 1) * sizeof(*t));
		m = new_table(t + n - 1, v, n, sel + sel_len / 2,
		    sel_len - sel_len / 2);
		mbox_uidl_assign(t, n - 1 + m, n - 1, &v[n - 1], 1, 0);
		check_uidls(t, n - 1 + m);
	}
	free(t);
	free(v);
	free(img);
	return 0;
}
