/*
 * replica_int: the replica's state and what replica.c, replica_purge.c
 * and replica_status.c share. Private to them.
 */
#ifndef LS_REPLICA_INT_H
#define LS_REPLICA_INT_H

#include <stdint.h>

#include <bsd/sys/queue.h>

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

/* `remove --purge`: a short session running serve --purge-twin there. */
struct purge {
	LIST_ENTRY(purge)	 entry;
	struct replica		*r;
	struct control_client	*client;
	struct ssh_conn		*conn;
	char			*name, *peer, *why;
	long long		 timer;
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
	LIST_HEAD(, purge)	 purges;
	int			 next_id;
	long long		 wake_timer;
	long long		 waiter_timer;
};

struct ship	*replica_ship_for(struct replica *, const char *peer);
void		 replica_purge_start(struct replica *, struct control_client *,
		    const char *name, const struct conf_peer *);
void		 replica_purge_end(struct purge *, const char *why);

#endif
