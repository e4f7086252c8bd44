/*
 * test-sandbox.c - live tests of the sandbox policies, in the style of
 * libseccomp's live tests: a child enters a role's sandbox and then makes
 * one system call; the parent checks that allowed calls work, harmless
 * probes fail with their errno, and everything forbidden kills the child
 * with SIGSYS. Also: /proc shows NoNewPrivs and Seccomp 2 and the
 * rlimits, the worker can receive exactly one descriptor, Landlock keeps
 * storage in its directories, and an OpenSSL 3 handshake, read and write
 * work inside the worker's policy (for the TLS branch).
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <netinet/in.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <linux/filter.h>
#include <seccomp.h>
#endif

#include "ipc.h"
#include "sandbox.h"
#include "sandbox_int.h"
#include "tap.h"

/* Exit codes of a child that survived: 0 for success, errno + 1 for a
 * failed call (so EACCES is 14), 200+ for setup trouble. */
#define CHILD_SETUP_FAILED	200
/* A descriptor above every role's kept range, open when the child
 * enters its sandbox: sandbox_enter must have closed it. */
#define EXTRA_FD		9

static const char *store_dirs[3];
/* Taken before any sandbox: getppid itself is not allowed inside. */
static pid_t parent_pid;
static char tmpdir[64];

typedef int (*child_fn)(void);

static void *
thread_main(void *p)
{
	return p;
}

static int
errno_code(long rv)
{
	return rv < 0 ? errno + 1 : 0;
}

/*
 * Run fn in a child confined to role. The child gets a socketpair at
 * fds 3 and 4 (inside every role's kept range) to talk to itself.
 * Returns the wait status.
 */
static int
run_in(enum sandbox_role role, child_fn fn)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		const char *why;
		int sp[2], null;

		/* Like the worker: fds 3-5 taken, so a received descriptor
		 * gets the last number RLIMIT_NOFILE allows. */
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1 ||
		    dup2(sp[0], 3) == -1 || dup2(sp[1], 4) == -1 ||
		    dup2(sp[1], 5) == -1)
			_exit(CHILD_SETUP_FAILED);
		/* As in the daemon, stderr is /dev/null (the worker may not
		 * write to a file: RLIMIT_FSIZE 0). */
		null = open("/dev/null", O_WRONLY);
		if (null == -1 || dup2(null, 2) == -1)
			_exit(CHILD_SETUP_FAILED);
		close(null);
		/* Something the role must not keep (like a descriptor a
		 * library left open): a copy of a socket end. */
		if (dup2(sp[0], EXTRA_FD) == -1)
			_exit(CHILD_SETUP_FAILED);
		if (sandbox_enter(role, store_dirs, &why) == -1)
			_exit(CHILD_SETUP_FAILED + 1);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

#define killed_by_sigsys(st) (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
#define exited_with(st, code) (WIFEXITED(st) && WEXITSTATUS(st) == (code))

/* ---- what the children try ---- */

