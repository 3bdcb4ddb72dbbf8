/*
 * journal: all of a batch or none of it, on the standby.
 *
 * The scheme. Everything a batch creates is first built in a stage
 * directory that lies on the upperdir's filesystem but outside it
 * (next to podman's diff/ and work/ dirs), each under a sequence name.
 * At the batch's commit record:
 *   1. the caller has made the staged content durable (apply_sync() of
 *      the stage's apply_new_staged());
 *   2. the batch's operations (move a staged entry into place, remove,
 *      rename, link, update a directory, append a staged tail to a
 *      file the twin holds) are written to a redo journal
 *      in the state dir, ending with an END line, fsynced, renamed in
 *      (unless the batch is one move, a rename that is all or nothing
 *      by itself: a crash before step 4 leaves it with the generation
 *      before, and the primary, never acknowledged, ships it again;
 *      and unless it is one in-place write, an append or a patch: its
 *      journal_prepare(), before step 1, puts the journal in an xattr
 *      of the staged file, which step 1 makes durable with the data:
 *      two flushes fewer. One flush gives no order between the data
 *      and the xattr, so the xattr also holds the digest of the staged
 *      bytes, and recovery finishes such a journal only if they still
 *      match: if not, the crash came before step 1 ended, before
 *      anything went in place, and the batch is dropped);
 *   3. the operations run in phases: a phase never touches a path, or
 *      an ancestor or descendant of a path, that an earlier operation
 *      of the same phase touched, so each operation can tell from the
 *      tree whether it already ran ("source gone: done"), and running
 *      a phase twice equals running it once; after each phase, every
 *      directory it changed is fsynced (past APPLY_MAX_DIRTY of them: a
 *      syncfs) and a count of finished phases is written, fsynced;
 *   4. the generation file is rewritten in place (a few bytes in one
 *      sector, all or nothing; fdatasync), and the journal removed.
 * An operation that does not fit the tree (a parent that became a
 * symlink or a file, a source already gone: the primary read a tree
 * that changed under it) is skipped, not fatal, and its path reported
 * so the primary ships it again; otherwise one racing container could
 * wedge its twin on a journal that can never finish. I/O errors stay
 * fatal: the journal is kept and finished later.
 *
 * The small-file log (journal_wal.c). A batch whose operations all move
 * a staged regular file into place (one link, no xattrs, none over
 * JOURNAL_WAL_FILE_MAX, JOURNAL_WAL_BATCH_MAX in all: new and rewritten
 * small files, the usual batch) commits with journal_commit_logged():
 * one record holding all its files' bytes and metadata is written to
 * the twin's log (state dir, "wal") and flushed, one flush where steps
 * 1 to 4 cost three or more; then its files move into place and the
 * generation is rewritten, unflushed: the record redoes them after a
 * crash. Before any other batch commits, journal_wal_checkpoint() makes
 * the tree durable (one syncfs) and empties the log, so that the log
 * only ever redoes whole files over the tree's last flush, never under
 * a later batch; so does a log past JOURNAL_WAL_MAX. Emptied, the log's
 * file keeps its blocks (up to JOURNAL_WAL_MAX and a batch per twin),
 * so that a record's flush changes no metadata.
 * After a crash, journal_recover() finishes a journal that has its END
 * line (from the first unfinished phase) or, if it has none, discards
 * the stage: the twin holds the last committed batch, whole. A journal
 * whose generation is not past the committed one is stale (the unlinks
 * after a commit are not flushed) and is never replayed.
 */
#ifndef LS_JOURNAL_H
#define LS_JOURNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define JOURNAL_STAGE_DIR	"layersync-stage"
/*
 * Where a batch of one in-place write keeps its journal, its room, and
 * the digest of the staged bytes it writes in place.
 */
#define JOURNAL_XATTR		"trusted.layersync.journal"
#define JOURNAL_XATTR_MAX	4000
#define JOURNAL_SUM_XATTR	"trusted.layersync.sum"
#define JOURNAL_WAL_FILE_MAX	(256 * 1024)
#define JOURNAL_WAL_BATCH_MAX	(4 * 1024 * 1024)
#define JOURNAL_WAL_MAX		(8 * 1024 * 1024)

struct journal;

struct journal	*journal_new(int rootfd, int stagefd, const char *statedir);
void		 journal_free(struct journal *);
char		*journal_stage_name(struct journal *);
void		 journal_move(struct journal *, const char *staged,
		    const char *path);
void		 journal_dir(struct journal *, const char *staged,
		    const char *path);
void		 journal_remove(struct journal *, const char *path);
void		 journal_rename(struct journal *, const char *from,
		    const char *to);
void		 journal_link(struct journal *, const char *target,
		    const char *path);
void		 journal_append(struct journal *, const char *staged,
		    const char *path, uint64_t offset);
struct frame_range;
void		 journal_patch(struct journal *, const char *staged,
		    const char *path, const struct frame_range *, size_t);
size_t		 journal_ops(const struct journal *);
/* path did not fit the tree; why says how (the failed call and errno) */
typedef void	journal_skip_cb(const char *path, const char *why, void *);

void		 journal_prepare(struct journal *, uint64_t gen);
int		 journal_commit(struct journal *, uint64_t gen,
		    journal_skip_cb *, void *, struct ls_err *);
/* 1 committed through the log, 0 not a batch for it (commit it with
 * journal_commit() after journal_wal_checkpoint()), -1 error. */
int		 journal_commit_logged(struct journal *, uint64_t gen,
		    journal_skip_cb *, void *, struct ls_err *);
int		 journal_wal_checkpoint(int rootfd, const char *statedir,
		    struct ls_err *);
/* Where the log's records end in its file: 0 if it is empty, -1 error. */
off_t		 journal_wal_end(const char *statedir, struct ls_err *);
int		 journal_stage_open(int rootfd, const char *upperdir,
		    struct ls_err *);
int		 journal_committed(const char *statedir, uint64_t *gen,
		    struct ls_err *);
int		 journal_recover(int rootfd, int stagefd, const char *statedir,
		    uint64_t *gen, struct ls_err *);
int		 journal_clear_stage(int stagefd, struct ls_err *);
void		 journal_forget(const char *statedir);

#endif
