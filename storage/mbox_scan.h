/*
 * mbox_scan.h - the two mbox parsers of the mailbox engine, free of file
 * I/O so that the unit tests and the fuzz targets drive exactly the code
 * postern-store runs:
 *
 *  - mbox_scan(): one pass over a mailbox that finds every message, the
 *    octets RETR will send for it and the digest its UIDL is made of;
 *  - mbox_xform(): the RETR/TOP transformation of one message's bytes
 *    (CRLF line ends, ">From " unquoting, dot-stuffing).
 *
 * Both pull their input through a read callback into a fixed buffer, so
 * no line or message is ever held whole, whatever its length. Both share
 * mbox_line_class() so that they cannot disagree about what a line is;
 * the size == RETR octets invariant depends on that.
 */
#ifndef POSTERN_MBOX_SCAN_H
#define POSTERN_MBOX_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "mbox.h"

/* Bytes of a line start that decide its class: "X-IMAPbase:" is the
 * longest pattern; a longer run of '>' (mboxrd) is followed byte-wise. */
#define MBOX_LINE_PFX		16

/*
 * The UIDL digest: the engine's 128-bit hash (mbox_hash.h) over the
 * From_ line and the header section (each capped: hashing is a large
 * part of a cold scan, and the first 2 KiB of a header, with the topmost
 * Received line and its queue id, tell messages apart as well as the
 * whole) and the served size. The From_ line is included because it
 * carries the delivery time: two copies of the same message delivered at
 * different times get different UIDLs without needing a "-2" suffix.
 */
/* Changing any of this changes every UIDL: bump MBOX_INDEX_VERSION. */
#define MBOX_DIGEST_FROM_CAP	1024
#define MBOX_DIGEST_HDR_CAP	2048
#define MBOX_DIGEST_LEN		16

/* Default buffer of the scanner: large reads are what make it fast. */
#define MBOX_SCAN_BUF_DEFAULT	(1024 * 1024)
#define MBOX_BUF_MIN		64

enum {
	MBOX_LC_FROM = 1 << 0,		/* "From ": a message separator */
	MBOX_LC_QUOTED = 1 << 1,	/* one '>' to remove when served */
	MBOX_LC_BLANK = 1 << 2,		/* empty line: LF or CR LF */
	MBOX_LC_XIMAP = 1 << 3,		/* "X-IMAP:" or "X-IMAPbase:" */
	MBOX_LC_GTRUN = 1 << 4,		/* mboxrd: a '>' run longer than
					 * the window; caller follows it */
};

/*
 * Classify a line from its first bytes p[0..n). n must be at least
 * MBOX_LINE_PFX, or everything that is left of the input: no pattern
 * contains a LF, so bytes past the line's end never match anything.
 * ximap asks for the X-IMAP test (only in the first message's header).
 */
static inline unsigned
mbox_line_class(const uint8_t *p, size_t n, enum mbox_format fmt, bool ximap)
{
	size_t k;

	if (n > MBOX_LINE_PFX)
		n = MBOX_LINE_PFX;
	if (n == 0)
		return 0;
	switch (p[0]) {
	case 'F':
		return n >= 5 && memcmp(p, "From ", 5) == 0 ? MBOX_LC_FROM : 0;
	case '\n':
		return MBOX_LC_BLANK;
	case '\r':
		return n >= 2 && p[1] == '\n' ? MBOX_LC_BLANK : 0;
	case '>':
		if (fmt != MBOX_FMT_MBOXRD)
			return n >= 6 && memcmp(p + 1, "From ", 5) == 0 ?
			    MBOX_LC_QUOTED : 0;
		for (k = 1; k < n && p[k] == '>'; k++)
			;
		if (n - k >= 5)
			return memcmp(p + k, "From ", 5) == 0 ?
			    MBOX_LC_QUOTED : 0;
		/* The window ends inside the run or inside "From ": undecided
		 * unless the input itself ends here. */
		if (n == MBOX_LINE_PFX && memcmp(p + k, "From ", n - k) == 0)
			return MBOX_LC_GTRUN;
		return 0;
	case 'X':
	case 'x':
		if (ximap && ((n >= 7 && strncasecmp((const char *)p,
		    "X-IMAP:", 7) == 0) || (n >= 11 &&
		    strncasecmp((const char *)p, "X-IMAPbase:", 11) == 0)))
			return MBOX_LC_XIMAP;
		return 0;
	default:
		return 0;
	}
}

