/*
 * util.h - small helpers shared by every role: allocation that never
 * returns NULL, strict number parsing, secret wiping, escaping for logs.
 */
#ifndef POSTERN_UTIL_H
#define POSTERN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))
/* An intended switch fall-through, understood by GCC and clang alike
 * (clang ignores the traditional comment). */
#define FALLTHROUGH __attribute__((fallthrough))

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
int xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

/* Wipe memory the compiler may not optimise away. */
void wipe(void *, size_t);
/* Wipe and free a NUL-terminated secret. */
void free_secret(char *);

/*
 * Parse an unsigned decimal number: digits only, no sign, no spaces, no
 * leading '+', value in [min, max]. Returns false on any deviation, so
 * "LIST 4294967297" never becomes message 1.
 */
bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Copy s into out (size outsz), escaping every byte that is not printable
 * ASCII, and '"' and '\\', as \xNN. Always NUL-terminates; truncates with
 * "..." if needed. For log lines that contain client-controlled data.
 */
void escape_for_log(const char *s, size_t len, char *out, size_t outsz);

/* Set/clear O_NONBLOCK and FD_CLOEXEC. Return -1 with errno on failure. */
int set_nonblock(int fd, bool on);
int set_cloexec(int fd, bool on);

/* After a short writev/sendmsg of n bytes from iov[first..niov): step
 * past what went out; returns the new first (niov once all has gone). */
struct iovec;
size_t iov_consume(struct iovec *iov, size_t niov, size_t first, size_t n);

/* Monotonic milliseconds. */
uint64_t now_ms(void);

/* Full write/read on blocking descriptors, retrying EINTR. */
int write_all(int fd, const void *buf, size_t len);

/* Is the string valid UTF-8 (no overlongs, no surrogates)? */
bool utf8_valid(const char *s, size_t len);

/*
 * The key under which per-address limits and throttling count a client:
 * an IPv4 address as is, an IPv6 address as its /64 prefix
 * ("2001:db8:1:2::/64"), because one host gets a whole /64 and could
 * otherwise use a new address for every connection.
 */
#define ADDR_KEY_MAX	64
void addr_key(const char *rhost, char *out, size_t outsz);

#endif
