/*
 * test-config.c - the configuration parser: defaults, every value type,
 * errors naming file and line, the dump/parse round trip children use,
 * and path template expansion.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "params.h"
#include "tap.h"

static bool
parse(struct config *c, const char *text, char *err, size_t errsz)
{
	config_defaults(c);
	return config_parse(c, text, strlen(text), "test.conf", err, errsz);
}

int
main(void)
{
	struct config c, d;
	char err[256], *dump, *dump2, *e;

	config_defaults(&c);
	is_int(c.nlisten, 2, "two default listeners");
	is_str(c.listen[0].host, "0.0.0.0", "default IPv4 listener");
	is_str(c.listen[1].host, "::", "default IPv6 listener");
	is_str(c.listen[0].port, "110", "default port 110");
	is_str(c.mailbox, "/var/mail/%u", "default mailbox");
	is_str(c.pam_service, "postern", "default PAM service");
	is_str(c.unpriv_user, "postern", "default unpriv_user");
	is_int(c.idle_timeout, 600, "default idle timeout is RFC 1939's 10 minutes");
	config_free(&c);

	ok(parse(&c, "# comment\n\nlisten = 127.0.0.1:1110\nlisten = [::1]:1110\n"
	    "mailbox = %h/mbox\npam_service = other\nidle_timeout = 900\n"
	    "mbox_format = mboxrd\n", err, sizeof(err)), "valid file parses");
	is_int(c.nlisten, 2, "listen lines replace the defaults");
	is_str(c.listen[1].host, "::1", "bracketed IPv6 listen");
	is_str(c.mailbox, "%h/mbox", "home-relative mailbox template");
	is_int(c.idle_timeout, 900, "number parsed");
	is_int(c.mbox_format, CFG_MBOXRD, "enum parsed");
	config_free(&c);

	ok(!parse(&c, "listen = 127.0.0.1:110\nbogus = 1\n", err, sizeof(err)), "unknown key rejected");
	ok(strstr(err, "test.conf:2:") != NULL && strstr(err, "bogus") != NULL,
	    "error names file, line and key (%s)", err);
	config_free(&c);
	ok(!parse(&c, "idle_timeout = 60\n", err, sizeof(err)), "idle_timeout under 10 minutes rejected");
	ok(strstr(err, "test.conf:1:") != NULL, "range error names the line");
	config_free(&c);
	ok(!parse(&c, "idle_timeout = 1e3\n", err, sizeof(err)), "non-decimal number rejected");
	config_free(&c);
	ok(!parse(&c, "idle_timeout = -700\n", err, sizeof(err)), "negative number rejected");
	config_free(&c);
	ok(!parse(&c, "mbox_format = maildir\n", err, sizeof(err)), "unknown enum word rejected");
	config_free(&c);
	ok(!parse(&c, "listen = 1.2.3.4\n", err, sizeof(err)), "listen without port rejected");
	config_free(&c);
	ok(!parse(&c, "listen = ::1:110\n", err, sizeof(err)), "unbracketed IPv6 rejected");
	config_free(&c);
	ok(!parse(&c, "listen = example.org:110\n", err, sizeof(err)), "host names rejected (no DNS at start-up)");
	config_free(&c);
	ok(!parse(&c, "listen = 1.2.3.4:70000\n", err, sizeof(err)), "port out of range rejected");
	config_free(&c);
	ok(!parse(&c, "empty_dir = relative/dir\n", err, sizeof(err)), "relative path rejected");
	config_free(&c);
	ok(!parse(&c, "mailbox = /var/mail/%x\n", err, sizeof(err)), "unknown template escape rejected");
	config_free(&c);
	ok(!parse(&c, "just words\n", err, sizeof(err)), "line without '=' rejected");
	config_free(&c);
	{
		static const char nul[] = "pam_service = a\0b\n";

		config_defaults(&c);
		ok(!config_parse(&c, nul, sizeof(nul) - 1, "t", err, sizeof(err)), "NUL byte rejected");
		config_free(&c);
	}

	/* What the master sends children must parse back to the same. */
	ok(parse(&c, "listen = 127.0.0.1:1110\nlisten_tls = [::1]:1995\n"
	    "tls_cert = /c.pem\ntls_key = /k.pem\n", err, sizeof(err)), "TLS config parses");
	ok(config_validate(&c, err, sizeof(err)), "TLS config validates");
	dump = config_dump(&c);
	config_defaults(&d);
	ok(config_parse(&d, dump, strlen(dump), "dump", err, sizeof(err)), "dump parses");
	dump2 = config_dump(&d);
	is_str(dump2, dump, "dump -> parse -> dump is stable");
	is_int(d.nlisten, 2, "both listeners survive the round trip");
	ok(d.listen[1].tls && !d.listen[0].tls, "TLS flag survives the round trip");
	free(dump);
	free(dump2);
	config_free(&c);
	config_free(&d);

	ok(parse(&c, "listen_tls = 127.0.0.1:995\n", err, sizeof(err)), "listen_tls parses");
	ok(!config_validate(&c, err, sizeof(err)), "listen_tls without a certificate is invalid");
	config_free(&c);
	ok(parse(&c, "unpriv_user = root\n", err, sizeof(err)), "unpriv_user root parses");
	ok(!config_validate(&c, err, sizeof(err)), "unpriv_user root is invalid");
	config_free(&c);

	/* RFC 2449 LOGIN-DELAY and EXPIRE: off by default; EXPIRE only as
	 * far as postern enforces it; both survive the dump round trip. */
	config_defaults(&c);
	is_int(c.login_delay, 0, "login_delay off by default");
	is_int(c.expire, CFG_EXPIRE_UNSET, "expire unset by default");
	config_free(&c);
	ok(parse(&c, "login_delay = 900\nexpire = 0\n", err, sizeof(err)),
	    "login_delay and expire = 0 parse");
	is_int(c.login_delay, 900, "login_delay value");
	is_int(c.expire, CFG_EXPIRE_0, "expire = 0");
	dump = config_dump(&c);
	ok(strstr(dump, "login_delay = 900\n") != NULL &&
	    strstr(dump, "expire = 0\n") != NULL, "both in the dump");
	config_defaults(&d);
	ok(config_parse(&d, dump, strlen(dump), "dump", err, sizeof(err)) &&
	    d.login_delay == 900 && d.expire == CFG_EXPIRE_0,
	    "login_delay and expire survive the round trip");
	free(dump);
	config_free(&c);
	config_free(&d);
	ok(parse(&c, "expire = never\n", err, sizeof(err)) &&
	    c.expire == CFG_EXPIRE_NEVER, "expire = never parses");
	config_free(&c);
	config_defaults(&c);
	dump = config_dump(&c);
	config_defaults(&d);
	ok(strstr(dump, "expire = \n") != NULL &&
	    config_parse(&d, dump, strlen(dump), "dump", err, sizeof(err)) &&
	    d.expire == CFG_EXPIRE_UNSET, "unset expire survives the round trip");
	free(dump);
	config_free(&c);
	config_free(&d);
	for (size_t i = 0; i < 4; i++) {
		static const char *const bad[] = {
			"expire = 30\n", "expire = NEVER\n", "expire = -1\n",
			"expire = 0 days\n",
		};

		ok(!parse(&c, bad[i], err, sizeof(err)) &&
		    strstr(err, "never or 0") != NULL,
		    "%.*s refused with a clear reason (%s)",
		    (int)strlen(bad[i]) - 1, bad[i], err);
		config_free(&c);
	}
	ok(!parse(&c, "login_delay = 86401\n", err, sizeof(err)),
	    "login_delay over a day refused");
	config_free(&c);

	e = config_expand("/var/mail/%u", "alice", "/home/alice");
	is_str(e, "/var/mail/alice", "%%u expands");
	free(e);
	e = config_expand("%h/Mail/inbox%%", "alice", "/home/alice");
	is_str(e, "/home/alice/Mail/inbox%", "%%h and %%%% expand");
	free(e);
	e = config_expand("%h/x", "alice", "relative");
	ok(e == NULL, "expansion to a relative path refused");
	free(e);
	/* The worker waits for storage's OPEN and COMMIT as long as the
	 * longest lock wait any configuration may give storage (which may
	 * have reloaded a newer one), plus the usual reply time for the
	 * I/O that follows: at lock_timeout = 600 an expunge after a 599 s
	 * wait must not be answered "Internal error". */
	ok(parse(&c, "lock_timeout = 600\n", err, sizeof(err)),
	    "lock_timeout = 600 accepted");
	is_int(config_store_locked_reply_ms(), 2 * STORE_LOCK_TIMEOUT_MAX * 1000 +
	    IPC_REPLY_TIMEOUT_MS, "OPEN/COMMIT wait: twice the largest lock_timeout "
	    "(a finishing expunge, then an MDA's lock) + the reply margin");
	is_int(STORE_LOCK_TIMEOUT_MAX, 600, "... which is 600 s");
	ok(config_store_locked_reply_ms() > IPC_REPLY_TIMEOUT_MS,
	    "longer than any other storage reply");
	config_free(&c);
	ok(!parse(&c, "lock_timeout = 601\n", err, sizeof(err)),
	    "lock_timeout above 600 rejected");
	config_free(&c);
	config_defaults(&c);
	is_int(c.lock_timeout, STORE_LOCK_TIMEOUT_DEFAULT,
	    "default lock_timeout is params.h's");
	config_free(&c);

	return tap_done();
}
