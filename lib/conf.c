/*
 * config.c - a table-driven parser for postern.conf. Adding a key is
 * adding a row to config_keys[]; "postern -n" prints every row.
 */
#include "config.h"

#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#ifndef POSTERN_LIBEXECDIR
#define POSTERN_LIBEXECDIR "/usr/libexec/postern"
#endif
#ifndef POSTERN_LOCALSTATEDIR
#define POSTERN_LOCALSTATEDIR "/var"
#endif
#ifndef POSTERN_RUNSTATEDIR
#define POSTERN_RUNSTATEDIR "/run"
#endif

enum key_type { K_STR, K_PATH, K_TEMPLATE, K_UINT, K_ENUM, K_LISTEN };

/*
 * The longest line the parser reads, and the longest value it accepts:
 * small enough that config_dump()'s "key = value" line for any key stays
 * under CONFIG_MAX_LINE, so every child can parse what the master sends
 * (found by fuzz/fuzz-config.c's round trip).
 */
#define CONFIG_MAX_LINE		4096
#define CONFIG_MAX_VALUE	4000

struct config_key {
	const char *name;
	enum key_type type;
	size_t off;
	const char *def;
	unsigned min, max;		/* K_UINT */
	const char *const *words;	/* K_ENUM, NULL-terminated */
	bool tls;			/* K_LISTEN: implicit TLS */
};

static const char *const mbox_formats[] = { "mboxo", "mboxrd", NULL };
static const char *const plaintext_modes[] = { "never", "loopback", "always", NULL };
static const char *const yes_no[] = { "no", "yes", NULL };
/* "" (the default) leaves EXPIRE out of CAPA. */
static const char *const expire_words[] = { "", "never", "0", NULL };

#define OFF(f) offsetof(struct config, f)
static const struct config_key config_keys[] = {
	{ "listen", K_LISTEN, 0, "0.0.0.0:110 [::]:110", 0, 0, NULL, false },
	{ "listen_tls", K_LISTEN, 0, "", 0, 0, NULL, true },
	{ "mailbox", K_TEMPLATE, OFF(mailbox), "/var/mail/%u", 0, 0, NULL, false },
	{ "index_dir", K_TEMPLATE, OFF(index_dir), POSTERN_LOCALSTATEDIR "/lib/postern/index/%u", 0, 0, NULL, false },
	{ "mbox_format", K_ENUM, OFF(mbox_format), "mboxo", 0, 0, mbox_formats, false },
	{ "pam_service", K_STR, OFF(pam_service), "postern", 0, 0, NULL, false },
	{ "unpriv_user", K_STR, OFF(unpriv_user), "postern", 0, 0, NULL, false },
	{ "empty_dir", K_PATH, OFF(empty_dir), POSTERN_LOCALSTATEDIR "/lib/postern/empty", 0, 0, NULL, false },
	{ "libexec_dir", K_PATH, OFF(libexec_dir), POSTERN_LIBEXECDIR, 0, 0, NULL, false },
	{ "pid_file", K_PATH, OFF(pid_file), POSTERN_RUNSTATEDIR "/postern/postern.pid", 0, 0, NULL, false },
	{ "plaintext_auth", K_ENUM, OFF(plaintext_auth), "loopback", 0, 0, plaintext_modes, false },
	{ "idle_timeout", K_UINT, OFF(idle_timeout), "600", POP3_IDLE_TIMEOUT_MIN, 86400, NULL, false },
	{ "preauth_timeout", K_UINT, OFF(preauth_timeout), "60", 5, 3600, NULL, false },
	{ "lock_timeout", K_UINT, OFF(lock_timeout), "30", 1, STORE_LOCK_TIMEOUT_MAX, NULL, false },
	{ "login_delay", K_UINT, OFF(login_delay), "0", 0, LOGIN_DELAY_MAX, NULL, false },
	{ "expire", K_ENUM, OFF(expire), "", 0, 0, expire_words, false },
	{ "auth_fail_delay", K_UINT, OFF(auth_fail_delay), "2000", 0, 60000, NULL, false },
	{ "auth_max_attempts", K_UINT, OFF(auth_max_attempts), "3", 1, 100, NULL, false },
	{ "auth_throttle_max", K_UINT, OFF(auth_throttle_max), "30000", 0, 60000, NULL, false },
	{ "max_connections", K_UINT, OFF(max_connections), "1000", 1, 100000, NULL, false },
	{ "max_connections_per_addr", K_UINT, OFF(max_connections_per_addr), "50", 1, 100000, NULL, false },
	{ "max_preauth_per_addr", K_UINT, OFF(max_preauth_per_addr), "10", 1, 100000, NULL, false },
	{ "tls_cert", K_STR, OFF(tls_cert), "", 0, 0, NULL, false },
	{ "tls_key", K_STR, OFF(tls_key), "", 0, 0, NULL, false },
	{ "tls_min_version", K_STR, OFF(tls_min_version), "TLSv1.2", 0, 0, NULL, false },
	{ "tls_ciphers", K_STR, OFF(tls_ciphers), TLS_CIPHERS_DEFAULT, 0, 0, NULL, false },
	{ "tls_ciphersuites", K_STR, OFF(tls_ciphersuites), TLS_CIPHERSUITES_DEFAULT, 0, 0, NULL, false },
	{ "tls_strict_sni", K_ENUM, OFF(tls_strict_sni), "yes", 0, 0, yes_no, false },
};
#undef OFF