static int c_getpid(void) { return getpid() > 0 ? 0 : 1; }
/* close, allowed in every role, tells whether the descriptor is open. */
static int c_extra_fd_closed(void) { return errno_code(close(EXTRA_FD)); }
static int c_malloc(void)
{
	size_t n = 16 * 1024 * 1024;
	char *p = malloc(n), *q;

	if (p == NULL)
		return 1;
	memset(p, 7, n);
	q = realloc(p, 2 * n);
	if (q == NULL) {
		free(p);
		return 2;
	}
	free(q);
	return 0;
}
#ifndef POSTERN_ASAN
static int c_malloc_huge(void)
{
	/* The address-space cap must refuse this; free it if it did not. */
	void *p = malloc(512UL * 1024 * 1024);

	if (p == NULL)
		return ENOMEM + 1;
	free(p);
	return 0;
}
#endif
static int c_getrandom(void)
{
	char b[32];

	return syscall(SYS_getrandom, b, sizeof(b), 0) == sizeof(b) ? 0 : 1;
}
static int c_clock(void)
{
	struct timespec ts;

	return (int)syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
}
static int c_open(void) { return errno_code(open("/etc/passwd", O_RDONLY)); }
static int c_openat(void)
{
	return errno_code(openat(AT_FDCWD, "/etc/passwd", O_RDONLY));
}
static int c_fstat(void)
{
	struct stat st;

	return errno_code(fstat(0, &st));
}
static int c_clone3(void) { return errno_code(syscall(SYS_clone3, NULL, 0)); }
static int c_ioctl(void) { return errno_code(ioctl(0, FIONREAD, &(int){ 0 })); }
static int c_sysinfo(void)
{
	struct sysinfo si;

	return errno_code(sysinfo(&si));
}
static int c_tgkill_self(void)
{
	return errno_code(syscall(SYS_tgkill, getpid(), getpid(), 0));
}
static int c_abort(void) { abort(); }
static int c_x32(void) { return errno_code(syscall(0x40000000 | SYS_getpid)); }
static int c_socket(void) { return errno_code(socket(AF_INET, SOCK_STREAM, 0)); }
static int c_socket_unix(void) { return errno_code(socket(AF_UNIX, SOCK_STREAM, 0)); }
static int c_socketpair(void)
{
	int sp[2];

	return errno_code(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
}
static int c_connect(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(25) };

	return errno_code(connect(3, (struct sockaddr *)&sin, sizeof(sin)));
}
static int c_exec(void)
{
	char *const argv[] = { (char *)"true", NULL };

	return errno_code(execve("/bin/true", argv, NULL));
}
static int c_fork(void) { return errno_code(fork()); }
static int c_thread(void)
{
	pthread_t t;

	return pthread_create(&t, NULL, thread_main, NULL) + 1;
}
static int c_kill_parent(void) { return errno_code(kill(parent_pid, SIGTERM)); }
static int c_kill0_parent(void) { return errno_code(kill(parent_pid, 0)); }
static int c_tgkill_parent(void)
{
	return errno_code(syscall(SYS_tgkill, parent_pid, parent_pid, SIGTERM));
}
static int c_ptrace(void)
{
	return errno_code(ptrace(PTRACE_ATTACH, parent_pid, NULL, NULL));
}
static int c_vmread(void)
{
	char buf[16];
	struct iovec l = { buf, sizeof(buf) }, r = { buf, sizeof(buf) };

	return errno_code(process_vm_readv(parent_pid, &l, 1, &r, 1, 0));
}
static int c_setuid(void) { return errno_code(setuid(0)); }
static int c_setresgid(void) { return errno_code(setresgid(0, 0, 0)); }
static int c_prctl(void) { return errno_code(prctl(PR_SET_DUMPABLE, 1)); }
static int c_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? errno + 1 : 0;
}
static int c_mmap_file(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 0, 0);

	return p == MAP_FAILED ? errno + 1 : 0;
}
static int c_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return CHILD_SETUP_FAILED;
	return errno_code(mprotect(p, 4096, PROT_READ | PROT_EXEC));
}
static int c_mkdir(void) { return errno_code(mkdir("/tmp/postern-x", 0700)); }
static int c_unlink(void) { return errno_code(unlink("/tmp/postern-x")); }
static int c_chroot(void) { return errno_code(chroot("/")); }
static int c_unshare(void) { return errno_code(syscall(SYS_unshare, 0)); }
static int c_bpf(void) { return errno_code(syscall(SYS_bpf, 0, NULL, 0)); }
static int c_io_uring(void) { return errno_code(syscall(SYS_io_uring_setup, 1, NULL)); }
static int c_perf(void) { return errno_code(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)); }
static int c_userfaultfd(void) { return errno_code(syscall(SYS_userfaultfd, 0)); }
static int c_keyctl(void) { return errno_code(syscall(SYS_keyctl, 0, 0, 0, 0, 0)); }
static int c_getrlimit(void)
{
	struct rlimit rl;

	return errno_code(getrlimit(RLIMIT_NOFILE, &rl));
}

