# tests/unit.mk: tests of this area; see tests/local.mk.
