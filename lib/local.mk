# lib/: code shared by every role (IPC framing, configuration, logging).
noinst_LIBRARIES += lib/libpostern.a
lib_libpostern_a_SOURCES = \
	lib/conf.c lib/conf.h \
	lib/ipc.c lib/ipc.h \
	lib/ipc_msgs.c lib/ipc_msgs.h \
	lib/log.c lib/log.h \
	lib/params.h \
	lib/util.c lib/util.h
lib_libpostern_a_SOURCES += \
	lib/privdrop.c lib/privdrop.h \
	lib/sandbox.c lib/sandbox.h
