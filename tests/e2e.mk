# tests/e2e.mk: tests of this area; see tests/local.mk.