/* The worker receives exactly one descriptor (the storage channel): the
 * first arrives, a second cannot (RLIMIT_NOFILE). */
static int
c_recv_fds(void)
{
	struct ipc_conn c;
	struct ipc_msg m;
	struct ipc_buf b;

	for (int round = 0; round < 2; round++) {
		ipc_begin(&b, IPC_WORKER_SESSION);
		ipc_put_u8(&b, 0);
		ipc_put_fd(&b, 4);
		if (ipc_send(4, &b) == -1)
			return 10 + round;
		ipc_buf_free(&b);
	}
	ipc_conn_init(&c, 3);
	if (ipc_conn_recv(&c, &m, 1000) != 1 || m.fd < 0)
		return 20;
	if (m.fd != POP3_SANDBOX_NOFILE - 1)
		return 21;
	/* The second frame's descriptor must not fit. */
	return ipc_conn_recv(&c, &m, 1000) == 1 ? 30 : 0;
}

/* Wait for the parent to look at /proc, then exit. */
static int
c_wait(void)
{
	char c = 1;

	if (write(3, &c, 1) != 1 || read(3, &c, 1) != 1)
		return 1;
	return 0;
}

/* ---- storage, with Landlock ---- */

static char allowed_file[128], denied_file[128], allowed_link[128];

static int
c_store_files(void)
{
	char tmp[160];
	int fd = open(allowed_file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd == -1)
		return errno + 1;
	if (write(fd, "From x\n", 7) != 7 || fsync(fd) == -1 ||
	    ftruncate(fd, 3) == -1 || futimens(fd, NULL) == -1)
		return 100;
	close(fd);
	snprintf(tmp, sizeof(tmp), "%s.tmp", allowed_file);
	if (link(allowed_file, tmp) == -1 || rename(tmp, allowed_link) == -1 ||
	    unlink(allowed_link) == -1)
		return 101;
	return 0;
}
static int c_store_denied(void)
{
	return errno_code(open(denied_file, O_RDWR | O_CREAT, 0600));
}
static int c_store_passwd(void) { return errno_code(open("/etc/passwd", O_RDONLY)); }
static int c_store_symlink(void) { return errno_code(symlink("/etc/shadow", allowed_link)); }

/* ---- the auth helper's role ---- */

static int
c_auth(void)
{
	struct rlimit rl;

	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 1;
	if (getrlimit(RLIMIT_CORE, &rl) == -1 || rl.rlim_cur != 0)
		return 2;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
		return 3;
	if (fcntl(EXTRA_FD, F_GETFD) != -1 || errno != EBADF)
		return 4;	/* a descriptor above the kept ones stayed open */
	return 0;
}

