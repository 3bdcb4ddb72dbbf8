/*
 * journal_int: what journal.c and journal_op.c share, private to them.
 * The journal owns its operations and their strings.
 */
#ifndef LS_JOURNAL_INT_H
#define LS_JOURNAL_INT_H

#include <bsd/sys/queue.h>

#include "frame.h"
#include "journal.h"

struct apply;

enum jop_kind {
	JOP_PHASE,
	JOP_MOVE,
	JOP_DIR,
	JOP_REMOVE,
	JOP_RENAME,
	JOP_LINK,
	JOP_APPEND,
	JOP_PATCH,
};

struct jop {
	TAILQ_ENTRY(jop)	 entry;
	enum jop_kind		 kind;
	char			*a;	/* staged name, path, from, target */
	char			*b;	/* path, to; NULL for REMOVE, PHASE */
	char			*c;	/* APPEND: the offset; PATCH: the
					 * ranges; else NULL */
};
TAILQ_HEAD(jops, jop);

struct journal {
	journal_skip_cb	*skip;
	void		*skip_arg;
	int		 rootfd;
	int		 stagefd;
	char		*statedir;
	struct jops	 ops;
	size_t		 nops;
	uint64_t	 seq;		/* stage names */
	int		 planned;	/* its phases are planned */
	int		 in_stage;	/* its journal is on its staged file */
	uint64_t	 in_stage_gen;
	/* while a phase moves files into one directory: its fd, its path */
	int		 move_pfd;
	char		*move_dir;
};

/* PATCH's ranges, "OFF+LEN,..." or "-" for none: how many, or -1. */
#define JOURNAL_NO_RANGES "-"
int	journal_ranges_parse(const char *, struct frame_range *);
int	journal_run_op(struct journal *, struct apply *, const struct jop *,
	    struct ls_err *);
void	journal_forget_parent(struct journal *);
/* journal_wal.c: 1 logged, 0 not a batch for the log, -1 error */
int	wal_log(struct journal *, uint64_t gen, struct ls_err *);
int	wal_replay(int rootfd, int stagefd, const char *statedir,
	    uint64_t *gen, struct ls_err *);

#endif
