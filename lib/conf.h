/*
 * conf.h - postern.conf: "key = value" lines, '#' comments.
 *
 * The master parses the file; every child receives the effective
 * configuration as text (what "postern -n" prints) and parses it with the
 * same function, so there is one parser and one fuzz target.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "params.h"

struct config_listen {
	char host[64];		/* numeric address, e.g. "0.0.0.0", "::1" */
	char port[8];		/* numeric port */
	bool tls;		/* implicit TLS (listen_tls) */
};

enum mbox_format_cfg { CFG_MBOXO = 0, CFG_MBOXRD = 1 };
enum plaintext_auth_cfg { CFG_PT_NEVER = 0, CFG_PT_LOOPBACK = 1, CFG_PT_ALWAYS = 2 };
/* RFC 2449 EXPIRE: unset (not advertised), NEVER, or 0 (what a session
 * retrieved is deleted at its QUIT). */
enum expire_cfg { CFG_EXPIRE_UNSET = 0, CFG_EXPIRE_NEVER = 1, CFG_EXPIRE_0 = 2 };

struct config {
	struct config_listen listen[MASTER_MAX_LISTEN];
	size_t nlisten;
	bool listen_tls_set;		/* listen_tls given, even as empty */
	char *mailbox;			/* template: %u user, %h home, %% */
	char *index_dir;		/* template, per-user UIDL index dir */
	char *pam_service;
	char *unpriv_user;
	char *empty_dir;
	char *libexec_dir;
	char *pid_file;
	int mbox_format;		/* enum mbox_format_cfg */
	int plaintext_auth;		/* enum plaintext_auth_cfg */
	unsigned idle_timeout;		/* seconds */
	unsigned preauth_timeout;	/* seconds */
	unsigned lock_timeout;		/* seconds */
	unsigned login_delay;		/* seconds; 0: no LOGIN-DELAY */
	int expire;			/* enum expire_cfg */
	unsigned auth_fail_delay;	/* milliseconds */
	unsigned auth_max_attempts;
	unsigned auth_throttle_max;	/* milliseconds; 0: no throttling */
	unsigned max_connections;
	unsigned max_connections_per_addr;
	unsigned max_preauth_per_addr;	/* not yet authenticated */
	char *tls_cert;			/* "" when not configured */
	char *tls_key;
	char *tls_min_version;
	char *tls_ciphers;
	char *tls_ciphersuites;
	int tls_strict_sni;		/* 0 no, 1 yes */
};

/* Set every key to its default. */
void config_defaults(struct config *);
/*
 * Parse text (len bytes) named name (for messages) into cfg, on top of
 * what cfg already holds. On error returns false and writes
 * "name:line: reason" into err. Pure apart from allocation: fuzzable.
 */
bool config_parse(struct config *, const char *text, size_t len,
    const char *name, char *err, size_t errsz);
/* Read and parse a file on top of the defaults. */
bool config_load(struct config *, const char *path, char *err, size_t errsz);
/* Cross-key checks that need no system access. */
bool config_validate(const struct config *, char *err, size_t errsz);
/* The effective configuration as "key = value" lines (malloc'd). */
char *config_dump(const struct config *);
void config_free(struct config *);

/* The worker's wait for postern-store's OPEN and COMMIT answers (ms):
 * lock_timeout plus IPC_REPLY_TIMEOUT_MS. */
int config_store_locked_reply_ms(void);

/*
 * Expand a path template: %u user, %h home, %% a percent sign. Returns
 * NULL if the template has an unknown escape or the result would not be
 * an absolute path.
 */
char *config_expand(const char *tmpl, const char *user, const char *home);

#endif
