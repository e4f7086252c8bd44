/*
 * mbox_fault.h - fault injection for the expunge crash and I/O error
 * tests (test-mbox-crash, test-mbox-eio). Compiled
 * only into tests/unit/libmbox_fault.a (with -DMBOX_FAULT_INJECTION);
 * postern-store's libmbox.a has neither these functions nor the hook
 * calls, so nothing in a normal build can trigger them.
 */
#ifndef POSTERN_MBOX_FAULT_H
#define POSTERN_MBOX_FAULT_H

#include <stddef.h>

/*
 * Every write, copy chunk, fsync, truncate, rename and unlink of the
 * engine is a numbered fault point. With kill_at = N > 0 the process
 * raises SIGKILL just before the Nth one; 0 disables killing. chunk
 * shrinks the I/O unit so an expunge passes many points. Reset counts
 * and turns I/O errors off.
 */
void mbox_fault_set(long kill_at, size_t chunk);
/*
 * The same points, but the Nth one fails with EIO instead of making its
 * call (a write, fsync... that the disk refused), once; every other
 * point proceeds. 0 disables. Resets counts and turns killing off.
 */
void mbox_fault_set_eio(long eio_at, size_t chunk);
/* The same with another errno (EOPNOTSUPP: a file system that cannot
 * reserve space). */
void mbox_fault_set_errno(long at, int err, size_t chunk);
/* Fault points passed since the last mbox_fault_set(). */
long mbox_fault_count(void);

#endif
