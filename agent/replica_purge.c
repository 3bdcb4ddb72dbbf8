/*
 * replica_purge: `remove --purge`, a short SSH session that runs
 * `serve --purge-twin=NAME` on the peer and answers the client.
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

/* Answer the client and free the purge (never from an ssh callback). */
void
replica_purge_end(struct purge *p, const char *why)
{
	int	 ok = why != NULL && strstr(why, "exit status 0") != NULL;

	LIST_REMOVE(p, entry);
	if (ok)
		control_done(p->client, 1, "%s: twin on %s removed", p->name,
		    p->peer);
	else
		control_done(p->client, 0, "%s: replication stopped, but the "
		    "twin on %s was not removed: %s", p->name, p->peer,
		    why != NULL ? why : "no answer");
	if (p->timer != 0)
		loop_del_timer(p->r->loop, p->timer);
	ssh_free(p->conn);
	free(p->name);
	free(p->peer);
	free(p->why);
	free(p);
}

static long
purge_timer(struct loop *l, long long id, void *arg)
{
	struct purge	*p = arg;

	(void)l;
	(void)id;
	p->timer = 0;
	replica_purge_end(p, p->why);
	return LOOP_NOMORE;
}

static void
purge_ready(struct ssh_conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static void
purge_input(struct ssh_conn *c, struct buf *in, void *arg)
{
	(void)c;
	(void)arg;
	buf_reset(in);
}

static void
purge_closed(struct ssh_conn *c, const char *why, void *arg)
{
	struct purge	*p = arg;

	(void)c;
	p->why = xstrdup(why);
	p->timer = loop_add_timer(p->r->loop, 0, purge_timer, p);
}

static const struct ssh_ops purge_ops = {
	purge_ready, purge_input, NULL, purge_closed
};

void
replica_purge_start(struct replica *r, struct control_client *cc, const char *name,
    const struct conf_peer *peer)
{
	struct purge	*p = xcalloc(1, sizeof(*p));
	char		*cmd;

	p->r = r;
	p->client = cc;
	p->name = xstrdup(name);
	p->peer = xstrdup(peer->name);
	cmd = xasprintf("%s serve --purge-twin=%s", peer->remote_command,
	    name);
	LIST_INSERT_HEAD(&r->purges, p, entry);
	p->conn = ssh_open(r->loop, peer, cmd, &purge_ops, p);
	free(cmd);
}
