# auth/: postern-auth, the PAM helper.
pkglibexec_PROGRAMS += postern-auth
postern_auth_SOURCES = auth/auth_main.c auth/auth_pam.c auth/auth_pam.h
postern_auth_SOURCES += auth/auth_throttle.c auth/auth_throttle.h
# libcrypt: the equalising hash for unknown users (auth_pam.c).
postern_auth_LDADD = lib/libpostern.a $(PAM_LIBS) $(CRYPT_LIBS)
if ASAN
# ASan intercepts crypt_r and resolves the real one when the program
# starts; pam_unix loads libcrypt later, so the interceptor would call a
# NULL pointer. Loading libcrypt up front avoids that in sanitizer builds.
postern_auth_LDFLAGS = $(AM_LDFLAGS) -Wl,--no-as-needed,-lcrypt,--as-needed
endif
