#define POSTERN_LIBEXECDIR "/usr/libexec/postern"
#define POSTERN_SYSCONFDIR "/etc/postern"
#define POSTERN_LOCALSTATEDIR "/var"
#define POSTERN_RUNSTATEDIR "/run"
#define POSTERN_TEST_HOOKS 1
#define FUZZ_NAME "lint"
