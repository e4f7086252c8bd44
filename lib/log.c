/*
 * log.c - stderr, syslog, or relay over IPC to the master.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

static const char *log_ident = "postern";
static enum log_target log_target = LOG_TARGET_STDERR;
static int log_fd = -1;
static int log_verbose;
static char log_context[160];
static int log_journal;	/* stderr is systemd's journal stream */
static int log_echo;	/* syslog target: warnings also to stderr */

/*
 * systemd sets JOURNAL_STREAM=dev:inode for the stderr it connects to
 * the journal. Then the journal adds the time itself, and a "<N>" prefix
 * gives each line its syslog priority (journalctl -p works).
 */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(2, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *ident, enum log_target target, int fd)
{
	log_ident = ident;
	log_target = target;
	log_fd = fd;
	if (target == LOG_TARGET_STDERR)
		log_journal = stderr_is_journal();
	if (target == LOG_TARGET_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_stderr_echo(int on)
{
	log_echo = on;
}

void
log_set_verbose(int v)
{
	log_verbose = v;
}

int
log_get_verbose(void)
{
	return log_verbose;
}

void
log_set_context(const char *ctx)
{
	snprintf(log_context, sizeof(log_context), "%s", ctx ? ctx : "");
}

static const char *
prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: return "crit";
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

void
log_relay(int prio, const char *ident, long pid, const char *text)
{
	if (prio == LOG_DEBUG && !log_verbose)
		return;
	if (log_target == LOG_TARGET_SYSLOG) {
		/* syslog(3) tags every line with our own ident and pid
		 * already: name only the children whose lines we relay. */
		if (pid == (long)getpid())
			syslog(prio, "%s", text);
		else
			syslog(prio, "%s[%ld]: %s", ident, pid, text);
		if (log_echo && prio <= LOG_WARNING) {
			fprintf(stderr, "%s: %s: %s\n", ident, prio_name(prio),
			    text);
			fflush(stderr);
		}
	} else if (log_journal) {
		fprintf(stderr, "<%d>%s[%ld]: %s: %s\n", prio, ident, pid,
		    prio_name(prio), text);
		fflush(stderr);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%ld]: %s: %s\n", when,
		    ts.tv_nsec / 1000000, ident, pid, prio_name(prio), text);
		fflush(stderr);
	}
}

void
log_vmsg(int prio, const char *fmt, va_list ap)
{
	char text[2048];
	int saved = errno;
	size_t off = 0;

	if (prio == LOG_DEBUG && !log_verbose)
		return;
	if (log_context[0] != '\0')
		off = (size_t)snprintf(text, sizeof(text), "%s ", log_context);
	if (off < sizeof(text))
		vsnprintf(text + off, sizeof(text) - off, fmt, ap);

	switch (log_target) {
	case LOG_TARGET_IPC:
		if (log_fd >= 0) {
			struct ipc_buf b;

			ipc_begin(&b, IPC_LOG);
			ipc_put_u8(&b, (uint8_t)prio);
			ipc_put_str(&b, text);
			/* Best effort: a dead master means we exit soon anyway. */
			(void)ipc_send(log_fd, &b);
			ipc_buf_free(&b);
			break;
		}
		FALLTHROUGH;
	case LOG_TARGET_STDERR:
	case LOG_TARGET_SYSLOG:
		log_relay(prio, log_ident, (long)getpid(), text);
		break;
	}
	errno = saved;
}

void
log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_WARNING, "%s: %s", buf, strerror(saved));
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_CRIT, "fatal: %s: %s", buf, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_CRIT, "fatal: %s", buf);
	exit(1);
}