static const struct {
	const char *what;
	child_fn fn;
	int expect;		/* -1: SIGSYS; -2: SIGABRT; else exit code */
} pop3_cases[] = {
	{ "getpid works", c_getpid, 0 },
	{ "a descriptor above the kept ones was closed (EBADF)",
	    c_extra_fd_closed, EBADF + 1 },
	{ "malloc/realloc of 32 MiB works (anonymous mmap, mremap)", c_malloc, 0 },
	{ "getrandom works (OpenSSL's DRBG)", c_getrandom, 0 },
	{ "clock_gettime works", c_clock, 0 },
	{ "open fails with EACCES", c_open, EACCES + 1 },
	{ "openat fails with EACCES", c_openat, EACCES + 1 },
	{ "fstat (newfstatat) fails with EACCES", c_fstat, EACCES + 1 },
	{ "clone3 fails with ENOSYS", c_clone3, ENOSYS + 1 },
	{ "ioctl fails with ENOTTY", c_ioctl, ENOTTY + 1 },
	{ "sysinfo fails with EPERM", c_sysinfo, EPERM + 1 },
	{ "tgkill on itself is allowed (abort)", c_tgkill_self, 0 },
	{ "abort() dies with SIGABRT, not SIGSYS", c_abort, -2 },
	{ "x32 system call kills", c_x32, -1 },
	{ "socket(AF_INET) kills", c_socket, -1 },
	{ "socket(AF_UNIX) kills", c_socket_unix, -1 },
	{ "socketpair kills", c_socketpair, -1 },
	{ "connect kills", c_connect, -1 },
	{ "execve kills", c_exec, -1 },
	{ "fork kills", c_fork, -1 },
	{ "pthread_create (clone3 ENOSYS, then clone) kills", c_thread, -1 },
	{ "kill(parent, SIGTERM) kills", c_kill_parent, -1 },
	{ "kill(parent, 0) kills", c_kill0_parent, -1 },
	{ "tgkill(parent) kills", c_tgkill_parent, -1 },
	{ "ptrace(ATTACH) kills", c_ptrace, -1 },
	{ "process_vm_readv kills", c_vmread, -1 },
	{ "setuid(0) kills", c_setuid, -1 },
	{ "setresgid(0) kills", c_setresgid, -1 },
	{ "prctl(PR_SET_DUMPABLE) kills", c_prctl, -1 },
	{ "mmap(PROT_EXEC) kills", c_mmap_exec, -1 },
	{ "mmap of a descriptor kills", c_mmap_file, -1 },
	{ "mprotect(PROT_EXEC) kills", c_mprotect_exec, -1 },
	{ "mkdir kills", c_mkdir, -1 },
	{ "unlink kills", c_unlink, -1 },
	{ "chroot kills", c_chroot, -1 },
	{ "unshare kills", c_unshare, -1 },
	{ "bpf kills", c_bpf, -1 },
	{ "io_uring_setup kills", c_io_uring, -1 },
	{ "perf_event_open kills", c_perf, -1 },
	{ "userfaultfd kills", c_userfaultfd, -1 },
	{ "keyctl kills", c_keyctl, -1 },
	{ "getrlimit (prlimit64) kills", c_getrlimit, -1 },
	{ "exactly one descriptor can be received", c_recv_fds, 0 },
#ifndef POSTERN_ASAN
	{ "a 512 MiB allocation fails (RLIMIT_AS)", c_malloc_huge, ENOMEM + 1 },
#endif
};

static const struct {
	const char *what;
	child_fn fn;
	int expect;
} store_cases[] = {
	{ "storage: file work in its directory works", c_store_files, 0 },
	{ "storage: a descriptor above the kept ones was closed (EBADF)",
	    c_extra_fd_closed, EBADF + 1 },
	{ "storage: kill(pid, 0) works (dot-lock liveness)", c_kill0_parent, 0 },
	{ "storage: kill(parent, SIGTERM) kills", c_kill_parent, -1 },
	{ "storage: socket kills", c_socket, -1 },
	{ "storage: socketpair kills", c_socketpair, -1 },
	{ "storage: execve kills", c_exec, -1 },
	{ "storage: fork kills", c_fork, -1 },
	{ "storage: pthread_create kills", c_thread, -1 },
	{ "storage: ptrace kills", c_ptrace, -1 },
	{ "storage: process_vm_readv kills", c_vmread, -1 },
	{ "storage: setuid kills", c_setuid, -1 },
	{ "storage: symlink kills", c_store_symlink, -1 },
	{ "storage: mmap(PROT_EXEC) kills", c_mmap_exec, -1 },
	{ "storage: chroot kills", c_chroot, -1 },
	{ "storage: mmap of a descriptor kills", c_mmap_file, -1 },
	{ "storage: ioctl fails with ENOTTY", c_ioctl, ENOTTY + 1 },
};

