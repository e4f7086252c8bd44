#!/bin/sh
# run.sh - postern's benchmark in one command (Debian 12, as root):
#
#     sh bench/run.sh            # full run, about 10-15 minutes on 2 cores
#     sh bench/run.sh --quick    # smoke run, about 2 minutes
#
# Installs what it needs from Debian's archive (Dovecot, iperf3, the
# build tools), builds postern from this tree in _build/bench (or uses
# $POSTERN_BUILDDIR), then runs bench/bench.py, which compares postern,
# Dovecot and popa3d on the same generated mailboxes and prints a table.
# Other arguments go to bench.py (see bench/README.md).
#
# The system is left as it was: installing packages does not start their
# services, every server runs on its own loopback port with its own
# configuration, and the ptbench* accounts, /var/mail/ptbench* and the
# work directory are removed at the end.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "run.sh: run as root (the benchmark creates real users and reads /var/mail)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential autoconf automake pkg-config libssl-dev libpam0g-dev
libseccomp-dev python3 openssl passwd procps dovecot-pop3d iperf3"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# popa3d is fetched with apt-get download later: it needs package lists.
if [ -n "$missing" ] || ! apt-cache show popa3d >/dev/null 2>&1; then
	apt-get -o DPkg::Lock::Timeout=600 update -qq
fi
if [ -n "$missing" ]; then
	echo "run.sh: installing$missing"
	# Installing dovecot-core would start Dovecot on ports 110 and 995:
	# forbid service starts for the duration of the install.
	own_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	# shellcheck disable=SC2086
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing ||
		{ [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
	[ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
	case " $missing " in
	*" dovecot-pop3d "*)
		# We installed Dovecot only to measure it: keep it from starting
		# at the next boot as well.
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
		else
			update-rc.d dovecot disable >/dev/null 2>&1 || true
		fi
		echo "run.sh: installed dovecot-pop3d; its system service is disabled"
		;;
	esac
fi

jobs=$(nproc 2>/dev/null || echo 2)
if [ -n "${POSTERN_BUILDDIR:-}" ]; then
	builddir=$POSTERN_BUILDDIR
elif [ -f "$top/config.status" ]; then
	# Configured in the source tree: an out-of-tree build is impossible.
	builddir=$top
	# shellcheck disable=SC2086 # BENCH_MAKE_ARGS is a list of words
	make -C "$top" -j"$jobs" ${BENCH_MAKE_ARGS:-} >/dev/null
else
	builddir=$top/_build/bench
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
	mkdir -p "$builddir"
	[ -f "$builddir/Makefile" ] || (cd "$builddir" && "$top/configure" -q)
	echo "run.sh: building postern in $builddir"
	# shellcheck disable=SC2086 # BENCH_MAKE_ARGS is a list of words
	make -C "$builddir" -j"$jobs" ${BENCH_MAKE_ARGS:-} >"$builddir/bench-build.log" 2>&1 ||
		{ tail -30 "$builddir/bench-build.log"; exit 1; }
fi
for prog in postern postern-pop3 postern-pop3s postern-auth postern-store; do
	if [ ! -x "$builddir/$prog" ]; then
		echo "run.sh: $builddir/$prog is missing (build failed?)" >&2
		exit 1
	fi
done
exec python3 "$top/bench/bench.py" --builddir "$builddir" "$@"