struct mbox_scan_msg {
	uint64_t from_off;	/* start of the From_ line */
	uint64_t data_off;	/* first byte after the From_ line */
	uint64_t end_off;	/* end of the content: the blank line that
				 * belongs to the next separator excluded */
	uint64_t region_end;	/* next From_ line, or end of input */
	uint64_t size;		/* octets served, before dot-stuffing */
	uint8_t digest[MBOX_DIGEST_LEN];
	bool pseudo;		/* folder-internal data, hidden */
};

/* Read up to len bytes into buf: >0 bytes, 0 at end of input, -1 error. */
typedef ssize_t (*mbox_read_fn)(void *ctx, void *buf, size_t len);
/* One call per message, in file order; nonzero stops the scan and
 * becomes mbox_scan()'s result. */
typedef int (*mbox_msg_fn)(void *ctx, const struct mbox_scan_msg *);

struct mbox_scan_opts {
	enum mbox_format format;
	uint64_t start_off;	/* offset of the first byte: a line start */
	bool pseudo_check;	/* the first message found may be the pseudo
				 * message (only when scanning from the top) */
	size_t bufsize;		/* 0: MBOX_SCAN_BUF_DEFAULT */
	bool portable;		/* only the baseline code, even where the CPU
				 * has AVX2: tests compare the two */
};

struct mbox_scan_result {
	uint64_t end_off;	/* offset after the last byte consumed */
	uint64_t bytes;		/* bytes read through the callback */
	uint32_t nmsgs;		/* messages reported */
};

/*
 * Scan everything read_fn yields. Content before the first From_ line is
 * a preamble and is not reported. Returns 0, -1 (read error or no
 * memory; errno set) or the nonzero value on_msg returned.
 */
int mbox_scan(const struct mbox_scan_opts *, mbox_read_fn, void *rctx,
    mbox_msg_fn, void *mctx, struct mbox_scan_result *);

struct mbox_xform_opts {
	enum mbox_format format;
	int64_t body_lines;	/* < 0: whole message; else TOP n */
	size_t bufsize;		/* input and output chunk; 0: 128 KiB */
	/* The input and output buffers, 2 x bufsize bytes (after bufsize
	 * is raised to MBOX_BUF_MIN; see mbox_xform_bufsize()), owned by the
	 * caller so that a session serving many messages allocates them
	 * once; NULL: allocated and freed by each call. */
	uint8_t *bufs;
	/* With bufs: the final chunk is not handed to the sink but left at
	 * bufs + bufsize, its length in *held, for the caller to send (with
	 * last = true) once it has checked the result. NULL: the sink gets
	 * it with last = true. */
	size_t *held;
};

/* The effective buffer size of mbox_xform() for these options. */
size_t mbox_xform_bufsize(const struct mbox_xform_opts *);

/*
 * Transform one message's content (the bytes [data_off, end_off) as
 * read_fn yields them) into what RETR/TOP sends: CRLF line ends (a CR is
 * removed only right before a LF), ">From " unquoted, lines starting with
 * '.' stuffed, a final CRLF added if missing. The sink receives chunks of
 * at most bufsize bytes, the final one (possibly empty) with last = true
 * unless opts.held keeps it back. *octets counts what was sent minus the stuffing
 * dots. Returns MBOX_OK, MBOX_ERR_SINK, or MBOX_ERR_TEMP (read error or
 * no memory).
 */
int mbox_xform(const struct mbox_xform_opts *, mbox_read_fn, void *rctx,
    mbox_sink, void *sctx, uint64_t *octets);

#endif
