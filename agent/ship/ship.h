/*
 * ship: the session with one peer, which carries every container
 * replicated to it, one request at a time: TWIN until the stopped twin
 * exists, OPEN to make a container current, then batches, each
 * answered by an ACK once the peer made it durable. Within a batch
 * there is no round trip: frames stream while the SSH queue is below
 * SHIP_HIGH_WATER. The session is kept up whether or not a container
 * uses it; a lost one is retried with backoff, and containers with a
 * batch in flight rescan, so nothing is lost.
 *
 * The ship borrows the daemon's container list and only touches the
 * containers whose peer it is.
 */
#ifndef LS_SHIP_H
#define LS_SHIP_H

#include "container.h"

#define SHIP_HIGH_WATER		(4 * 1024 * 1024)	/* queued bytes */
#define SHIP_PUMP_SLICE		32	/* batch_pump calls per loop turn */
#define SHIP_BACKOFF_MIN_MS	100
#define SHIP_BACKOFF_MAX_MS	5000

struct loop;
struct conf_peer;
struct ship;

typedef void	ship_acked_cb(struct container *, void *);

struct ship	*ship_new(struct loop *, const char *node, const char *runtime,
		    const struct conf_peer *, struct containers *,
		    int max_lag_ms, int stall_ms, ship_acked_cb *, void *);
void		 ship_free(struct ship *);
const char	*ship_peer(const struct ship *);
void		 ship_kick(struct ship *);
void		 ship_forget(struct ship *, struct container *);
const char	*ship_state(const struct ship *);
/* What the session is doing, for whom, and since when anything last
 * moved on it (for `status`, and the stall warning). */
void		 ship_describe(const struct ship *, char *, size_t);

#endif
