#!/bin/sh
# demo.sh - build postern in this tree and serve a demo mailbox on
# 127.0.0.1:1110 for the account "demo" (password "demo"). Run as root on
# Debian 12. Stop it with: kill "$(cat /run/postern-demo.pid)"
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh contrib/install-deps.sh --build-only
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure --sysconfdir=/etc --localstatedir=/var
make -j"$(nproc)"

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
cat > "$conf" <<CONF
listen = 127.0.0.1:1110
libexec_dir = $top
pid_file = /run/postern-demo.pid
empty_dir = /var/lib/postern/empty
index_dir = /var/lib/postern/index/%u
CONF
if [ -f /run/postern-demo.pid ] && kill -0 "$(cat /run/postern-demo.pid)" 2>/dev/null; then
	kill "$(cat /run/postern-demo.pid)"; sleep 1
fi
./postern -c "$conf"
sleep 1
echo
echo "postern is serving /var/mail/demo on 127.0.0.1:1110 (logs: journalctl -t postern or /var/log/mail.log)."
echo "Try:  curl pop3://demo:demo@127.0.0.1:1110/        (list)"
echo "      curl pop3://demo:demo@127.0.0.1:1110/1       (first message)"
echo "Stop: kill \$(cat /run/postern-demo.pid)"