static void
check_case(const char *what, int st, int expect)
{
	if (expect == -1)
		ok(killed_by_sigsys(st), "%s (status 0x%x)", what, st);
	else if (expect == -2)
		ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s (status 0x%x)",
		    what, st);
	else
		ok(exited_with(st, expect), "%s (status 0x%x, want exit %d)",
		    what, st, expect);
}

static int
proc_field(pid_t pid, const char *file, const char *field, char *out,
    size_t outsz)
{
	char path[64], line[256];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, strlen(field)) == 0) {
			snprintf(out, outsz, "%s", line + strlen(field));
			out[strcspn(out, "\n")] = '\0';
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Look at a confined child from the outside. */
static void
inspect(enum sandbox_role role, const char *name)
{
	int sp[2], st;
	pid_t pid;
	char c, v[200];

	fflush(stdout);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return;
	pid = fork();
	if (pid == 0) {
		const char *why;

		if (dup2(sp[1], 3) == -1)
			_exit(CHILD_SETUP_FAILED);
		if (sandbox_enter(role, store_dirs, &why) == -1)
			_exit(CHILD_SETUP_FAILED + 1);
		_exit(c_wait());
	}
	close(sp[1]);
	if (read(sp[0], &c, 1) != 1) {
		ok(0, "%s: child reached its sandbox", name);
		waitpid(pid, &st, 0);
		return;
	}
	ok(proc_field(pid, "status", "NoNewPrivs:\t", v, sizeof(v)) &&
	    strcmp(v, role == SANDBOX_AUTH ? "0" : "1") == 0,
	    "%s: NoNewPrivs is %s", name, role == SANDBOX_AUTH ? "0" : "1");
	ok(proc_field(pid, "status", "Seccomp:\t", v, sizeof(v)) &&
	    strcmp(v, role == SANDBOX_AUTH || !sandbox_available() ? "0" : "2") == 0,
	    "%s: Seccomp is %s (got %s)", name,
	    role == SANDBOX_AUTH || !sandbox_available() ? "0" : "2", v);
	ok(proc_field(pid, "limits", "Max core file size", v, sizeof(v)) &&
	    strstr(v, " 0 ") != NULL, "%s: RLIMIT_CORE 0", name);
	if (role == SANDBOX_POP3) {
		ok(proc_field(pid, "limits", "Max open files", v, sizeof(v)) &&
		    strstr(v, " 7 ") != NULL, "%s: RLIMIT_NOFILE 7", name);
		ok(proc_field(pid, "limits", "Max processes", v, sizeof(v)) &&
		    strstr(v, " 0 ") != NULL, "%s: RLIMIT_NPROC 0", name);
		ok(proc_field(pid, "limits", "Max file size", v, sizeof(v)) &&
		    strstr(v, " 0 ") != NULL, "%s: RLIMIT_FSIZE 0", name);
#ifndef POSTERN_ASAN
		ok(proc_field(pid, "limits", "Max address space", v, sizeof(v)) &&
		    strstr(v, "unlimited") == NULL, "%s: RLIMIT_AS set", name);
#endif
	}
	(void)write(sp[0], "x", 1);
	waitpid(pid, &st, 0);
	ok(exited_with(st, 0), "%s: child exited cleanly", name);
	close(sp[0]);
}

/* ---- OpenSSL 3 inside the worker's policy (the TLS branch's needs) ---- */

static EVP_PKEY *tls_key;
static X509 *tls_cert;

static bool
tls_make_cert(void)
{
	X509_NAME *n;

	tls_key = EVP_EC_gen("P-256");
	tls_cert = X509_new();
	if (tls_key == NULL || tls_cert == NULL)
		return false;
	X509_set_version(tls_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(tls_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(tls_cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(tls_cert), 3600);
	X509_set_pubkey(tls_cert, tls_key);
	n = X509_get_subject_name(tls_cert);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"postern.test", -1, -1, 0);
	X509_set_issuer_name(tls_cert, n);
	return X509_sign(tls_cert, tls_key, EVP_sha256()) > 0;
}

/* The server side, in a confined child: the context is built before the
 * filter (as the worker must), SSL_new, the handshake, a read and a
 * write and the close_notify after it. */
static int
tls_server(int fd, int version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const char *why;
	char buf[64];
	SSL *ssl;
	int n;

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, version) ||
	    !SSL_CTX_set_max_proto_version(ctx, version) ||
	    SSL_CTX_use_certificate(ctx, tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, tls_key) != 1)
		return CHILD_SETUP_FAILED;
	if (sandbox_enter(SANDBOX_POP3, NULL, &why) == -1)
		return CHILD_SETUP_FAILED + 1;
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
		return 1;
	if (SSL_accept(ssl) != 1)
		return 2;
	n = SSL_read(ssl, buf, sizeof(buf));
	if (n <= 0)
		return 3;
	if (SSL_write(ssl, buf, n) != n)
		return 4;
	(void)SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return 0;
}

