# fuzz/: libFuzzer targets, their seed corpora (fuzz/corpus/NAME/),
# dictionaries (fuzz/NAME.dict) and saved crash inputs (fuzz/regress/NAME/).
#
# With ./configure --enable-fuzzing CC=clang (in a build directory of its
# own, e.g. _build/fuzz) "make" builds fuzz/fuzz-NAME and
# "make fuzz-smoke" runs each for FUZZ_SECONDS (default 60). In every
# other build the same sources are linked with fuzz/replay.c into
# fuzz/replay-NAME, which "make check" runs over the corpus and the saved
# crashes (registered in tests/hardening.mk).
FUZZ_NAMES = pop3-parse config ipc util mbox-scan mbox-index sasl
FUZZ_SECONDS = 60
FUZZ_INCLUDES = $(AM_CPPFLAGS) -I$(top_srcdir)/fuzz -I$(top_srcdir)/daemon
FUZZ_LIBS = daemon/libpop3.a lib/libpostern.a
FUZZ_MBOX_INCLUDES = $(FUZZ_INCLUDES) -I$(top_srcdir)/storage
FUZZ_MBOX_LIBS = storage/libmbox.a lib/libpostern.a

EXTRA_DIST += fuzz/fuzz.h fuzz/replay.c fuzz/smoke.sh fuzz/corpus fuzz/regress \
	fuzz/pop3-parse.dict fuzz/config.dict fuzz/ipc.dict fuzz/util.dict \
	fuzz/mbox-scan.dict fuzz/mbox-index.dict fuzz/sasl.dict fuzz/gen-seeds.py

if FUZZING
noinst_PROGRAMS += fuzz/fuzz-pop3-parse fuzz/fuzz-config fuzz/fuzz-ipc fuzz/fuzz-util \
	fuzz/fuzz-mbox-scan fuzz/fuzz-mbox-index fuzz/fuzz-sasl
FUZZER_LINK = $(AM_LDFLAGS) -fsanitize=fuzzer
fuzz_fuzz_pop3_parse_SOURCES = fuzz/fuzz-pop3-parse.c
fuzz_fuzz_pop3_parse_CPPFLAGS = $(FUZZ_INCLUDES)
fuzz_fuzz_pop3_parse_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_pop3_parse_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_config_SOURCES = fuzz/fuzz-config.c
fuzz_fuzz_config_CPPFLAGS = $(FUZZ_INCLUDES)
fuzz_fuzz_config_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_config_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_ipc_SOURCES = fuzz/fuzz-ipc.c
fuzz_fuzz_ipc_CPPFLAGS = $(FUZZ_INCLUDES)
fuzz_fuzz_ipc_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_ipc_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_util_SOURCES = fuzz/fuzz-util.c
fuzz_fuzz_util_CPPFLAGS = $(FUZZ_INCLUDES)
fuzz_fuzz_util_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_util_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_sasl_SOURCES = fuzz/fuzz-sasl.c
fuzz_fuzz_sasl_CPPFLAGS = $(FUZZ_INCLUDES)
fuzz_fuzz_sasl_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_sasl_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_mbox_scan_SOURCES = fuzz/fuzz-mbox-scan.c
fuzz_fuzz_mbox_scan_CPPFLAGS = $(FUZZ_MBOX_INCLUDES)
fuzz_fuzz_mbox_scan_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_mbox_scan_LDADD = $(FUZZ_MBOX_LIBS)
fuzz_fuzz_mbox_index_SOURCES = fuzz/fuzz-mbox-index.c
fuzz_fuzz_mbox_index_CPPFLAGS = $(FUZZ_MBOX_INCLUDES)
fuzz_fuzz_mbox_index_LDFLAGS = $(FUZZER_LINK)
fuzz_fuzz_mbox_index_LDADD = $(FUZZ_MBOX_LIBS)

# Each target for FUZZ_SECONDS, starting from the seed corpus (copied:
# the tree is not modified); a crash fails the run and is kept in
# fuzz-out/ with the command that reproduces it.
fuzz-smoke: fuzz/fuzz-pop3-parse fuzz/fuzz-config fuzz/fuzz-ipc fuzz/fuzz-util \
	    fuzz/fuzz-mbox-scan fuzz/fuzz-mbox-index fuzz/fuzz-sasl
	FUZZ_SECONDS='$(FUZZ_SECONDS)' $(SHELL) $(top_srcdir)/fuzz/smoke.sh \
	    '$(top_srcdir)' '$(abs_top_builddir)/fuzz-out' $(FUZZ_NAMES)
else
fuzz-smoke:
	@echo "fuzz-smoke needs a fuzzing build: mkdir -p _build/fuzz && cd _build/fuzz && ../../configure --enable-fuzzing CC=clang && make fuzz-smoke" >&2
	@exit 1
endif
.PHONY: fuzz-smoke
