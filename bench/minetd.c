/*
 * minetd.c - the smallest inetd for postern's benchmark: accept on
 * 127.0.0.1:PORT and run PROGRAM once per connection with the socket as
 * its stdin and stdout, the way inetd ("nowait") runs popa3d on Debian.
 * popa3d's own standalone mode (-D) binds 0.0.0.0:110 with no way to
 * choose the address, which a benchmark must not do. Not part of the
 * product build.
 *
 *   minetd PORT PROGRAM [ARGS...]
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
reap(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sigaction sa = { .sa_handler = reap, .sa_flags = SA_RESTART };
	int lfd, one = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: minetd PORT PROGRAM [ARGS...]\n");
		return 2;
	}
	sin.sin_port = htons((uint16_t)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigaction(SIGCHLD, &sa, NULL);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 512) < 0) {
		perror("minetd: listen");
		return 1;
	}
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (fd < 0)
			continue;
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 ||
			    null < 0 || dup2(null, 2) < 0)
				_exit(127);
			signal(SIGCHLD, SIG_DFL);
			execv(argv[2], argv + 2);
			_exit(127);
		}
		close(fd);
	}
}