static void errf(char *, size_t, const char *, size_t, const char *, ...)
    __attribute__((format(printf, 5, 6)));

static void
errf(char *err, size_t errsz, const char *name, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errsz == 0)
		return;
	n = snprintf(err, errsz, "%s:%zu: ", name, line);
	if (n < 0 || (size_t)n >= errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errsz - (size_t)n, fmt, ap);
	va_end(ap);
}

/* "1.2.3.4:110", "[::1]:110", "*:110" (all IPv4), "[*]:110" (all IPv6). */
static bool
parse_listen(const char *v, struct config_listen *l)
{
	const char *colon;
	size_t hlen;
	uint64_t port;

	memset(l, 0, sizeof(*l));
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
			return false;
		hlen = (size_t)(close - v - 1);
		if (hlen == 0 || hlen >= sizeof(l->host))
			return false;
		memcpy(l->host, v + 1, hlen);
		colon = close + 1;
		if (strcmp(l->host, "*") == 0)
			strcpy(l->host, "::");
		if (strchr(l->host, ':') == NULL)
			return false;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return false;
		hlen = (size_t)(colon - v);
		if (hlen == 0 || hlen >= sizeof(l->host))
			return false;
		memcpy(l->host, v, hlen);
		if (strcmp(l->host, "*") == 0)
			strcpy(l->host, "0.0.0.0");
		if (strchr(l->host, ':') != NULL)
			return false;	/* IPv6 needs brackets */
	}
	for (const char *p = l->host; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		    (*p >= 'A' && *p <= 'F') || *p == '.' || *p == ':'))
			return false;	/* numeric addresses only: no DNS at start-up */
	if (!parse_uint(colon + 1, 1, 65535, &port))
		return false;
	snprintf(l->port, sizeof(l->port), "%u", (unsigned)port);
	return true;
}

static bool
template_ok(const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p != 'u' && *p != 'h' && *p != '%')
			return false;
	}
	return v[0] == '/' || strncmp(v, "%h", 2) == 0;
}

/* Forget the listeners of one kind (plain or implicit TLS). */
static void
drop_listeners(struct config *cfg, bool tls)
{
	size_t j = 0;

	for (size_t i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls != tls)
			cfg->listen[j++] = cfg->listen[i];
	cfg->nlisten = j;
}

/* Set one key. listen_seen[tls] tracks whether the text replaced the
 * defaults of that kind of listener (NULL while setting defaults). */
static bool
config_set(struct config *cfg, const struct config_key *k, const char *v,
    bool *listen_seen, const char **why)
{
	char **sp;
	uint64_t n;

	switch (k->type) {
	case K_LISTEN: {
		struct config_listen l;

		if (listen_seen != NULL && !listen_seen[k->tls]) {
			/* The first line of a kind replaces its defaults; an
			 * empty value ("listen =") leaves none of that kind. */
			listen_seen[k->tls] = true;
			drop_listeners(cfg, k->tls);
			if (k->tls)
				cfg->listen_tls_set = true;
		}
		if (v[0] == '\0')
			return true;	/* an empty value: no listener */
		if (!parse_listen(v, &l)) {
			*why = "expected address:port, e.g. 0.0.0.0:110 or [::1]:110";
			return false;
		}
		l.tls = k->tls;
		if (cfg->nlisten >= MASTER_MAX_LISTEN) {
			*why = "too many listeners";
			return false;
		}
		cfg->listen[cfg->nlisten++] = l;
		return true;
	}
	case K_UINT:
		if (!parse_uint(v, k->min, k->max, &n)) {
			static char msg[96];

			snprintf(msg, sizeof(msg), "expected a number from %u to %u",
			    k->min, k->max);
			*why = msg;
			return false;
		}
		*(unsigned *)(void *)((char *)cfg + k->off) = (unsigned)n;
		return true;
	case K_ENUM:
		for (int i = 0; k->words[i] != NULL; i++) {
			if (strcmp(v, k->words[i]) == 0) {
				*(int *)(void *)((char *)cfg + k->off) = i;
				return true;
			}
		}
		/* EXPIRE is a promise to clients; postern deletes no mail on
		 * its own, so a retention of N days could not be kept. */
		*why = k->words == expire_words ?
		    "expected never or 0: postern enforces no other retention "
		    "period (see postern.conf(5))" :
		    "not one of the allowed words (see postern.conf(5))";
		return false;
	case K_PATH:
		if (v[0] != '/') {
			*why = "expected an absolute path";
			return false;
		}
		break;
	case K_TEMPLATE:
		if (!template_ok(v)) {
			*why = "expected an absolute path template (%u user, %h home, %%)";
			return false;
		}
		break;
	case K_STR:
		break;
	}
	sp = (char **)(void *)((char *)cfg + k->off);
	free(*sp);
	*sp = xstrdup(v);
	return true;
}

