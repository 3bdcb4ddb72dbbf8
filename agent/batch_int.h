/*
 * batch_int: the batch's state and the pieces batch.c, batch_link.c
 * (hard-link groups) and batch_delta.c (deltas) share. Private to them.
 */
#ifndef LS_BATCH_INT_H
#define LS_BATCH_INT_H

#include <sys/types.h>

#include "batch.h"
#include "index.h"
#include "source.h"

struct delta_job;

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
	/* Files planned as deltas: path (new name), basis (the peer's). */
	char			**dpath, **dbasis;
	struct rs_signature	**dsig;
	size_t			 ndelta;
	int			 sweep;		/* after the walk: 1 due, 2 done */
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
int		 batch_stream_delta(struct batch *, struct buf *, size_t,
		    struct ls_err *);

#endif
