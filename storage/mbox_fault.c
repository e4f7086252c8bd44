/*
 * mbox_fault.c - the fault-injection points of the crash and I/O error
 * tests (see mbox_fault.h). Built only with -DMBOX_FAULT_INJECTION.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "mbox_fault.h"
#include "mbox_int.h"

#ifndef MBOX_FAULT_INJECTION
#error "mbox_fault.c is for the test library only"
#endif

static long fault_kill_at;
static long fault_eio_at;
static int fault_errno = EIO;
static long fault_count;
static size_t fault_chunk = MBOX_IO_CHUNK;

void
mbox_fault_set(long kill_at, size_t chunk)
{
	fault_kill_at = kill_at;
	fault_eio_at = 0;
	fault_count = 0;
	fault_chunk = chunk > 0 ? chunk : MBOX_IO_CHUNK;
}

void
mbox_fault_set_eio(long eio_at, size_t chunk)
{
	mbox_fault_set_errno(eio_at, EIO, chunk);
}

void
mbox_fault_set_errno(long at, int err, size_t chunk)
{
	mbox_fault_set(0, chunk);
	fault_eio_at = at;
	fault_errno = err;
}

long
mbox_fault_count(void)
{
	return fault_count;
}

int
mbox_fault_point(void)
{
	if (++fault_count == fault_kill_at)
		raise(SIGKILL);
	if (fault_count == fault_eio_at) {
		errno = fault_errno;
		return -1;
	}
	return 0;
}

size_t
mbox_io_chunk(void)
{
	return fault_chunk;
}
