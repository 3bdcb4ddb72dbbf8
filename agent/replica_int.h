/*
 * replica_int: the replica's state and what replica.c, replica_remote.c
 * and replica_status.c share. Private to them.
 */
#ifndef LS_REPLICA_INT_H
#define LS_REPLICA_INT_H

#include <stdint.h>

#include <bsd/sys/queue.h>

#include "buf.h"
#include "container.h"
#include "replica.h"

struct conf_peer;
struct control_client;
struct ssh_conn;
struct watcher;

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	struct control_client	*client;
	char			*name;
	uint64_t		 target;
	long long		 deadline;	/* 0: none */
	const char		*what;		/* "add" or "sync" */
	long long		 started, next_progress;
	uint64_t		 files0, bytes0;	/* shipped when it began */
	uint64_t		 total_files, total_bytes; /* add: tree size */
};
TAILQ_HEAD(waiters, waiter);

/* A one-shot command on a peer (replica_remote.c): purge, fence. */
struct remote;
typedef void	remote_done_cb(struct replica *, struct control_client *,
		    const char *name, const char *peer, int ok, const char *why);
struct remote {
	LIST_ENTRY(remote)	 entry;
	struct replica		*r;
	struct control_client	*client;
	remote_done_cb		*done;
	struct ssh_conn		*conn;
	char			*name, *peer, *why;
	long long		 timer;
};

enum role {
	ROLE_STANDBY,
	ROLE_PRIMARY
};

/* A promote or demote asked for; they run one at a time, in order. */
struct role_req {
	TAILQ_ENTRY(role_req)	 entry;
	struct control_client	*client;	/* NULL: the daemon's own */
	int			 promote;
	int			 fence;		/* a demote the new primary sent */
};
TAILQ_HEAD(role_reqs, role_req);

/* The one running: it waits for its runtime children (start, stop). */
struct role_op {
	struct role_req		*req;
	long long		 started;
	int			 pending;
	int			 ok, failed;
	struct buf		 errors;
};

struct ship_entry {
	SLIST_ENTRY(ship_entry)	 entry;
	struct ship		*ship;
};

struct replica {
	struct loop		*loop;
	const struct conf	*conf;
	struct watcher		*watcher;
	struct containers	 containers;
	SLIST_HEAD(, ship_entry) ships;
	struct waiters		 waiters;
	LIST_HEAD(, remote)	 remotes;
	int			 next_id;
	long long		 wake_timer;
	long long		 waiter_timer;
	enum role		 role;
	struct role_reqs	 role_queue;
	struct role_op		*op;
	const char		*last_switch;	/* "promote", "demote", NULL */
	long long		 last_switch_ms;	/* its start to its end */
	long long		 last_switch_at;
};

struct ship	*replica_ship_for(struct replica *, const char *peer);
void		 replica_purge_start(struct replica *, struct control_client *,
		    const char *name, const struct conf_peer *);
void		 replica_fence_start(struct replica *, const struct conf_peer *);
void		 replica_remote_cancel(struct remote *);
int		 replica_start(struct replica *, struct container *,
		    struct ls_err *);
int		 replica_watch(struct replica *, struct container *,
		    const char *upperdir, struct ls_err *);
struct container *replica_find(struct replica *, const char *name);
void		 replica_drop(struct replica *, struct container *);

int		 replica_ckpt_attach(struct replica *, struct container *,
		    struct ls_err *);
void		 replica_ckpt_drop(struct replica *, struct container *);
int		 replica_ckpt_add(struct replica *, struct container *,
		    const char *settings, struct ls_err *);
long long	 replica_ckpt_tick(struct replica *, long long now);
int		 replica_ckpt_adopt(struct replica *, struct container *,
		    const char *twindir, struct ls_err *);
void		 replica_ckpt_restored(struct replica *, struct container *);

void		 role_init(struct replica *);
int		 role_set(struct replica *, enum role, struct ls_err *);
int		 role_has_twins(struct replica *);
char		**role_twin_names(struct replica *);
void		 role_free(struct replica *);
void		 health_watch(struct replica *, struct container *);
void		 health_unwatch(struct replica *, struct container *);
int		 health_kill(struct replica *, struct container *);
void		 health_refresh(struct replica *, struct container *);
void		 health_resume(struct replica *, struct container *);

#endif
