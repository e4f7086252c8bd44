#!/bin/sh
# install-deps.sh - everything postern needs to build and to run its whole
# test suite on Debian 12, from Debian's archive only. Run as root.
set -eu
export DEBIAN_FRONTEND=noninteractive
BUILD="build-essential autoconf automake pkg-config libssl-dev libpam0g-dev libseccomp-dev libcrypt-dev"
RUNTIME="openssl passwd procps"
TESTS="python3 curl procmail liblockfile-bin fetchmail mpop getmail6 perl libio-socket-ssl-perl strace iproute2 clang libclang-rt-14-dev valgrind cppcheck clang-tidy fail2ban mandoc man-db systemd util-linux"
# POSTERN_TEST_PACKAGES=1 builds, installs and purges the .deb and builds
# the RPM (tests/e2e/t-pkg-deb.py, t-pkg-rpm.py).
if [ "${POSTERN_TEST_PACKAGES:-}" = 1 ]; then
	TESTS="$TESTS dpkg-dev debhelper fakeroot lintian rpm"
fi
if [ "${1:-}" = "--build-only" ]; then
	PKGS="$BUILD $RUNTIME"
else
	PKGS="$BUILD $RUNTIME $TESTS"
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
