/*
 * batch: one generation of changes for one container, turned into
 * frames a budget at a time so the SSH queue stays short however large
 * the files are.
 *
 * Items are processed in order: renames first (as the events came),
 * then removals and entries sorted so that a directory comes before
 * what it holds. A "tree" item expands into its children as it is
 * reached; a rescan ends, after the last item, with a sweep that
 * removes what the peer holds (per the index) and the walk did not see. What the batch did
 * is recorded and applied to the index only when the peer acknowledges
 * the batch (batch_ack), so an unacknowledged batch changes nothing.
 * The batch borrows the container's root fd and index.
 *
 * Deltas: batch_plan_deltas() picks the changed regular files the peer
 * already has (DELTA_MIN_SIZE and up) and what to ask the peer of each;
 * the caller sends the requests (batch_put_request(): one round trip
 * per batch, not per file), has our side hashed meanwhile
 * (batch_hash_ahead()) and hands the answers in, in order: the
 * signature of the peer's copy (batch_delta_sig(): the file ships as a
 * librsync delta), the digest of its copy of a file that only grew
 * (batch_delta_prefix(): if it matches ours, only the new tail ships,
 * an APPEND), or the block sums of its copy of a file rewritten in
 * place (batch_delta_sums(), batch_delta_sums_end(): the blocks that
 * differ ship into the twin's file in place, a PATCH; batch_patch.c).
 * When an answer rules its plan out (the file grew and changed inside,
 * or most of its blocks differ: bytes moved), batch_replan() asks again
 * for the next kind, ending with a signature; the caller sends those
 * requests too. Requests are numbered in the order they are asked,
 * which is the order of the answers.
 */
#ifndef LS_BATCH_H
#define LS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct index;
struct batch;
struct rs_signature;

struct batch_stats {
	uint64_t	 bytes;		/* content bytes shipped */
	uint64_t	 files;		/* entries shipped */
	uint64_t	 removes;
	uint64_t	 renames;
};

struct batch	*batch_new(int rootfd, struct index *, uint64_t gen);
void		 batch_free(struct batch *);
void		 batch_add_rename(struct batch *, const char *from,
		    const char *to);
void		 batch_add_path(struct batch *, const char *path, int tree);
void		 batch_add_rescan(struct batch *);
void		 batch_set_delta_min(struct batch *, uint64_t);
/* Ship every changed file in this batch, leaving none to the next (a
 * checkpoint's generation must hold one whole dump). */
void		 batch_set_whole(struct batch *);
/* The files this batch left to the next one: changed files the peer
 * holds that only the walk found, too late for a delta plan. Shipped
 * whole they would cost their size; in the next batch, planned, only
 * what changed. *n: how many. */
char *const	*batch_deferred(const struct batch *, size_t *n);
void		 batch_seal(struct batch *);
size_t		 batch_items(const struct batch *);
int		 batch_pump(struct batch *, struct buf *out, size_t budget,
		    struct ls_err *);
void		 batch_ack(struct batch *);
uint64_t	 batch_gen(const struct batch *);
enum batch_ask {
	BATCH_ASK_SIG,		/* SIGREQ: SIG frames, SIGEND */
	BATCH_ASK_PREFIX,	/* PREFIXREQ: PREFIX */
	BATCH_ASK_SUMS,		/* BLOCKREQ: SIG frames, SIGEND */
};

size_t		 batch_plan_deltas(struct batch *);
enum batch_ask	 batch_delta_ask(const struct batch *, size_t);
const char	*batch_delta_basis(const struct batch *, size_t);
void		 batch_put_request(const struct batch *, size_t, struct buf *);
void		 batch_hash_ahead(struct batch *);
void		 batch_delta_sig(struct batch *, size_t, struct rs_signature *);
void		 batch_delta_prefix(struct batch *, size_t, const void *,
		    size_t);
void		 batch_delta_sums(struct batch *, size_t, const void *, size_t);
int		 batch_delta_sums_end(struct batch *, size_t, int ok);
size_t		 batch_replan(struct batch *);
const struct batch_stats *batch_stats(const struct batch *);

#endif
