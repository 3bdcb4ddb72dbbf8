/*
 * ship_int: the session's state and what ship.c and ship_image.c (a
 * missing image streamed to the peer) share. Private to them.
 */
#ifndef LS_SHIP_INT_H
#define LS_SHIP_INT_H

#include <sys/types.h>

#include "conf.h"
#include "ship.h"

struct delta_job;
struct ssh_conn;

enum ship_st {
	SHIP_DOWN,
	SHIP_HELLO,
	SHIP_IDLE,
	SHIP_TWIN,
	SHIP_IMAGE,
	SHIP_OPEN,
	SHIP_SIGS,
	SHIP_SENDING,
	SHIP_ACK,
};

/* How often a session is checked for a stall (stall_timeout_ms). */
#define SHIP_STALL_CHECK_MS	5000


struct ship {
	struct loop		*loop;
	char			*node;		/* ours, for HELLO */
	char			*runtime;	/* for `save` */
	struct conf_peer	 peer;		/* owned copies */
	struct containers	*containers;
	int			 max_lag_ms;
	/*
	 * A session that waits on its peer (a request or a batch out) and
	 * moves no byte either way for stall_ms is dropped and built again:
	 * the new session resends what the old one left. TCP keepalive ends
	 * sessions to a dead host (SSH_DEAD_PEER_MS); this ends those that
	 * a live peer, or a bug on either side, stopped serving. The default
	 * (60 s) is far above the slowest answer a peer gives: a commit's
	 * flush of a large batch, creating a twin.
	 */
	int			 stall_ms;
	ship_acked_cb		*acked;
	void			*arg;
	struct ssh_conn		*conn;
	struct ssh_conn		*dead;		/* freed by the retry timer */
	enum ship_st		 state;
	struct container	*busy, *current, *last;
	/* Just opened: its batch comes next, or two streams with work
	 * would take turns opening and never ship. */
	struct container	*fresh;
	struct buf		 out;
	struct delta_job	*sigjob;	/* loading the current SIG */
	pid_t			 saver;		/* `save` of a missing image */
	int			 saver_fd;	/* its stdout; -1 at EOF */
	int			 saver_status;	/* -1 while it runs */
	size_t			 sigs, nsigs;	/* answered, asked */
	int			 hashing;	/* our digests: wait for them */
	long			 backoff;
	long long		 retry;		/* timer id, 0: none */
	long long		 resume;	/* timer id: pump goes on */
	long long		 watch;		/* timer id: stall checks */
};

int	ship_flush(struct ship *);
void	ship_down(struct ship *, const char *);
void	ship_image(struct ship *);
void	ship_stop_saver(struct ship *);

#endif
