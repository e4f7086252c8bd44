/*
 * test-login-delay.c - the master's LOGIN-DELAY table, driven with a fake
 * clock: a fresh user may log in, a second login within the delay is
 * refused with the right time left, the delay counts from the last
 * allowed login, other users are untouched, a shorter delay after a
 * reload applies at once, and the table stays bounded: a full probe
 * window forgets its oldest login, never a newer one.
 */
#include "config.h"

#include <stdio.h>

#include "login_delay.h"
#include "tap.h"

int
main(void)
{
	struct login_delay ld;
	uint64_t now = 5000000;
	const uint64_t delay = 60000;

	login_delay_init(&ld, 64);
	is_int(login_delay_left(&ld, 1000, now, delay), 0,
	    "no login yet: may log in (table not even allocated)");
	ok(ld.slots == NULL, "nothing allocated before the first login");
	login_delay_record(&ld, 1000, now, delay);
	is_int(login_delay_left(&ld, 1000, now, delay), delay,
	    "right after a login: the whole delay is left");
	is_int(login_delay_left(&ld, 1000, now + 59999, delay), 1,
	    "1 ms before the end of the delay: still refused");
	is_int(login_delay_left(&ld, 1000, now + 60000, delay), 0,
	    "at the end of the delay: allowed");
	is_int(login_delay_left(&ld, 1001, now, delay), 0,
	    "another user is not affected");
	is_int(login_delay_left(&ld, 1000 + 64, now, delay), 0,
	    "a user whose uid maps to the same slot is not affected");
	is_int(login_delay_left(&ld, 1000, now + 30000, 10000), 0,
	    "a shorter delay (reload) applies at once");
	is_int(login_delay_left(&ld, 1000, now + 30000, 0), 0,
	    "delay 0: never refused");

	/* Only allowed logins are recorded: asking does not extend it. */
	(void)login_delay_left(&ld, 1000, now + 30000, delay);
	is_int(login_delay_left(&ld, 1000, now + 60000, delay), 0,
	    "a refused attempt does not push the delay further");
	login_delay_record(&ld, 1000, now + 60000, delay);
	is_int(login_delay_left(&ld, 1000, now + 61000, delay), 59000,
	    "the next allowed login starts a new delay");

	/* Fill the probe window of slot 8 with live logins. */
	login_delay_free(&ld);
	login_delay_init(&ld, 64);
	for (uint32_t i = 0; i < 8; i++)
		login_delay_record(&ld, 8 + i, now + i, delay);
	for (uint32_t i = 0; i < 8; i++)
		ok(login_delay_left(&ld, 8 + i, now + 100, delay) > 0,
		    "uid %u remembered while the window has room", 8 + i);
	/* uid 72 maps to slot 8 too: its window is full of live entries. */
	login_delay_record(&ld, 72, now + 200, delay);
	ok(login_delay_left(&ld, 72, now + 201, delay) > 0,
	    "a login into a full window is remembered");
	is_int(login_delay_left(&ld, 8, now + 201, delay), 0,
	    "the oldest login in the window was forgotten");
	ok(login_delay_left(&ld, 9, now + 201, delay) > 0 &&
	    login_delay_left(&ld, 15, now + 201, delay) > 0,
	    "newer logins in the window are kept");
	/* Expired entries are reused before any live one is evicted. */
	login_delay_record(&ld, 136, now + delay + 50, delay);
	ok(login_delay_left(&ld, 72, now + delay + 51, delay) > 0,
	    "a live login survives when expired slots are free");
	ok(login_delay_left(&ld, 136, now + delay + 51, delay) > 0,
	    "the new login took an expired slot");
	login_delay_free(&ld);
	return tap_done();
}
