/*
 * replica: the containers this node replicates, and what drives them:
 * the watcher (one per process), one ship per peer, and the control
 * clients waiting for a generation (add, sync --wait).
 *
 * The association of a container with its peer is kept in the state
 * dir, so a restarted daemon resumes every container: it compares the
 * tree with the saved index and ships only the differences.
 */
#ifndef LS_REPLICA_H
#define LS_REPLICA_H

#include "err.h"

struct loop;
struct conf;
struct control_client;
struct replica;

struct replica	*replica_new(struct loop *, const struct conf *,
		    struct ls_err *);
void		 replica_free(struct replica *);
void		 replica_set_conf(struct replica *, const struct conf *);
void		 replica_add(struct replica *, struct control_client *,
		    const char *name, const char *peer, const char *settings);
void		 replica_checkpoint(struct replica *, struct control_client *,
		    const char *name);
void		 replica_remove(struct replica *, struct control_client *,
		    const char *name, int purge);
void		 replica_sync(struct replica *, struct control_client *,
		    const char *name, int wait, long timeout_ms);
void		 replica_status(struct replica *, struct control_client *,
		    int json);
void		 replica_promote(struct replica *, struct control_client *);
void		 replica_demote(struct replica *, struct control_client *,
		    int fence);
void		 replica_check(struct replica *, struct control_client *,
		    int quiet);

#endif
