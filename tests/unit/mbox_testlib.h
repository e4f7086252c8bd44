/*
 * mbox_testlib.h - helpers for the mailbox engine's unit tests: scratch
 * directories, files, a byte buffer, a deliberately naive reference
 * parser (the "oracle", written line by line after Python's
 * mailbox.mbox so that it shares no code with the engine), and a
 * generator of awkward random mailboxes with fixed seeds.
 */
#ifndef POSTERN_MBOX_TESTLIB_H
#define POSTERN_MBOX_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mbox.h"

struct tl_buf {
	uint8_t *p;
	size_t len, cap;
};

void tl_buf_add(struct tl_buf *, const void *, size_t);
void tl_buf_adds(struct tl_buf *, const char *);
void tl_buf_free(struct tl_buf *);
bool tl_buf_eq(const struct tl_buf *, const struct tl_buf *);
/* mbox_sink that appends to a struct tl_buf; counts calls and the
 * largest chunk in tl_sink_calls / tl_sink_max; tl_sink_last: the most
 * recent call was marked last; tl_sink_after_last: calls after one that
 * was. */
int tl_sink(void *ctx, const void *buf, size_t len, bool last);
extern size_t tl_sink_calls, tl_sink_max, tl_sink_after_last;
extern bool tl_sink_last;

/* A fresh directory under $TMPDIR (removed at exit); path joined. The
 * strings returned live until exit and must not be freed. */
const char *tl_tmpdir(void);
char *tl_path(const char *dir, const char *name);
void tl_write(const char *path, const void *, size_t);
void tl_append(const char *path, const void *, size_t);
bool tl_read(const char *path, struct tl_buf *);
bool tl_exists(const char *path);
/* Does the file hold exactly want? */
bool tl_file_is(const char *path, const struct tl_buf *want);
/* Files in dir (excluding . and ..), for "no journal left" checks. */
int tl_count_files(const char *dir);
void tl_rm_rf(const char *path);

/* The oracle. */
struct tl_omsg {
	size_t from_off, data_off, stop;	/* stop: content end */
	size_t region_end;
	struct tl_buf served;			/* expected, before stuffing */
	bool pseudo;
};
size_t tl_oracle(const uint8_t *, size_t, enum mbox_format,
    struct tl_omsg **out);
void tl_oracle_free(struct tl_omsg *, size_t);
/* orig without the regions of the visible messages del[0..ndel)
 * (1-based, pseudo message not counted): what an expunge must leave. */
void tl_expect_deleted(const struct tl_buf *orig, enum mbox_format,
    const int *del, int ndel, struct tl_buf *out);
/* Expected TOP output (before stuffing) from served content. */
void tl_top(const struct tl_buf *served, int64_t n, struct tl_buf *out);
/* Dot-stuff / un-stuff CRLF text. */
void tl_stuff(const struct tl_buf *in, struct tl_buf *out);

/* Random mailbox: nmsgs messages with all sorts of edge cases. */
void tl_gen_mbox(uint32_t seed, unsigned nmsgs, struct tl_buf *out);
/* One ordinary message: From_ line, headers, body (a final newline is
 * added) and the blank line an MDA writes after it. */
void tl_gen_msg(struct tl_buf *, const char *from, const char *subject,
    const char *body);
uint32_t tl_rand(uint32_t *state);

/* A config for path (index_dir may be NULL): uid = ours, mboxo,
 * lock_timeout 0, log to TAP comments and into tl_last_log. */
void tl_cfg(struct mbox_config *, const char *path, const char *index_dir);
extern char tl_last_log[1024];
extern int tl_log_count;
bool tl_log_seen(const char *needle);
void tl_log_clear(void);

/* RETR/TOP msgno into out (raw, stuffed); returns the mbox_retr code,
 * or -1000 if a successful answer did not end with exactly one chunk
 * marked last, -1001 if a failed one had one. */
int tl_retr(struct mbox *, uint32_t msgno, int64_t lines, struct tl_buf *);

/* Every UIDL of an open mailbox, "\n"-joined, for comparisons. */
void tl_uidls(struct mbox *, struct tl_buf *);

/* The lines of uidls (as tl_uidls gives them) but those of the messages
 * numbered in del[0..ndel): what the survivors of an expunge keep. */
void tl_uidls_without(const struct tl_buf *uidls, const int *del, int ndel,
    struct tl_buf *out);

/* NULL if the open mailbox m serves every message of content (its file)
 * exactly as the reference parser says, the pseudo message hidden; else
 * what is wrong. */
const char *tl_check_served(struct mbox *m, const struct tl_buf *content);

#endif