void
config_defaults(struct config *cfg)
{
	const char *why;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < nitems(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		char *defs = xstrdup(k->def), *save = NULL, *w;

		/* A listen default may name several addresses. */
		if (k->type == K_LISTEN) {
			for (w = strtok_r(defs, " ", &save); w != NULL;
			    w = strtok_r(NULL, " ", &save))
				if (!config_set(cfg, k, w, NULL, &why))
					abort();	/* a bad built-in default is a bug */
		} else if (!config_set(cfg, k, k->def, NULL, &why)) {
			abort();
		}
		free(defs);
	}
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

bool
config_parse(struct config *cfg, const char *text, size_t len,
    const char *name, char *err, size_t errsz)
{
	bool listen_seen[2] = { false, false };
	size_t line = 0, pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *buf, *s, *eq, *key, *val, *p;
		const struct config_key *k = NULL;
		const char *why = NULL;

		line++;
		if (l > CONFIG_MAX_LINE) {
			errf(err, errsz, name, line, "line too long");
			return false;
		}
		buf = xstrndup(text + pos, l);
		pos += l + (nl ? 1 : 0);
		if (strlen(buf) != l) {
			errf(err, errsz, name, line, "NUL byte in line");
			free(buf);
			return false;
		}
		s = trim(buf);
		if (*s == '\0' || *s == '#') {
			free(buf);
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			errf(err, errsz, name, line, "expected \"key = value\"");
			free(buf);
			return false;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (strlen(val) > CONFIG_MAX_VALUE) {
			errf(err, errsz, name, line,
			    "value too long (at most %d bytes)", CONFIG_MAX_VALUE);
			free(buf);
			return false;
		}
		for (p = val; *p; p++) {
			if ((unsigned char)*p < 0x20 && *p != '\t') {
				errf(err, errsz, name, line, "control character in value");
				free(buf);
				return false;
			}
		}
		for (size_t i = 0; i < nitems(config_keys); i++)
			if (strcmp(config_keys[i].name, key) == 0)
				k = &config_keys[i];
		if (k == NULL) {
			errf(err, errsz, name, line, "unknown key '%.64s'", key);
			free(buf);
			return false;
		}
		if (!config_set(cfg, k, val, listen_seen, &why)) {
			errf(err, errsz, name, line, "%s: %s", k->name, why);
			free(buf);
			return false;
		}
		free(buf);
	}
	return true;
}

bool
config_load(struct config *cfg, const char *path, char *err, size_t errsz)
{
	struct stat st;
	char *text;
	ssize_t n;
	size_t got = 0;
	int fd;
	bool ok;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > 1024 * 1024) {
		snprintf(err, errsz, "%s: not a regular file of at most 1 MiB", path);
		close(fd);
		return false;
	}
	text = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size &&
	    (n = read(fd, text + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	ok = config_parse(cfg, text, got, path, err, errsz);
	free(text);
	/* RFC 8314: with a certificate, implicit TLS on 995 unless the file
	 * says otherwise ("listen_tls =" for none). Only here, not in
	 * config_parse: children parse the dump, which lists listeners. */
	if (ok && !cfg->listen_tls_set && cfg->tls_cert[0] != '\0') {
		static const struct config_listen tls_defaults[] = {
			{ "0.0.0.0", "995", true }, { "::", "995", true },
		};

		for (size_t i = 0; i < nitems(tls_defaults) &&
		    cfg->nlisten < MASTER_MAX_LISTEN; i++)
			cfg->listen[cfg->nlisten++] = tls_defaults[i];
	}
	return ok;
}

bool
config_validate(const struct config *cfg, char *err, size_t errsz)
{
	bool want_tls = false;

	for (size_t i = 0; i < cfg->nlisten; i++)
		want_tls |= cfg->listen[i].tls;
	if (cfg->nlisten == 0) {
		snprintf(err, errsz, "no listen or listen_tls address configured");
		return false;
	}
	if (want_tls && (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0')) {
		snprintf(err, errsz, "listen_tls needs tls_cert and tls_key");
		return false;
	}
	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
		snprintf(err, errsz, "tls_cert and tls_key go together");
		return false;
	}
	if (strcmp(cfg->unpriv_user, "root") == 0 || cfg->unpriv_user[0] == '\0') {
		snprintf(err, errsz, "unpriv_user must be an unprivileged account");
		return false;
	}
	return true;
}

static void
dump_append(char **out, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*out = xreallocarray(*out, *cap, 1);
	}
	memcpy(*out + *len, s, n + 1);
	*len += n;
}

char *
config_dump(const struct config *cfg)
{
	char *out = NULL, line[CONFIG_MAX_LINE + 1];
	size_t len = 0, cap = 0;

	dump_append(&out, &len, &cap, "");
	for (size_t i = 0; i < nitems(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		const char *v = NULL;
		char num[16];

		switch (k->type) {
		case K_LISTEN: {
			bool any = false;

			for (size_t j = 0; j < cfg->nlisten; j++) {
				const struct config_listen *l = &cfg->listen[j];

				if (l->tls != k->tls)
					continue;
				snprintf(line, sizeof(line), strchr(l->host, ':') ?
				    "%s = [%s]:%s\n" : "%s = %s:%s\n", k->name,
				    l->host, l->port);
				dump_append(&out, &len, &cap, line);
				any = true;
			}
			if (!any) {
				/* Say "none" explicitly so that the dump parses
				 * back to the same set, not to the defaults. */
				snprintf(line, sizeof(line), "%s = \n", k->name);
				dump_append(&out, &len, &cap, line);
			}
			continue;
		}
		case K_UINT:
			snprintf(num, sizeof(num), "%u",
			    *(const unsigned *)(const void *)((const char *)cfg + k->off));
			v = num;
			break;
		case K_ENUM:
			v = k->words[*(const int *)(const void *)((const char *)cfg + k->off)];
			break;
		default:
			v = *(char *const *)(const void *)((const char *)cfg + k->off);
			break;
		}
		snprintf(line, sizeof(line), "%s = %s\n", k->name, v);
		dump_append(&out, &len, &cap, line);
	}
	return out;
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < nitems(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (k->type == K_STR || k->type == K_PATH || k->type == K_TEMPLATE) {
			char **sp = (char **)(void *)((char *)cfg + k->off);

			free(*sp);
			*sp = NULL;
		}
	}
}

char *
config_expand(const char *tmpl, const char *user, const char *home)
{
	size_t cap = strlen(tmpl) + 1, len = 0;
	char *out;

	for (const char *p = tmpl; *p; p++)
		if (*p == '%')
			cap += strlen(user) + strlen(home);
	out = xmalloc(cap);
	for (const char *p = tmpl; *p; p++) {
		const char *ins = NULL;

		if (*p != '%') {
			out[len++] = *p;
			continue;
		}
		switch (*++p) {
		case 'u': ins = user; break;
		case 'h': ins = home; break;
		case '%': ins = "%"; break;
		default:
			free(out);
			return NULL;
		}
		memcpy(out + len, ins, strlen(ins));
		len += strlen(ins);
	}
	out[len] = '\0';
	if (out[0] != '/') {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * How long the worker waits for postern-store's answer to OPEN and
 * COMMIT: each may first wait up to lock_timeout for a lock an MDA holds
 * (and a COMMIT that gives up then still answers), OPEN before that up
 * to lock_timeout for the previous session to finish a large expunge,
 * then scan, recover or rewrite the mailbox, for which the usual reply
 * time is the margin.
 * Waiting less would answer -ERR [SYS/TEMP] "Internal error" while
 * storage may still complete the expunge. Storage may run with a newer
 * configuration than the worker (a SIGHUP between their starts), so the
 * wait covers the largest lock_timeout any configuration may set, not
 * the worker's own.
 */
int
config_store_locked_reply_ms(void)
{
	return 2 * STORE_LOCK_TIMEOUT_MAX * 1000 + IPC_REPLY_TIMEOUT_MS;
}
