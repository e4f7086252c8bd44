/*
 * sandbox_int.h - what the per-role policy files share with sandbox.c:
 * a seccomp policy is a table of rows, one system call per row, with at
 * most two argument conditions. Extending a policy is adding a row (and
 * regenerating lib/seccomp-<role>.pfc for review: make update-seccomp-pfc);
 * the build turns each policy into a BPF program (seccomp-gen.c).
 */
#ifndef POSTERN_SANDBOX_INT_H
#define POSTERN_SANDBOX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"
#include "testhook.h"

enum sb_cmp_kind {
	SB_NONE = 0,
	/* (arg & mask) == value, on the low 32 bits only: glibc passes int
	 * arguments zero-extended, so a 64-bit comparison of -1 never
	 * matches (SECURITY-RULES PF1). */
	SB_MASKED_EQ,
	/* arg == the pid of the process entering the sandbox (low 32 bits) */
	SB_SELF_PID,
};

struct sb_cmp {
	uint8_t kind;		/* enum sb_cmp_kind */
	uint8_t arg;		/* argument index 0..5 */
	uint32_t mask, value;
};

/* Actions a row may take; the default for everything else kills. */
enum sb_action {
	SB_ACT_ALLOW,
	SB_ACT_ERRNO,		/* fail with errno (a harmless probe) */
};

struct sb_rule {
	int nr;			/* SCMP_SYS(name); negative if not on this arch */
	const char *name;	/* for error messages */
	uint8_t action;		/* enum sb_action */
	uint16_t err;		/* errno for SB_ACT_ERRNO */
	struct sb_cmp cmp[2];
};

#define SB_ROW(sys, act, e, ...) \
	{ SCMP_SYS(sys), #sys, (act), (e), { __VA_ARGS__ } }
/* Allow sys (optionally only when the conditions hold). */
#define SB_ALLOW(sys, ...)	SB_ROW(sys, SB_ACT_ALLOW, 0, __VA_ARGS__)
/* Fail sys with errno e instead of killing. */
#define SB_FAIL(sys, e)		SB_ROW(sys, SB_ACT_ERRNO, (e))
/* Conditions. */
#define SB_ARG_MASK(a, m, v)	{ SB_MASKED_EQ, (a), (m), (v) }
#define SB_ARG_EQ(a, v)		{ SB_MASKED_EQ, (a), 0xffffffffu, (v) }
#define SB_ARG_SELF(a)		{ SB_SELF_PID, (a), 0xffffffffu, 0 }

struct sb_policy {
	const char *role;
	const struct sb_rule *rules;
	size_t nrules;
};

/* sandbox_pop3.c, sandbox_store.c */
extern const struct sb_policy sandbox_pop3_policy;
extern const struct sb_policy sandbox_store_policy;

/*
 * A policy as the BPF program libseccomp makes of it, generated at build
 * time by seccomp-gen.c (lib/seccomp-bpf.c in the build tree): the
 * instructions, and where in them the pid of the process entering the
 * sandbox goes (the SB_SELF_PID comparisons).
 */
struct sock_filter;
struct sb_program {
	const struct sock_filter *insns;
	size_t len;
	const unsigned short *pid_at;
	size_t npid;
	uint32_t pid_standin;	/* the constant at pid_at, replaced */
};
extern const struct sb_program sandbox_pop3_program;
extern const struct sb_program sandbox_store_program;

/* sandbox_compile.c (libseccomp): the role's policy, and the policy
 * compiled with self as the SB_SELF_PID value and written to fd as BPF
 * (bpf) or pseudo-filter-code. Returns 0 or -1 with why. */
const struct sb_policy *sandbox_policy(enum sandbox_role);
int sandbox_compile(const struct sb_policy *, uint32_t self, int fd,
    bool bpf, const char **why);

/* sandbox_landlock.c: restrict file access to dirs. Returns 0 when
 * applied, 1 when the kernel has no Landlock, 2 when a system call
 * filter outside postern blocks it (the caller logs either and goes on),
 * -1 with why on failure. */
int sandbox_landlock(const char *const *dirs, const char **why);

#endif
