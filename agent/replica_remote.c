/*
 * replica_remote: one-shot commands on a peer, each a short SSH session
 * running `layersync serve --...` there: `remove --purge` (remove the
 * twin) and the fence a promote sends to the old primary.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "replica_int.h"
#include "ship.h"
#include "ssh.h"
#include "watch.h"
#include "xmalloc.h"

#define PURGE_DEADLINE_MS	120000	/* a purge that takes longer failed; a
					   twin of 500,000 files takes 10+ s */
#define FENCE_DEADLINE_MS	3000	/* a fence is worth sending only now */

/* Report and free the command (never from an ssh callback). */
static void
remote_end(struct remote *rc, const char *why)
{
	int	 ok = why != NULL && strstr(why, "exit status 0") != NULL;

	LIST_REMOVE(rc, entry);
	if (rc->timer != 0)
		loop_del_timer(rc->r->loop, rc->timer);
	rc->done(rc->r, rc->client, rc->name, rc->peer, ok,
	    why != NULL ? why : "no answer");
	ssh_free(rc->conn);
	free(rc->name);
	free(rc->peer);
	free(rc->why);
	free(rc);
}

void
replica_remote_cancel(struct remote *rc)
{
	free(rc->why);
	rc->why = xstrdup("the daemon is shutting down");
	remote_end(rc, rc->why);
}

static long
remote_timer(struct loop *l, long long id, void *arg)
{
	struct remote	*rc = arg;

	(void)l;
	(void)id;
	rc->timer = 0;
	remote_end(rc, rc->why != NULL ? rc->why : "timed out");
	return LOOP_NOMORE;
}

static void
remote_ready(struct ssh_conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static void
remote_input(struct ssh_conn *c, struct buf *in, void *arg)
{
	(void)c;
	(void)arg;
	buf_reset(in);
}

static void
remote_closed(struct ssh_conn *c, const char *why, void *arg)
{
	struct remote	*rc = arg;

	(void)c;
	if (rc->why != NULL)
		return;
	rc->why = xstrdup(why);
	if (rc->timer != 0)
		loop_del_timer(rc->r->loop, rc->timer);
	rc->timer = loop_add_timer(rc->r->loop, 0, remote_timer, rc);
}

static const struct ssh_ops remote_ops = {
	remote_ready, remote_input, NULL, remote_closed
};

static void
remote_run(struct replica *r, const struct conf_peer *peer, const char *args,
    long deadline_ms, remote_done_cb *done, struct control_client *cc,
    const char *name)
{
	struct remote	*rc = xcalloc(1, sizeof(*rc));
	char		*cmd = xasprintf("%s serve %s", peer->remote_command,
			    args);

	rc->r = r;
	rc->client = cc;
	rc->done = done;
	rc->name = xstrdup(name);
	rc->peer = xstrdup(peer->name);
	LIST_INSERT_HEAD(&r->remotes, rc, entry);
	rc->timer = loop_add_timer(r->loop, deadline_ms, remote_timer, rc);
	rc->conn = ssh_open(r->loop, peer, cmd, &remote_ops, rc);
	free(cmd);
}

static void
purge_done(struct replica *r, struct control_client *cc, const char *name,
    const char *peer, int ok, const char *why)
{
	(void)r;
	if (ok)
		control_done(cc, 1, "%s: twin on %s removed", name, peer);
	else
		control_done(cc, 0, "%s: replication stopped, but the twin on "
		    "%s was not removed: %s", name, peer, why);
}

void
replica_purge_start(struct replica *r, struct control_client *cc,
    const char *name, const struct conf_peer *peer)
{
	char	*args = xasprintf("--purge-twin=%s", name);

	remote_run(r, peer, args, PURGE_DEADLINE_MS, purge_done, cc, name);
	free(args);
}

static void
fence_done(struct replica *r, struct control_client *cc, const char *name,
    const char *peer, int ok, const char *why)
{
	(void)r;
	(void)cc;
	(void)name;
	if (ok)
		log_notice("fence: %s stood down: its replicated containers are "
		    "stopped and it no longer holds the virtual IP", peer);
	else
		log_warnx("fence: %s did not answer (%s): if it is alive, its "
		    "keepalived demotes it when it hears this host", peer, why);
}

/*
 * Tell the old primary to stand down, in case it lives on without the
 * keepalived that would demote it (killed, or hung): its agent demotes,
 * or without an agent its containers are killed, and the VIP is taken
 * off its interface. Unreachable (cut off, frozen), it costs nothing:
 * given up after a few seconds, it cannot demote a host that has since
 * come back and been promoted again.
 */
void
replica_fence_start(struct replica *r, const struct conf_peer *peer)
{
	log_info("fence: asking %s to stand down", peer->name);
	remote_run(r, peer, "--fence", FENCE_DEADLINE_MS, fence_done, NULL,
	    peer->name);
}
