# daemon/: postern (the master) and postern-pop3 (the network-facing worker).
sbin_PROGRAMS += postern
postern_SOURCES = daemon/master_main.c
postern_LDADD = lib/libpostern.a