static void
tls_one(int version, const char *name)
{
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	char buf[64];
	int sp[2], st, n = -1, connected = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* Like the worker: a peer gone during close_notify is not
		 * fatal. */
		signal(SIGPIPE, SIG_IGN);
		if (dup2(sp[1], 4) == -1)
			_exit(CHILD_SETUP_FAILED);
		_exit(tls_server(4, version));
	}
	close(sp[1]);
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx != NULL && SSL_CTX_set_min_proto_version(ctx, version) &&
	    SSL_CTX_set_max_proto_version(ctx, version) &&
	    (ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, sp[0]) == 1 &&
	    SSL_connect(ssl) == 1) {
		connected = 1;
		if (SSL_write(ssl, "hello postern", 13) == 13)
			n = SSL_read(ssl, buf, sizeof(buf));
	}
	ok(connected, "TLS %s: handshake with the server inside the worker's policy", name);
	ok(n == 13 && memcmp(buf, "hello postern", 13) == 0,
	    "TLS %s: read and write through the sandboxed server", name);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(sp[0]);
	waitpid(pid, &st, 0);
	ok(exited_with(st, 0), "TLS %s: the sandboxed server survived (status 0x%x)",
	    name, st);
}

static void
tls_inside_sandbox(void)
{
	if (!tls_make_cert()) {
		ok(0, "made a test certificate");
		return;
	}
	tls_one(TLS1_3_VERSION, "1.3");
	tls_one(TLS1_2_VERSION, "1.2");
}

#ifdef HAVE_SECCOMP
/*
 * The program compiled into the binaries (seccomp-gen at build time) with
 * this process's pid written in is exactly what libseccomp makes of the
 * policy with that pid: the pid lands where the policy compares it, and
 * nowhere else.
 */
static void
program_is_current(enum sandbox_role role, const struct sb_program *p,
    const char *name)
{
	const char *why = "";
	FILE *f = tmpfile();
	struct sock_filter *want = NULL;
	long size = -1;
	bool same = false;

	if (f != NULL && sandbox_compile(sandbox_policy(role),
	    (uint32_t)getpid(), fileno(f), true, &why) == 0 &&
	    (size = lseek(fileno(f), 0, SEEK_END)) > 0 &&
	    lseek(fileno(f), 0, SEEK_SET) == 0 &&
	    (want = malloc((size_t)size)) != NULL &&
	    read(fileno(f), want, (size_t)size) == (ssize_t)size &&
	    (size_t)size == p->len * sizeof(*want)) {
		struct sock_filter *got = malloc((size_t)size);

		memcpy(got, p->insns, (size_t)size);
		for (size_t i = 0; i < p->npid; i++)
			got[p->pid_at[i]].k = (uint32_t)getpid();
		same = memcmp(got, want, (size_t)size) == 0;
		free(got);
	}
	ok(same && p->npid > 0,
	    "%s: the built-in filter (%zu instructions, pid at %zu place%s) is libseccomp's compile of the policy (%ld bytes%s%s)",
	    name, p->len, p->npid, p->npid == 1 ? "" : "s", size,
	    why[0] ? ": " : "", why);
	free(want);
	if (f != NULL)
		fclose(f);
}
#endif

