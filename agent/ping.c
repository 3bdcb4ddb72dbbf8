/*
 * ping: one short-lived event loop per peer, driving an ssh_conn until
 * the remote command has printed its version and exited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "loop.h"
#include "ping.h"
#include "ssh.h"
#include "xmalloc.h"

struct ping {
	struct loop	*loop;
	struct buf	 reply;
	long long	 started;
	long long	 ready_ms;
	char		*why;
};

static void
ping_ready(struct ssh_conn *c, void *arg)
{
	struct ping	*p = arg;

	(void)c;
	p->ready_ms = loop_now_ms() - p->started;
}

static void
ping_input(struct ssh_conn *c, struct buf *in, void *arg)
{
	struct ping	*p = arg;

	(void)c;
	buf_add(&p->reply, in->data, in->len);
	buf_reset(in);
}

static void
ping_close(struct ssh_conn *c, const char *why, void *arg)
{
	struct ping	*p = arg;

	(void)c;
	p->why = xstrdup(why);
	loop_stop(p->loop);
}

static const struct ssh_ops ping_ops = {
	ping_ready, ping_input, NULL, ping_close
};

static int
ping_one(const struct conf_peer *peer)
{
	struct ping	 p = { 0 };
	struct ssh_conn	*c;
	char		*cmd, *nl;
	int		 ok;

	if ((p.loop = loop_new()) == NULL)
		fatal("epoll");
	buf_init(&p.reply);
	cmd = xasprintf("%s version", peer->remote_command);
	p.started = loop_now_ms();
	c = ssh_open(p.loop, peer, cmd, &ping_ops, &p);
	loop_run(p.loop);
	if ((nl = strchr(p.reply.data, '\n')) != NULL)
		*nl = '\0';
	ok = p.ready_ms > 0 && strncmp(p.reply.data, "layersync ", 10) == 0 &&
	    p.why != NULL && strstr(p.why, "exit status 0") != NULL;
	if (ok)
		printf("peer %s: %s@%s port %lld: %s, session in %lld ms\n",
		    peer->name, peer->user, peer->address, peer->port,
		    p.reply.data, p.ready_ms);
	else
		fprintf(stderr, "layersync ping: %s%s%s\n", p.why,
		    p.reply.len ? "; it said: " : "", p.reply.data);
	ssh_free(c);
	loop_free(p.loop);
	buf_release(&p.reply);
	free(p.why);
	free(cmd);
	return ok ? 0 : -1;
}

/* Ping every peer, or only the named one. Returns 0 if all answered. */
int
ping_peers(const struct conf *conf, const char *only)
{
	struct conf_peer	*peer;
	int			 r = 0, n = 0;

	TAILQ_FOREACH(peer, &conf->peers, entry) {
		if (only != NULL && strcmp(peer->name, only) != 0)
			continue;
		n++;
		if (ping_one(peer) == -1)
			r = -1;
	}
	if (n == 0) {
		fprintf(stderr, "layersync ping: %s\n", only != NULL ?
		    "no such peer in the configuration" : "no peers configured");
		return -1;
	}
	return r;
}
