/*
 * batch_int: the batch's state and the pieces batch.c, batch_link.c
 * (hard-link groups) and batch_delta.c (deltas) share. Private to them.
 */
#ifndef LS_BATCH_INT_H
#define LS_BATCH_INT_H

#include <sys/stat.h>
#include <sys/types.h>

#include "batch.h"
#include "frame.h"
#include "index.h"
#include "source.h"

struct delta_job;

/*
 * A changed regular file the peer holds, and what we asked the peer of
 * it (ask): its copy's signature, for a librsync delta; the digest of
 * its copy, when the file only grew (an APPEND: batch_append.c); or its
 * copy's block sums, when it was rewritten in place (a PATCH:
 * batch_patch.c). When an answer rules that out, the plan asks again,
 * for the next kind (batch_replan()).
 */
struct batch_plan {
	char			*path;		/* new name */
	char			*basis;		/* the peer's name */
	enum batch_ask		 ask;		/* the latest request */
	struct rs_signature	*sig;		/* delta: the peer's */
	uint64_t		 append_at;	/* append: the peer's size */
	ino_t			 ino;		/* append: the file we hashed */
	unsigned char		 digest[FRAME_DIGEST_LEN];	/* ours */
	unsigned char		 peer[FRAME_DIGEST_LEN];	/* the peer's */
	int			 hashed, peer_has;
	uint64_t		 sum_size;	/* patch: the peer's size */
	uint32_t		 block_len;	/* patch: of both sums */
	struct buf		 sums;		/* patch: the peer's */
	int			 sums_in;	/* all of them, checked */
	struct buf		 oursums;	/* patch: our file's */
	int			 summed;	/* oursums made ahead */
	struct stat		 summed_st;	/* of the file they sum */
	int			 ahead_done;	/* hashed for this request */
};

enum item_kind {
	ITEM_RENAME,
	ITEM_PATH,
};

struct item {
	enum item_kind	 kind;
	char		*path;
	char		*to;		/* ITEM_RENAME */
	int		 tree;		/* ITEM_PATH: expand a directory */
	int		 force;		/* ship even if the index agrees */
};

enum update_kind {
	UP_SET,
	UP_DEL,
	UP_RENAME,
};

struct update {
	enum update_kind	 kind;
	char			*path;
	char			*to;
	struct index_stat	 st;
};

struct batch {
	int			 rootfd;
	struct index		*index;
	uint64_t		 gen;
	uint64_t		 delta_min;	/* smaller files go whole */
	struct item		*items;
	size_t			 nitems, capitems, next;
	size_t			 nrenames;	/* the leading items */
	struct update		*ups;
	size_t			 nups, capups;
	struct index		*seen;
	struct index		*links;		/* ino -> name sent first */
	struct index		*acked_links;	/* ino -> chain of acked names */
	int			 links_learned;
	char			**linkpaths;	/* names, with ... */
	size_t			*linknext;	/* ... chains through them */
	size_t			 nlinks;
	struct source_entry	 cur;		/* regular file being sent */
	int			 streaming;
	off_t			 off, ext_end;
	struct delta_job	*delta;		/* cur ships as a delta */
	struct buf		 deltaout;
	struct batch_plan	*plan;		/* deltas and appends */
	size_t			 nplan;
	size_t			*asked;		/* plan of each request */
	size_t			 nasked;
	uint64_t		 append_hashed;	/* prefix bytes planned */
	uint64_t		 patch_hashed;	/* bytes summed for patches */
	struct frame_range	 ranges[FRAME_MAX_RANGES];	/* cur's patch */
	size_t			 nranges, range_at;
	int			 patching;	/* cur ships as a PATCH */
	int			 sweep;		/* after the walk: 1 due, 2 done */
	int			 whole;		/* defer nothing (batch_set_whole) */
	char			**deferred;	/* for the next batch (batch_defer) */
	size_t			 ndeferred;
	int			 committed;
	struct batch_stats	 stats;
};

struct item	*batch_add_item(struct batch *, enum item_kind, const char *,
		    const char *, int);
char		*batch_old_name(const struct batch *, const char *);
const struct index_stat *batch_acked(const struct batch *, const char *);
void		 batch_end_file(struct batch *, struct buf *);
const char	*batch_link_source(struct batch *, const struct source_entry *);
ssize_t		 batch_delta_for(const struct batch *,
		    const struct source_entry *);
int		 batch_defer(struct batch *, const struct source_entry *,
		    const struct index_stat *);
void		 batch_ask(struct batch *, size_t);
void		 batch_plan_append(struct batch *, struct batch_plan *,
		    const struct index_stat *);
void		 batch_hash_prefix(struct batch_plan *, int fd,
		    const struct stat *);
const char	*batch_append_replan(const struct batch_plan *);
int		 batch_patch_wanted(const struct batch *,
		    const struct batch_plan *, const struct index_stat *);
const char	*batch_patch_replan(const struct batch_plan *);
ssize_t		 batch_append_for(const struct batch *,
		    const struct source_entry *, const struct index_stat *);
int		 batch_stream_delta(struct batch *, struct buf *, size_t,
		    struct ls_err *);
int		 batch_patch_plan(struct batch *, size_t,
		    const struct source_entry *, const struct index_stat *);

#endif
