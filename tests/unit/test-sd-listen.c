/*
 * test-sd-listen.c - the socket-activation environment parser: which
 * descriptors the master takes, how it tells plain POP3 from implicit
 * TLS, and that malformed values are refused rather than guessed at.
 */
#include "config.h"

#include <stdlib.h>

#include "../../daemon/master_systemd.h"
#include "tap.h"

int
main(void)
{
	struct sd_listen sl;
	const char *why;

	/* Absent or meant for someone else: nothing to adopt, no error. */
	is_int(sd_listen_parse(NULL, NULL, NULL, 42, &sl, &why), 0, "no variables");
	is_int(sd_listen_parse("42", NULL, NULL, 42, &sl, &why), 0, "LISTEN_FDS missing");
	is_int(sd_listen_parse("41", "2", NULL, 42, &sl, &why), 0, "another pid's descriptors are not ours");

	/* Two named sockets, in the order systemd passes them. */
	is_int(sd_listen_parse("42", "2", "pop3:pop3s", 42, &sl, &why), 2, "two descriptors");
	ok(sl.named && why == NULL, "names accepted");
	is_int(sl.kind[0], SD_FD_POP3, "fd 3 is plain pop3");
	is_int(sl.kind[1], SD_FD_POP3S, "fd 4 is implicit TLS");
	is_int(sd_listen_parse("42", "3", "pop3s:pop3:pop3", 42, &sl, &why), 3, "three descriptors");
	ok(sl.kind[0] == SD_FD_POP3S && sl.kind[1] == SD_FD_POP3 && sl.kind[2] == SD_FD_POP3,
	    "kinds follow the name order");

	/* Unknown names (systemd's default is the socket unit's name). */
	is_int(sd_listen_parse("42", "1", "postern.socket", 42, &sl, &why), 1, "default name");
	ok(sl.named && sl.kind[0] == SD_FD_UNNAMED, "unknown name left to the configuration");
	is_int(sd_listen_parse("42", "1", "POP3S", 42, &sl, &why), 1, "names are case-sensitive");
	is_int(sl.kind[0], SD_FD_UNNAMED, "POP3S is not pop3s");

	/* Names that do not match the count are ignored as a whole. */
	is_int(sd_listen_parse("42", "2", "pop3s", 42, &sl, &why), 2, "too few names");
	ok(!sl.named && why != NULL && sl.kind[0] == SD_FD_UNNAMED &&
	    sl.kind[1] == SD_FD_UNNAMED, "too few names: all ignored, with a reason");
	is_int(sd_listen_parse("42", "1", "pop3:pop3s", 42, &sl, &why), 1, "too many names");
	ok(!sl.named && sl.kind[0] == SD_FD_UNNAMED, "too many names: ignored");
	is_int(sd_listen_parse("42", "2", "pop3::", 42, &sl, &why), 2, "empty name");
	ok(!sl.named, "empty name: ignored");
	is_int(sd_listen_parse("42", "1", "pop\x01", 42, &sl, &why), 1, "control byte in a name");
	ok(!sl.named, "control byte: names ignored");
	is_int(sd_listen_parse("42", "0", "", 42, &sl, &why), 0, "zero descriptors");

	/* Malformed numbers are errors, never a guess. */
	is_int(sd_listen_parse("42x", "1", NULL, 42, &sl, &why), -1, "LISTEN_PID with junk");
	ok(why != NULL, "with a reason");
	is_int(sd_listen_parse("", "1", NULL, 42, &sl, &why), -1, "empty LISTEN_PID");
	is_int(sd_listen_parse("-42", "1", NULL, 42, &sl, &why), -1, "negative LISTEN_PID");
	is_int(sd_listen_parse("42", "-1", NULL, 42, &sl, &why), -1, "negative LISTEN_FDS");
	is_int(sd_listen_parse("42", "33", NULL, 42, &sl, &why), -1, "more than the master can hold");
	is_int(sd_listen_parse("42", "4294967298", NULL, 42, &sl, &why), -1, "LISTEN_FDS overflow");
	is_int(sd_listen_parse("42", " 1", NULL, 42, &sl, &why), -1, "LISTEN_FDS with a space");
	is_int(sd_listen_parse("42", "32", NULL, 42, &sl, &why), 32, "the maximum is accepted");

	/* The notification socket: only absolute or abstract names. */
	ok(!sd_notify_init(NULL), "no NOTIFY_SOCKET");
	ok(!sd_notify_init("relative/path"), "relative NOTIFY_SOCKET refused");
	ok(!sd_notify_init("@"), "empty abstract name refused");
	{
		char longp[200];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		ok(!sd_notify_init(longp), "over-long NOTIFY_SOCKET refused");
	}
	return tap_done();
}
