/*
 * log.h - logging for every role. The master writes to stderr (-F) or
 * syslog (facility mail); every other role sends its lines to the master
 * over its IPC channel, because syslog(3) reconnects /dev/log with
 * socket()+connect(), which the sandbox forbids (SECURITY-RULES PF2).
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_IPC,
};

/* ident is the role name ("postern", "postern-pop3", ...). fd is the
 * master channel for LOG_TARGET_IPC, ignored otherwise. */
void log_init(const char *ident, enum log_target, int fd);
/* With LOG_TARGET_SYSLOG: also write warnings and errors to stderr (the
 * master, until it detaches, so that the command starting it says why it
 * failed). */
void log_set_stderr_echo(int);
void log_set_verbose(int);
int log_get_verbose(void);
/* Extra context prepended to each line, e.g. "session=12 rhost=1.2.3.4". */
void log_set_context(const char *);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int prio, const char *fmt, va_list) __attribute__((format(printf, 2, 0)));
#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
/* Like log_warnx, with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log and exit(1): fatal() appends strerror(errno), fatalx() does not. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Master only: write a line relayed from a child, already formatted. */
void log_relay(int prio, const char *ident, long pid, const char *text);

#endif
