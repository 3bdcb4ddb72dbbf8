/*
 * replica_status: `status`, as lines or one JSON object.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "conf.h"
#include "control.h"
#include "fsutil.h"
#include "log.h"
#include "loop.h"
#include "replica_int.h"
#include "ship.h"
#include "ssh.h"
#include "watch.h"
#include "xmalloc.h"

static const char *
state_of(struct replica *r, const struct container *c)
{
	if (c->rootfd == -1)
		return "detached";
	if (c->inflight != NULL)
		return "syncing";
	if (!c->opened)
		return ship_state(replica_ship_for(r, c->peer));
	return container_target_gen(c) > c->gen ? "pending" : "in step";
}

static void
json_string(struct buf *b, const char *s)
{
	buf_addch(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_addf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			buf_addf(b, "\\u%04x", *s);
		else
			buf_addch(b, *s);
	}
	buf_addch(b, '"');
}

static void
status_json(struct replica *r, struct buf *b)
{
	struct container	*c;

	buf_addstr(b, "{\"node\":");
	json_string(b, r->conf->node);
	buf_addf(b, ",\"role\":\"%s\"", r->role == ROLE_PRIMARY ? "primary" :
	    "standby");
	if (r->last_switch != NULL)
		buf_addf(b, ",\"last_switch\":\"%s\",\"last_switch_ms\":%lld",
		    r->last_switch, r->last_switch_ms);
	buf_addf(b, ",\"watches\":%zu,\"overflows\":%lu,\"containers\":[",
	    watcher_nwatches(r->watcher), watcher_overflows(r->watcher));
	TAILQ_FOREACH(c, &r->containers, entry) {
		buf_addstr(b, c == TAILQ_FIRST(&r->containers) ? "{" : ",{");
		buf_addstr(b, "\"name\":");
		json_string(b, c->name);
		buf_addstr(b, ",\"peer\":");
		json_string(b, c->peer);
		buf_addstr(b, ",\"state\":");
		json_string(b, state_of(r, c));
		buf_addf(b, ",\"twin_generation\":%" PRIu64 ",\"generation\":%"
		    PRIu64 ",\"lag_ms\":%lld,\"bytes\":%" PRIu64 ",\"files\":%"
		    PRIu64 ",\"batches\":%" PRIu64 ",\"rescans\":%" PRIu64
		    ",\"running\":%s,\"restarts\":%" PRIu64 ",\"failed\":%s"
		    ",\"last_error\":", c->gen, container_target_gen(c),
		    c->last_lag_ms, c->bytes, c->files, c->batches, c->rescans,
		    c->pidfd != -1 ? "true" : "false", c->restarts_total,
		    c->failed ? "true" : "false");
		json_string(b, c->last_error);
		if (c->restore_error != NULL) {
			buf_addstr(b, ",\"restore_error\":");
			json_string(b, c->restore_error);
		}
		if (c->ckpt != NULL)
			ckpt_status(c->ckpt, b, 1);
		buf_addch(b, '}');
	}
	buf_addstr(b, "]}");
}

/* The checkpoint a twin holds (stateful mode), if any. */
static void
twin_ckpt_status(struct control_client *cc, const char *name,
    const char *twindir)
{
	char			*tree = xasprintf("%s/%s/%s", twindir,
				    CKPT_DIR, CKPT_TREE);
	struct ckpt_meta	 m;
	struct ls_err		 err;

	if (ckpt_meta_load(tree, &m, &err) == 0)
		control_out(cc, "twin %s: checkpoint taken %.1f s ago, %"
		    PRIu64 " bytes (dump %lld ms, frozen %.1f ms): a promote "
		    "restores it", name, (double)(loop_wall_ms() -
		    m.taken_ms) / 1000.0, m.bytes, m.dump_ms,
		    (double)m.frozen_us / 1000.0);
	free(tree);
}

/* On the standby: the twins it holds, each at its last complete batch. */
static void
twins_status(struct replica *r, struct control_client *cc)
{
	char	**names = role_twin_names(r), **n, *dir, *gen, *peer, *ho;

	for (n = names; n != NULL && *n != NULL; n++) {
		dir = xasprintf("%s/twins/%s", r->conf->state_dir, *n);
		gen = read_line(dir, "gen");
		peer = read_line(dir, "peer");
		ho = read_line(dir, "handover");
		control_out(cc, "twin %s: generation %s from %s%s", *n,
		    gen != NULL ? gen : "0", peer != NULL ? peer : "(none yet)",
		    ho != NULL ? ", was the primary: its changes since will "
		    "be undone by the next sync" : "");
		twin_ckpt_status(cc, *n, dir);
		free(gen);
		free(peer);
		free(ho);
		free(dir);
	}
	strv_free(names);
}

void
replica_status(struct replica *r, struct control_client *cc, int json)
{
	struct container	*c;
	struct ship_entry	*se;
	struct buf		 b;
	char			 line[480];

	if (json) {
		buf_init(&b);
		status_json(r, &b);
		control_out(cc, "%s", b.data);
		buf_release(&b);
		return;
	}
	control_out(cc, "role: %s", r->role == ROLE_PRIMARY ? "primary" :
	    "standby");
	if (r->last_switch != NULL)
		control_out(cc, "last %s: %lld ms to %s, %.0f s ago",
		    r->last_switch, r->last_switch_ms,
		    strcmp(r->last_switch, "promote") == 0 ?
		    "every container running" : "every container stopped",
		    (double)(loop_now_ms() - r->last_switch_at) / 1000.0);
	control_out(cc, "watches: %zu, inotify overflows: %lu",
	    watcher_nwatches(r->watcher), watcher_overflows(r->watcher));
	SLIST_FOREACH(se, &r->ships, entry) {
		ship_describe(se->ship, line, sizeof(line));
		control_out(cc, "session with %s: %s", ship_peer(se->ship),
		    line);
	}
	twins_status(r, cc);
	if (TAILQ_EMPTY(&r->containers))
		control_out(cc, "containers: none");
	TAILQ_FOREACH(c, &r->containers, entry) {
		control_out(cc, "container %s: peer %s, %s, twin at generation "
		    "%" PRIu64 " of %" PRIu64 ", last batch %lld ms, %" PRIu64
		    " files, %" PRIu64 " bytes, %" PRIu64 " batches, %" PRIu64
		    " rescans, %s, %" PRIu64 " local restarts%s%s", c->name,
		    c->peer, state_of(r, c), c->gen,
		    container_target_gen(c), c->last_lag_ms, c->files,
		    c->bytes, c->batches, c->rescans, c->failed ? "FAILED" :
		    c->pidfd != -1 ? "running" : "not running",
		    c->restarts_total,
		    c->last_error[0] ? ", last error: " : "", c->last_error);
		if (c->restore_error != NULL)
			control_out(cc, "  RESTORE FAILED: %s", c->restore_error);
		if (c->ckpt != NULL) {
			buf_init(&b);
			ckpt_status(c->ckpt, &b, 0);
			control_out(cc, "%s", b.data);
			buf_release(&b);
		}
	}
}
