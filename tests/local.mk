# tests/: unit tests (C, TAP) and end-to-end tests (Python, TAP). Each
# area keeps its own fragment so that parallel work does not collide.
PY_LOG_COMPILER = $(PYTHON3)
EXTRA_DIST += tests/e2e/harness.py tests/unit/tap.h

include tests/unit.mk
include tests/e2e.mk
include tests/tls.mk
include tests/security.mk
include tests/packaging.mk
include tests/clients.mk
include tests/bench.mk
include tests/hardening.mk
