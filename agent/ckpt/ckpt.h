/*
 * ckpt: stateful mode on the primary. For a container with mode =
 * "criu" it takes a checkpoint every checkpoint_interval_ms (or when
 * `layersync checkpoint` asks), leaving the service running, and hands
 * it to a second stream of the container: a struct container whose
 * tree is state_dir/containers/NAME/ckpt/tree, shipped by the same
 * ship as the layer, each image file as a librsync delta against the
 * checkpoint the peer holds.
 *
 * A checkpoint is taken into ckpt/next by a child (`serve
 * --checkpoint`, ckpt_run.h) and swapped in for ckpt/tree only while
 * the stream has no batch in flight; every path of the new tree, and
 * every one the peer holds that it lacks, is then marked for the next
 * batch. One batch carries one whole checkpoint, and the peer's journal
 * applies a batch whole or not at all, so the peer's current checkpoint
 * is always a complete one. A new checkpoint is only taken once the
 * last one is durable on the peer: while the peer is away, none pile up.
 */
#ifndef LS_CKPT_H
#define LS_CKPT_H

#include <stdint.h>
#include <sys/types.h>

#include <bsd/sys/queue.h>

#include "ckpt_opts.h"
#include "err.h"

struct buf;
struct conf;
struct container;
struct control_client;
struct loop;

enum ckpt_state {
	CKPT_IDLE,
	CKPT_TAKING,	/* the child runs */
	CKPT_READY	/* taken, waiting for the stream to be idle */
};

struct ckpt_waiter {
	TAILQ_ENTRY(ckpt_waiter) entry;
	struct control_client	*client;
	uint64_t		 need;	/* the checkpoint number it waits for */
	long long		 deadline;
};
TAILQ_HEAD(ckpt_waiters, ckpt_waiter);

struct ckpt {
	struct container	*owner;
	struct container	*stream;	/* ships ckpt/tree */
	struct ckpt_opts	 opts;
	enum ckpt_state		 state;
	pid_t			 taker;		/* the child taking one, 0: none */
	struct loop		*taker_loop;	/* that watches it */
	long long		 due;		/* the next periodic one */
	int			 requested;	/* `checkpoint` asked for one */
	uint64_t		 taken;		/* swapped in since the start */
	uint64_t		 shipped;	/* durable on the peer (number) */
	uint64_t		 failures;
	struct ckpt_meta	 last;		/* the one in tree */
	int			 have_last;
	uint64_t		 bytes_at_swap;	/* stream bytes before it */
	uint64_t		 last_shipped_bytes;
	long long		 swapped_ms, last_ship_ms;
	struct ckpt_waiters	 waiters;
	char			 last_error[LS_ERR_LEN];
};

struct ckpt	*ckpt_new(struct container *owner, const struct ckpt_opts *);
void		 ckpt_free(struct ckpt *);
long long	 ckpt_tick(struct ckpt *, struct loop *, const struct conf *,
		    int running, long long now);
void		 ckpt_acked(struct ckpt *, long long now);
void		 ckpt_request(struct ckpt *, struct control_client *);
void		 ckpt_status(const struct ckpt *, struct buf *, int json);
int		 ckpt_forget(const char *statedir, struct ls_err *);

#endif
