/*
 * fuzz-ipc.c - arbitrary bytes as a stream of IPC frames, taken apart by
 * the same code every receiver runs: ipc_conn_next() (framing, header
 * checks, descriptor bookkeeping) and the per-type decoders of
 * lib/ipc_msgs.c. Each frame is decoded as its own type, as a receiver
 * would, and then as every other type, since a confused or hostile peer
 * chooses the type it sends. A decoder that says "well formed" must
 * have consumed the payload exactly; every named type is listed here;
 * the TLS names the master accepts are ones a handshake could give.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "ipc.h"
#include "ipc_msgs.h"

static const uint16_t all_types[] = {
	IPC_LOG, IPC_CONFIG, IPC_WORKER_INIT, IPC_WORKER_TLS, IPC_WORKER_SESSION,
	IPC_WORKER_STATS, IPC_WORKER_STLS, IPC_AUTH_ATTACH, IPC_AUTH_DETACH, IPC_AUTH_GRANTED,
	IPC_AUTH_KILL, IPC_AUTH_REQUEST, IPC_AUTH_RESULT, IPC_STORE_OPEN,
	IPC_STORE_OPENED, IPC_STORE_LIST, IPC_STORE_LISTING, IPC_STORE_UIDL,
	IPC_STORE_UIDLS, IPC_STORE_RETR, IPC_STORE_DATA, IPC_STORE_DELE,
	IPC_STORE_OK, IPC_STORE_RSET, IPC_STORE_STAT, IPC_STORE_STATUS,
	IPC_STORE_COMMIT, IPC_STORE_ERROR, IPC_STORE_INIT, IPC_STORE_READY,
	IPC_STORE_RETR_AHEAD,
};

static void
decode_as(const struct ipc_msg *orig, uint16_t type)
{
	struct ipc_msg m = *orig;
	int r;

	r = ipc_msgs_check(&m, type);
	FUZZ_CHECK(r == -1 || r == 0 || r == 1);
	FUZZ_CHECK(r != -1 || strcmp(ipc_type_name(type), "UNKNOWN") == 0);
	if (r == 1)
		FUZZ_CHECK(!m.bad && m.pos == m.len);
	FUZZ_CHECK(m.pos <= m.len);
}

/* Every named type is in all_types: a new message is cross-decoded too. */
static void
check_all_types_listed(void)
{
	for (unsigned t = 1; t < 256; t++) {
		bool listed = false;

		for (size_t i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++)
			listed = listed || all_types[i] == t;
		FUZZ_CHECK(listed || strcmp(ipc_type_name(t), "UNKNOWN") == 0);
	}
}

/* What the master accepts as a TLS handshake's names is what OpenSSL
 * could have said: within the limits, printable, no spaces. */
static void
check_worker_tls(const struct ipc_msg *orig)
{
	struct ipc_msg m = *orig;
	char *version, *cipher;

	if (!ipc_dec_worker_tls(&m, &version, &cipher)) {
		FUZZ_CHECK(version == NULL && cipher == NULL);
		return;
	}
	FUZZ_CHECK(m.pos == m.len && !m.bad);
	FUZZ_CHECK(strlen(version) >= 1 && strlen(version) <= IPC_MAX_TLS_VERSION);
	FUZZ_CHECK(strlen(cipher) >= 1 && strlen(cipher) <= IPC_MAX_TLS_CIPHER);
	for (const char *p = version; *p != '\0'; p++)
		FUZZ_CHECK(*p > ' ' && *p < 0x7f);
	for (const char *p = cipher; *p != '\0'; p++)
		FUZZ_CHECK(*p > ' ' && *p < 0x7f);
	free(version);
	free(cipher);
}

static void
check_log_readers(const struct ipc_msg *orig)
{
	struct ipc_msg a = *orig, b = *orig;
	struct ipc_log l;
	uint8_t prio;
	char *text = NULL;

	/* A NUL-free text is a special case of any text. */
	if (ipc_dec_log_str(&b, &prio, &text)) {
		FUZZ_CHECK(ipc_dec_log(&a, &l));
		FUZZ_CHECK(l.prio == prio && l.len == strlen(text));
		FUZZ_CHECK(memcmp(l.text, text, l.len) == 0);
		free(text);
	} else {
		FUZZ_CHECK(text == NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_conn c;
	struct ipc_msg m;
	uint16_t type;
	uint8_t flags;
	uint32_t len;
	int r;

	check_all_types_listed();
	if (size < 1)
		return 0;
	/* The first byte says how many descriptors "arrived" with the
	 * bytes; they are fake numbers that are never used. */
	ipc_conn_init(&c, -1);
	c.nfds = data[0] % (IPC_MAX_FDS + 1);
	for (size_t i = 0; i < c.nfds; i++)
		c.fds[i] = 1000000 + (int)i;
	data++;
	size--;

	r = ipc_parse_header(data, size, &type, &flags, &len);
	FUZZ_CHECK(r >= -1 && r <= 1);
	if (r == 1)
		FUZZ_CHECK(type != 0 && len <= IPC_MAX_PAYLOAD &&
		    (flags & ~IPC_F_FD) == 0);

	c.in = malloc(size ? size : 1);
	if (c.in == NULL)
		return 0;
	if (size)
		memcpy(c.in, data, size);
	c.inlen = c.incap = size;
	while ((r = ipc_conn_next(&c, &m)) == 1) {
		FUZZ_CHECK(m.data >= c.in && m.data + m.len <= c.in + c.inlen);
		FUZZ_CHECK(m.len <= IPC_MAX_PAYLOAD);
		FUZZ_CHECK((m.fd >= 0) == ((m.flags & IPC_F_FD) != 0));
		decode_as(&m, m.type);
		for (size_t i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++)
			if (all_types[i] != m.type)
				decode_as(&m, all_types[i]);
		check_log_readers(&m);
		check_worker_tls(&m);
	}
	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK(c.inpos <= c.inlen);
	free(c.in);
	return 0;
}
