/*
 * container: one replicated container on the primary.
 *
 * It owns its upperdir fd, its index (what the peer acknowledged), and
 * what changed since the last cut: dirty paths (shipped at the next
 * cut), renames in event order, and regular files that are still being
 * written ("pending": shipped once closed after writing, or after
 * max_lag_ms of continuous writes). Events arriving while a batch is
 * in flight wait for the next one, so a file changed ten times during
 * a batch ships once.
 *
 * Generations: `gen` is the last batch the peer made durable; a cut
 * creates batch gen + 1. A reconnect loses the batch in flight, so the
 * container rescans (compares its whole tree with the index) and ships
 * only what differs.
 *
 * A checkpoint stream (owner != NULL, ckpt.h) is a container whose tree
 * is a checkpoint in the state dir: not watched; instead of a rescan
 * (which ships changed files whole) it marks every path, so each file
 * ships as a delta against the peer's copy.
 */
#ifndef LS_CONTAINER_H
#define LS_CONTAINER_H

#include <stdint.h>

#include <bsd/sys/queue.h>

#include "batch.h"
#include "runtime.h"

struct ckpt;
struct index;
struct watch_event;

struct container_rename {
	TAILQ_ENTRY(container_rename)	 entry;
	char				*from, *to;
};
TAILQ_HEAD(container_renames, container_rename);

struct container {
	TAILQ_ENTRY(container)	 entry;
	char			*name;
	char			*peer;
	char			*statedir;
	struct container_info	 info;
	int			 rootfd;
	int			 watch_id;	/* -1: not watched */
	struct index		*index;
	uint64_t		 gen;
	struct index		*dirty;		/* mode 1: a whole tree */
	struct index		*pending;	/* mtime_sec: first seen, ms */
	struct container_renames renames;
	int			 rescan;
	struct batch		*inflight;
	char			**skipped;	/* the peer asks for them again */
	size_t			 deferred;	/* the last ack's batch left these
						   many files to the next */
	size_t			 reshipped;	/* and the peer skipped these */
	int			 skip_streak;	/* acks in a row with skips */
	long long		 held_until;	/* no cut before (skip backoff) */
	long long		 inflight_ms;	/* cut time */
	int			 twin_ok;	/* in this session */
	int			 twin_refused;	/* the peer refused to create it */
	/* Local restarts (replica_health.c). */
	int			 pidfd;		/* -1: not watched */
	int			 starting;	/* a runtime start runs */
	int			 failed;	/* past the restart limit */
	int			 restarts;	/* in the current window */
	long long		 restart_window;	/* its start */
	uint64_t		 restarts_total;
	int			 opened;
	/* Stateful mode: the layer's checkpoint producer, or, for the
	 * stream that ships its checkpoints, the layer it belongs to. */
	struct ckpt		*ckpt;
	struct container	*owner;
	int			 restore;	/* promote restores it */
	char			*restore_error;	/* why it started cold */
	/* Counters for status. */
	uint64_t		 bytes, files, rescans, batches;
	long long		 last_lag_ms;
	long long		 last_ack_ms;
	long long		 index_saved_ms;
	char			 last_error[LS_ERR_LEN];
};
TAILQ_HEAD(containers, container);

struct container *container_new(const char *name, const char *peer,
		    const char *state_dir);
struct container *container_new_ckpt(struct container *owner);
void		 container_free(struct container *);
int		 container_attach(struct container *, const char *runtime,
		    struct ls_err *);
void		 container_event(struct container *, const struct watch_event *,
		    long long now);
void		 container_settle_all(struct container *);
int		 container_has_work(struct container *, long long now,
		    int max_lag_ms, long long *deadline);
struct batch	*container_cut(struct container *, long long now,
		    int max_lag_ms);
void		 container_diverged(struct container *, const char *path);
void		 container_skipped(struct container *, const char *path);
void		 container_acked(struct container *, long long now);
void		 container_lost(struct container *);
void		 container_reset_index(struct container *);
uint64_t	 container_target_gen(const struct container *);
int		 container_save(struct container *, struct ls_err *);
int		 container_forget(struct container *, struct ls_err *);

#endif
