# auth/: postern-auth, the PAM helper.
pkglibexec_PROGRAMS += postern-auth
postern_auth_SOURCES = auth/auth_main.c auth/auth_pam.c auth/auth_pam.h
postern_auth_LDADD = lib/libpostern.a $(PAM_LIBS) $(SANITIZER_AUTH_LIBS)