int
main(void)
{
	char allowed[96], denied[96];
	int st;

	if (!sandbox_available()) {
		printf("1..0 # SKIP built --without-seccomp\n");
		return 0;
	}
	parent_pid = getpid();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/postern-sandbox-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 99;
	snprintf(allowed, sizeof(allowed), "%s/allowed", tmpdir);
	snprintf(denied, sizeof(denied), "%s/denied", tmpdir);
	mkdir(allowed, 0700);
	mkdir(denied, 0700);
	snprintf(allowed_file, sizeof(allowed_file), "%s/mbox", allowed);
	snprintf(allowed_link, sizeof(allowed_link), "%s/mbox.lock", allowed);
	snprintf(denied_file, sizeof(denied_file), "%s/other", denied);
	store_dirs[0] = allowed;
	store_dirs[1] = NULL;
#ifdef HAVE_SECCOMP
	program_is_current(SANDBOX_POP3, &sandbox_pop3_program, "worker");
	program_is_current(SANDBOX_STORE, &sandbox_store_program, "storage");
#endif

	for (size_t i = 0; i < sizeof(pop3_cases) / sizeof(pop3_cases[0]); i++) {
		st = run_in(SANDBOX_POP3, pop3_cases[i].fn);
		check_case(pop3_cases[i].what, st, pop3_cases[i].expect);
	}
	for (size_t i = 0; i < sizeof(store_cases) / sizeof(store_cases[0]); i++) {
		st = run_in(SANDBOX_STORE, store_cases[i].fn);
		check_case(store_cases[i].what, st, store_cases[i].expect);
	}
	/* Landlock: only where the kernel has it. */
	{
		long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U);

		if (abi < 0) {
			printf("ok %d # SKIP Landlock not available\n", ++tap_n);
			printf("ok %d # SKIP Landlock not available\n", ++tap_n);
		} else {
			st = run_in(SANDBOX_STORE, c_store_denied);
			check_case("storage: Landlock denies a file outside its directories",
			    st, EACCES + 1);
			st = run_in(SANDBOX_STORE, c_store_passwd);
			check_case("storage: Landlock denies /etc/passwd", st, EACCES + 1);
		}
	}
	/* Under an outer filter that refuses Landlock with EPERM (systemd's
	 * SystemCallFilter= without the landlock calls), storage must
	 * degrade, not fail every session. */
#ifdef HAVE_SECCOMP
	{
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			scmp_filter_ctx outer = seccomp_init(SCMP_ACT_ALLOW);
			const char *why;
			int null = open("/dev/null", O_WRONLY);

			if (null == -1 || dup2(null, 2) == -1 || outer == NULL ||
			    seccomp_rule_add(outer, SCMP_ACT_ERRNO(EPERM),
			    SCMP_SYS(landlock_create_ruleset), 0) < 0 ||
			    seccomp_load(outer) < 0)
				_exit(CHILD_SETUP_FAILED);
			_exit(sandbox_enter(SANDBOX_STORE, store_dirs, &why) == 0 ?
			    0 : 1);
		}
		waitpid(pid, &st, 0);
		check_case("storage: Landlock refused by an outer filter degrades, "
		    "the rest of the sandbox applies", st, 0);
	}
#endif
	st = run_in(SANDBOX_AUTH, c_auth);
	check_case("auth: non-dumpable, no core dumps, no NNP (PAM needs it), extra descriptors closed", st, 0);

	inspect(SANDBOX_POP3, "pop3");
	inspect(SANDBOX_STORE, "store");
	inspect(SANDBOX_AUTH, "auth");

	tls_inside_sandbox();

	unlink(allowed_file);
	rmdir(allowed);
	rmdir(denied);
	rmdir(tmpdir);
	return tap_done();
}
