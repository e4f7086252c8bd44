#!/bin/sh
# demo.sh - build postern and serve a demo mailbox on 127.0.0.1:1110 for
# the account "demo" (password "demo"). Run as root on Debian 12.
# Stop it with: kill "$(cat /run/postern-demo.pid)"
#
# The build is out of tree, in _build/demo: a source tree configured in
# place would make every out-of-tree configure (tests/run-all.sh, the
# README's second command) refuse to run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/_build/demo
port=1110
cd "$top"
sh contrib/install-deps.sh --build-only
# The demo tells the user to connect with curl, and checks with it that
# the daemon answers; a fresh Debian 12 has no curl.
if ! command -v curl >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl
fi
if [ -f config.status ]; then
	echo "demo.sh: this source tree was configured in place (an older demo.sh?);" >&2
	echo "demo.sh: run 'make distclean' here first, then run demo.sh again." >&2
	exit 1
fi
[ -x configure ] || autoreconf -fi
mkdir -p "$build"
[ -f "$build/Makefile" ] ||
	( cd "$build" && "$top/configure" -q --sysconfdir=/etc --localstatedir=/var )
make -C "$build" -j"$(nproc)" >"$build/build.log" 2>&1 ||
	{ tail -50 "$build/build.log"; exit 1; }

# The unprivileged worker user, its empty chroot, the PAM service.
id postern >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postern
install -d -o root -g root -m 0755 /var/lib/postern /var/lib/postern/empty /var/lib/postern/index
[ -f /etc/pam.d/postern ] || printf '@include common-auth\n@include common-account\n' > /etc/pam.d/postern

# A demo user with a demo mailbox, delivered the Debian way.
id demo >/dev/null 2>&1 || useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin demo
echo 'demo:demo' | chpasswd
install -d -o root -g mail -m 2775 /var/mail
if [ ! -s /var/mail/demo ]; then
	for i in 1 2 3; do
		printf 'From demo@localhost %s\nFrom: Postern Demo <demo@localhost>\nTo: demo@localhost\nSubject: Demo message %s\nDate: %s\n\nHello from postern, message %s.\n\n' \
		    "$(date -u '+%a %b %e %H:%M:%S %Y')" "$i" "$(date -R)" "$i"
	done > /var/mail/demo
	chown demo:mail /var/mail/demo
	chmod 0660 /var/mail/demo
fi

conf=/run/postern-demo.conf
pid_file=/run/postern-demo.pid
log=/run/postern-demo.log
cat > "$conf" <<CONF
listen = 127.0.0.1:$port
libexec_dir = $build
pid_file = $pid_file
empty_dir = /var/lib/postern/empty
index_dir = /var/lib/postern/index/%u
CONF
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
	kill "$(cat "$pid_file")"
	# A graceful stop lets open sessions finish; wait until the port is free.
	i=0
	while kill -0 "$(cat "$pid_file" 2>/dev/null || echo 0)" 2>/dev/null && [ $i -lt 40 ]; do
		sleep 1; i=$((i + 1))
	done
fi
"$build/postern" -t -c "$conf" >/dev/null
# In the foreground of a session of its own, logging to a file: a fresh
# machine or a container often has no syslog daemon to read from.
setsid "$build/postern" -F -c "$conf" </dev/null >"$log" 2>&1 &

# Success only once a real client has logged in and listed the mailbox.
i=0
until curl -sS --max-time 10 "pop3://demo:demo@127.0.0.1:$port/" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 20 ]; then
		echo "demo.sh: postern does not answer on 127.0.0.1:$port; its log ($log):" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	sleep 0.5
done
echo
echo "postern is serving /var/mail/demo on 127.0.0.1:$port (log: $log)."
echo "Try:  curl pop3://demo:demo@127.0.0.1:$port/        (list)"
echo "      curl pop3://demo:demo@127.0.0.1:$port/1       (first message)"
echo "Stop: kill \$(cat $pid_file)"
