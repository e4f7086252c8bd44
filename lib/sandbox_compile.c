/*
 * sandbox_compile.c - a role's seccomp policy (sandbox_pop3.c,
 * sandbox_store.c) turned into a filter by libseccomp, exported as
 * pseudo-filter-code (for review: lib/seccomp-*.pfc) or as the BPF
 * program that lib/seccomp-gen compiles into the binaries. Nothing that
 * runs in a session links this: workers and storage load the program
 * built here at build time (sandbox.c), without libseccomp.
 */
#include "config.h"

#ifdef HAVE_SECCOMP
#include <errno.h>
#include <seccomp.h>

#include "sandbox.h"
#include "sandbox_int.h"

const struct sb_policy *
sandbox_policy(enum sandbox_role role)
{
	switch (role) {
	case SANDBOX_POP3:
		return &sandbox_pop3_policy;
	case SANDBOX_STORE:
		return &sandbox_store_policy;
	default:
		return NULL;
	}
}

int
sandbox_compile(const struct sb_policy *p, uint32_t self, int fd, bool bpf,
    const char **why)
{
	scmp_filter_ctx ctx;
	int rc = 0;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		*why = "seccomp_init failed";
		return -1;
	}
	/* Another ABI (x32, i386 via int 0x80) is killed too; NNP is
	 * the loader's to set (and check) before the filter. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) {
		seccomp_release(ctx);
		*why = "seccomp_attr_set failed";
		return -1;
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct sb_rule *r = &p->rules[i];
		struct scmp_arg_cmp cmp[2];
		unsigned n = 0;
		uint32_t action = r->action == SB_ACT_ALLOW ? SCMP_ACT_ALLOW :
		    SCMP_ACT_ERRNO(r->err);

		for (size_t k = 0; k < 2 && r->cmp[k].kind != SB_NONE; k++) {
			const struct sb_cmp *c = &r->cmp[k];
			uint32_t value = c->kind == SB_SELF_PID ? self : c->value;

			cmp[n++] = SCMP_CMP(c->arg, SCMP_CMP_MASKED_EQ,
			    c->mask, value);
		}
		rc = seccomp_rule_add_array(ctx, action, r->nr, n, cmp);
		/* A system call this architecture does not have (negative
		 * pseudo number) is simply absent from the filter. */
		if (rc < 0 && r->nr >= 0) {
			seccomp_release(ctx);
			*why = "seccomp_rule_add failed";
			return -1;
		}
	}
	rc = bpf ? seccomp_export_bpf(ctx, fd) : seccomp_export_pfc(ctx, fd);
	seccomp_release(ctx);
	if (rc < 0) {
		*why = bpf ? "seccomp_export_bpf failed" :
		    "seccomp_export_pfc failed";
		return -1;
	}
	return 0;
}

int
sandbox_export(enum sandbox_role role, int fd, const char **why)
{
	const struct sb_policy *p = sandbox_policy(role);

	if (p == NULL) {
		*why = "this role has no seccomp policy";
		return -1;
	}
	return sandbox_compile(p, 0, fd, false, why);
}
#else
#include "sandbox.h"

int
sandbox_export(enum sandbox_role role, int fd, const char **why)
{
	(void)role;
	(void)fd;
	*why = "built --without-seccomp";
	return -1;
}
#endif
