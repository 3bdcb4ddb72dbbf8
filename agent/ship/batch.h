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
 * already has (DELTA_MIN_SIZE and up); the caller asks the peer for
 * their signatures (one round trip per batch, not per file) and hands
 * them in with batch_delta_sig(); those files then ship as librsync
 * deltas against the twin's copy, the others whole. A planned file that
 * only grew is an append instead (batch_delta_append_at() non-zero):
 * the peer is asked for the digest of its copy, the caller has ours
 * made meanwhile (batch_hash_prefixes()), and if they match
 * (batch_delta_prefix()) only the new tail ships; if they do not, the
 * file was changed inside too, and batch_replan_appends() turns it into
 * a delta, to ask a signature for. Requests are numbered in the order
 * they are asked, which is the order of the answers.
 *
 * Patches: a delta whose file was rewritten in place (the usual change
 * to a database or an image file) ships as a PATCH instead: we sign our
 * file like the peer signed its own (batch_delta_sig_bytes() keeps the
 * peer's signature as sent), and the blocks whose entries differ, the
 * only bytes that changed, go into the twin's file in place. See
 * batch_patch.c.
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
void		 batch_seal(struct batch *);
size_t		 batch_items(const struct batch *);
int		 batch_pump(struct batch *, struct buf *out, size_t budget,
		    struct ls_err *);
void		 batch_ack(struct batch *);
uint64_t	 batch_gen(const struct batch *);
size_t		 batch_plan_deltas(struct batch *);
const char	*batch_delta_basis(const struct batch *, size_t);
void		 batch_delta_sig(struct batch *, size_t, struct rs_signature *);
void		 batch_delta_sig_bytes(struct batch *, size_t, const void *,
		    size_t);
void		 batch_presign(struct batch *);
uint64_t	 batch_delta_append_at(const struct batch *, size_t);
void		 batch_hash_prefixes(struct batch *);
void		 batch_delta_prefix(struct batch *, size_t, const void *,
		    size_t);
size_t		 batch_replan_appends(struct batch *);
const struct batch_stats *batch_stats(const struct batch *);

#endif
