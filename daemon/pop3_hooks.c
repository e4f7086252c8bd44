/*
 * pop3_hooks.c - TEST BUILDS ONLY (postern-pop3-hooks, or configure
 * --enable-test-hooks): a hostile worker on demand. The command
 *
 *	XPOSTERN-ATTACK <name> [argument]
 *
 * makes this live, confined worker try one thing a compromised worker
 * would try. It answers "+OK <name> rv=<value> errno=<name>" when the
 * attempt returns, so the test can check the error; the forbidden calls
 * never return (SIGSYS, logged by the master). The test suite checks
 * that the release postern-pop3 does not contain this file's marker.
 */
#include "config.h"

#ifndef POSTERN_TEST_HOOKS
#error "pop3_hooks.c is only built into test-hook binaries"
#endif

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "pop3.h"
#include "util.h"

#define HOOK_MARKER	"XPOSTERN-ATTACK "

static long hook_arg_num;
static const char *hook_arg;

static void *
thread_main(void *p)
{
	return p;
}

/* Write a raw frame header (and payload) on a channel, bypassing the
 * checks ipc_send() does: what a compromised worker can always do. */
static long
raw_frame(int fd, uint32_t len, uint16_t type, const void *payload, size_t n)
{
	uint8_t hdr[IPC_HDR_SIZE];

	memcpy(hdr, &len, 4);
	memcpy(hdr + 4, &type, 2);
	hdr[6] = IPC_VERSION;
	hdr[7] = 0;
	if (write_all(fd, hdr, sizeof(hdr)) == -1)
		return -1;
	return n ? write_all(fd, payload, n) : 0;
}

static long
send_auth_request(const char *user, const char *pass)
{
	struct ipc_buf b;
	long r;

	ipc_begin(&b, IPC_AUTH_REQUEST);
	ipc_put_u8(&b, IPC_MECH_USER);
	ipc_put_u8(&b, 0);
	ipc_put_str(&b, "");
	ipc_put_str(&b, user);
	ipc_put_str(&b, pass);
	r = ipc_send(FD_AUTH, &b);
	ipc_buf_free(&b);
	return r;
}

/* Forge the message only the master may send to storage, naming
 * another user and mailbox, on the storage channel. */
static long
forge_store_init(struct pop3_session *s)
{
	struct ipc_buf b;
	long r;

	if (s->store.fd < 0) {
		errno = ENOTCONN;
		return -1;
	}
	ipc_begin(&b, IPC_STORE_INIT);
	ipc_put_u64(&b, s->id);
	ipc_put_str(&b, hook_arg);
	ipc_put_u32(&b, 0);
	ipc_put_str(&b, hook_arg);
	ipc_put_str(&b, "");
	r = ipc_send(s->store.fd, &b);
	ipc_buf_free(&b);
	return r;
}

/* After an attack on storage: did it answer, or end the session? */
static void
store_verdict(struct pop3_session *s, char *out, size_t outsz)
{
	struct ipc_msg m;
	int r = ipc_conn_recv(&s->store, &m, 5000);

	if (r == 1)
		snprintf(out, outsz, " store-answered=%s", ipc_type_name(m.type));
	else
		snprintf(out, outsz, " store-closed=%s", r == 0 && errno !=
		    ETIMEDOUT ? "yes" : "no");
}

static long
attack(struct pop3_session *s, const char *name, char *extra, size_t extrasz)
{
	const char *path = hook_arg ? hook_arg : "/etc/shadow";
	pid_t pid = (pid_t)hook_arg_num;

	extra[0] = '\0';
	if (strcmp(name, "getpid") == 0)
		return getpid();
	if (strcmp(name, "open") == 0)
		return open(path, O_RDONLY);
	if (strcmp(name, "openat") == 0)
		return openat(AT_FDCWD, path, O_RDONLY);
	if (strcmp(name, "openat2") == 0) {
		struct { uint64_t flags, mode, resolve; } how = { O_RDONLY, 0, 0 };

		return syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
	}
	if (strcmp(name, "creat") == 0)
		return open("/postern-was-here", O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (strcmp(name, "stat") == 0) {
		struct stat st;

		return stat(path, &st);
	}
	if (strcmp(name, "mkdir") == 0)
		return mkdir("/postern-escape", 0700);
	if (strcmp(name, "exec") == 0) {
		char *const argv[] = { (char *)"sh", (char *)"-c", (char *)"id", NULL };

		return execve("/bin/sh", argv, NULL);
	}
	if (strcmp(name, "socket") == 0)
		return socket(AF_INET, SOCK_STREAM, 0);
	if (strcmp(name, "socket-unix") == 0)
		return socket(AF_UNIX, SOCK_DGRAM, 0);
	if (strcmp(name, "connect") == 0) {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(25);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return connect(FD_CLIENT, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (strcmp(name, "fork") == 0)
		return fork();
	if (strcmp(name, "thread") == 0) {
		pthread_t t;
		int e = pthread_create(&t, NULL, thread_main, NULL);

		errno = e;
		return e ? -1 : 0;
	}
	if (strcmp(name, "kill") == 0)
		return kill(pid, SIGKILL);
	if (strcmp(name, "kill0") == 0)
		return kill(pid, 0);
	if (strcmp(name, "tgkill") == 0)
		return syscall(SYS_tgkill, pid, pid, SIGKILL);
	if (strcmp(name, "ptrace") == 0)
		return ptrace(PTRACE_ATTACH, pid, NULL, NULL);
	if (strcmp(name, "vmread") == 0) {
		char buf[64];
		struct iovec local = { buf, sizeof(buf) };
		struct iovec remote = { (void *)0x400000, sizeof(buf) };

		return process_vm_readv(pid, &local, 1, &remote, 1, 0);
	}
	if (strcmp(name, "setuid") == 0)
		return setuid(0);
	if (strcmp(name, "dumpable") == 0)
		return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (strcmp(name, "mmap-exec") == 0) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		return p == MAP_FAILED ? -1 : 0;
	}
	if (strcmp(name, "mprotect-exec") == 0) {
		static char page[8192] __attribute__((aligned(4096)));

		return mprotect(page, 4096, PROT_READ | PROT_EXEC);
	}
	if (strcmp(name, "malloc") == 0) {
		/* hook_arg_num MiB: the address space cap must refuse. */
		size_t n = (size_t)hook_arg_num * 1024 * 1024;
		char *p = malloc(n);

		if (p == NULL)
			return -1;
		memset(p, 1, n);
		free(p);
		return 0;
	}
	if (strcmp(name, "auth-malformed") == 0)
		return raw_frame(FD_AUTH, 3, IPC_AUTH_REQUEST, "\x01\x00\x00", 3);
	if (strcmp(name, "auth-oversized") == 0)
		return raw_frame(FD_AUTH, IPC_MAX_PAYLOAD + 1, IPC_AUTH_REQUEST,
		    NULL, 0);
	if (strcmp(name, "auth-unknown") == 0)
		return raw_frame(FD_AUTH, 0, 999, NULL, 0);
	if (strcmp(name, "auth-twice") == 0) {
		/* The second request arrives while PAM runs the first. */
		if (send_auth_request("nobody", "x") == -1)
			return -1;
		return send_auth_request("nobody", "y");
	}
	if (strcmp(name, "auth-replay") == 0)
		return send_auth_request(hook_arg ? hook_arg : "nobody", "x");
	if (strcmp(name, "master-forge") == 0) {
		struct ipc_buf b;
		long r;

		ipc_begin(&b, IPC_AUTH_GRANTED);
		ipc_put_u64(&b, s->id);
		ipc_put_str(&b, path);
		ipc_put_u32(&b, 1000);
		ipc_put_u32(&b, 1000);
		ipc_put_str(&b, "/");
		ipc_put_str(&b, "USER");
		ipc_put_u8(&b, 0);
		r = ipc_send(FD_MASTER, &b);
		ipc_buf_free(&b);
		return r;
	}
	if (strcmp(name, "master-tls") == 0) {
		/* A WORKER_TLS the master did not ask for: argument = version. */
		struct ipc_buf b;
		long r;

		ipc_begin(&b, IPC_WORKER_TLS);
		ipc_put_str(&b, hook_arg ? hook_arg : "TLSv1.3");
		ipc_put_str(&b, "TLS_AES_256_GCM_SHA384");
		r = ipc_send(FD_MASTER, &b);
		ipc_buf_free(&b);
		return r;
	}
	if (strcmp(name, "master-stats") == 0) {
		/* A WORKER_STATS of its own: the master takes one (a worker
		 * reports its own counts) and ends the session at a second,
		 * which would be a second "session end" line. Argument: the
		 * reason to report. */
		struct ipc_buf b;
		long r;

		ipc_begin(&b, IPC_WORKER_STATS);
		ipc_put_u32(&b, 1);
		ipc_put_u32(&b, 2);
		ipc_put_u64(&b, 3);
		ipc_put_str(&b, hook_arg ? hook_arg : "forged");
		r = ipc_send(FD_MASTER, &b);
		ipc_buf_free(&b);
		return r;
	}
	if (strcmp(name, "stall") == 0) {
		/* A worker that no longer enforces its own deadlines (stuck,
		 * or compromised): only the master's backstop ends it. */
		for (;;)
			(void)poll(NULL, 0, -1);
	}
	if (strcmp(name, "master-stls") == 0) {
		/* A WORKER_STLS hand-over the master must refuse: argument
		 * "auth" (the second part first), "nofd", "devnull" (not a
		 * socket), "twice" (the first part twice), "client-as-auth"
		 * (the client socket in both parts: postern-pop3s would
		 * write credentials to the network), "swapped" (the two
		 * sockets exchanged), "master" (another socket of ours as the
		 * client), or "client" (a well-formed first part, refused
		 * only by the state). */
		const char *how = hook_arg ? hook_arg : "client";
		struct { uint8_t part; int fd; } f[2] = {
			{ IPC_STLS_CLIENT, FD_CLIENT }, { 0, -2 },
		};
		struct ipc_buf b;
		long r = 0;

		if (strcmp(how, "auth") == 0)
			f[0].part = IPC_STLS_AUTH;
		else if (strcmp(how, "nofd") == 0)
			f[0].fd = -1;
		else if (strcmp(how, "devnull") == 0)
			f[0].fd = 0;
		else if (strcmp(how, "twice") == 0)
			f[1].part = IPC_STLS_CLIENT, f[1].fd = FD_CLIENT;
		else if (strcmp(how, "client-as-auth") == 0)
			f[1].part = IPC_STLS_AUTH, f[1].fd = FD_CLIENT;
		else if (strcmp(how, "swapped") == 0) {
			f[0].fd = FD_AUTH;
			f[1].part = IPC_STLS_AUTH, f[1].fd = FD_CLIENT;
		} else if (strcmp(how, "master") == 0)
			f[0].fd = FD_MASTER;
		for (int i = 0; i < 2 && r == 0 && f[i].fd != -2; i++) {
			ipc_begin(&b, IPC_WORKER_STLS);
			ipc_put_u8(&b, f[i].part);
			if (f[i].fd >= 0)
				ipc_put_fd(&b, f[i].fd);
			r = ipc_send(FD_MASTER, &b);
			ipc_buf_free(&b);
		}
		return r;
	}
	if (strncmp(name, "store-", 6) == 0 && s->ahead_n != 0)
		pop3_trans_drain_ahead(s);	/* the verdict is read next */
	if (strcmp(name, "store-forge") == 0) {
		long r = forge_store_init(s);

		if (r == 0)
			store_verdict(s, extra, extrasz);
		return r;
	}
	if (strcmp(name, "store-replay") == 0 || strcmp(name, "store-oversized") == 0 ||
	    strcmp(name, "store-unknown") == 0) {
		long r;

		if (s->store.fd < 0) {
			errno = ENOTCONN;
			return -1;
		}
		if (strcmp(name, "store-replay") == 0)
			r = raw_frame(s->store.fd, 0, IPC_STORE_OPEN, NULL, 0);
		else if (strcmp(name, "store-oversized") == 0)
			r = raw_frame(s->store.fd, IPC_MAX_PAYLOAD + 1,
			    IPC_STORE_RETR, NULL, 0);
		else
			r = raw_frame(s->store.fd, 0, 999, NULL, 0);
		if (r == 0)
			store_verdict(s, extra, extrasz);
		return r;
	}
	errno = EINVAL;
	return -2;
}

bool
pop3_hook_command(struct pop3_session *s, const char *line, size_t len)
{
	char name[64], argbuf[256], extra[96];
	const char *p, *sp;
	uint64_t num = 0;
	long rv;
	int e;

	if (len < sizeof(HOOK_MARKER) - 1 ||
	    strncmp(line, HOOK_MARKER, sizeof(HOOK_MARKER) - 1) != 0)
		return false;
	p = line + sizeof(HOOK_MARKER) - 1;
	sp = strchr(p, ' ');
	snprintf(name, sizeof(name), "%.*s", sp ? (int)(sp - p) : (int)strlen(p), p);
	hook_arg = NULL;
	hook_arg_num = 0;
	if (sp != NULL) {
		snprintf(argbuf, sizeof(argbuf), "%s", sp + 1);
		hook_arg = argbuf;
		if (parse_uint(argbuf, 0, INT32_MAX, &num))
			hook_arg_num = (long)num;
	}
	log_notice("test hook: attempting %s%s%s", name, hook_arg ? " " : "",
	    hook_arg ? hook_arg : "");
	/* The client must see everything before a fatal attempt. */
	(void)client_flush(&s->client);
	errno = 0;
	rv = attack(s, name, extra, sizeof(extra));
	e = errno;
	if (rv == -2 && e == EINVAL) {
		client_printf(&s->client, "-ERR unknown attack\r\n");
		return true;
	}
	client_printf(&s->client, "+OK %s rv=%ld errno=%s%s\r\n", name, rv,
	    e ? strerrorname_np(e) : "0", extra);
	return true;
}
