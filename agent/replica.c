/*
 * replica: see replica.h. The replica owns the watcher, the containers,
 * the ships and the waiters; it borrows the config (the daemon swaps
 * it on reload through replica_set_conf). Container ids given to the
 * watcher are never reused within a run.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <bsd/sys/queue.h>

#include "ckpt.h"
#include "conf.h"
#include "container.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "replica_int.h"
#include "ship.h"
#include "source.h"
#include "ssh.h"
#include "watch.h"
#include "xmalloc.h"

#define WAITER_CHECK_MS		100	/* how often deadlines are checked */
#define PROGRESS_EVERY_MS	500	/* a progress line to waiting clients */

static void	on_watch(struct loop *, int, uint32_t, void *);
static void	before_sleep(struct loop *, void *);
static void	load_containers(struct replica *);

struct replica *
replica_new(struct loop *loop, const struct conf *conf, struct ls_err *err)
{
	struct replica		*r = xcalloc(1, sizeof(*r));
	const struct conf_peer	*peer;

	r->loop = loop;
	r->conf = conf;
	TAILQ_INIT(&r->containers);
	SLIST_INIT(&r->ships);
	TAILQ_INIT(&r->waiters);
	LIST_INIT(&r->remotes);
	if ((r->watcher = watcher_new(err)) == NULL) {
		free(r);
		return NULL;
	}
	if (loop_add_fd(loop, watcher_fd(r->watcher), EPOLLIN, on_watch,
	    r) == -1) {
		ls_err_sys(err, "watcher: epoll");
		watcher_free(r->watcher);
		free(r);
		return NULL;
	}
	loop_before_sleep(loop, before_sleep, r);
	load_containers(r);
	role_init(r);
	/*
	 * A session to every peer from the start, kept up with or without
	 * containers: a wrong host key or an unreachable peer shows in the
	 * log now, not at the first `add`, and an `add` ships at once
	 * instead of waiting for a handshake (about 0.3 s).
	 */
	TAILQ_FOREACH(peer, &conf->peers, entry)
		(void)replica_ship_for(r, peer->name);
	return r;
}

static void
waiter_done(struct replica *r, struct waiter *w, int ok, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
waiter_done(struct replica *r, struct waiter *w, int ok, const char *fmt,
    ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	TAILQ_REMOVE(&r->waiters, w, entry);
	control_done(w->client, ok, "%s", msg);
	free(w->name);
	free(w);
}

void
replica_free(struct replica *r)
{
	struct container	*c;
	struct ship_entry	*se;
	struct waiter		*w;
	struct ls_err		 err;

	if (r == NULL)
		return;
	while ((w = TAILQ_FIRST(&r->waiters)) != NULL)
		waiter_done(r, w, 0, "the daemon is shutting down");
	role_free(r);
	while (!LIST_EMPTY(&r->remotes))
		replica_remote_cancel(LIST_FIRST(&r->remotes));
	while ((se = SLIST_FIRST(&r->ships)) != NULL) {
		SLIST_REMOVE_HEAD(&r->ships, entry);
		ship_free(se->ship);
		free(se);
	}
	while ((c = TAILQ_FIRST(&r->containers)) != NULL) {
		TAILQ_REMOVE(&r->containers, c, entry);
		health_unwatch(r, c);
		if (container_save(c, &err) == -1 || (c->ckpt != NULL &&
		    container_save(c->ckpt->stream, &err) == -1))
			log_warnx("container %s: %s", c->name, err.msg);
		ckpt_free(c->ckpt);
		container_free(c);
	}
	if (r->wake_timer != 0)
		loop_del_timer(r->loop, r->wake_timer);
	if (r->waiter_timer != 0)
		loop_del_timer(r->loop, r->waiter_timer);
	loop_before_sleep(r->loop, NULL, NULL);
	loop_del_fd(r->loop, watcher_fd(r->watcher));
	watcher_free(r->watcher);
	free(r);
}

void
replica_set_conf(struct replica *r, const struct conf *conf)
{
	struct container	*c;
	struct ls_err		 err;

	r->conf = conf;
	/* The containers list may have changed a stateful-mode setting. */
	TAILQ_FOREACH(c, &r->containers, entry)
		if (replica_ckpt_attach(r, c, &err) == -1)
			log_warnx("container %s: %s", c->name, err.msg);
}

struct container *
replica_find(struct replica *r, const char *name)
{
	struct container	*c;

	TAILQ_FOREACH(c, &r->containers, entry)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static struct container *
find_id(struct replica *r, int id)
{
	struct container	*c;

	TAILQ_FOREACH(c, &r->containers, entry)
		if (c->watch_id == id)
			return c;
	return NULL;
}

/* Answer the waiters that c's acknowledged generation satisfies. */
static void
waiters_reached(struct replica *r, struct container *c)
{
	struct waiter	*w, *tmp;

	TAILQ_FOREACH_SAFE(w, &r->waiters, entry, tmp)
		if (strcmp(w->name, c->name) == 0 && c->gen >= w->target)
			waiter_done(r, w, 1, "%s: %s in step with its twin on "
			    "%s at generation %" PRIu64 " (%" PRIu64 " files, "
			    "%" PRIu64 " bytes)", w->what, c->name, c->peer,
			    c->gen, c->files, c->bytes);
}

/*
 * The batch just acknowledged left changed files to the next one (to
 * ship them as deltas), or the peer skipped some of its paths: who
 * waited for it waits for the next one.
 */
static void
waiters_put_off(struct replica *r, struct container *c)
{
	struct waiter	*w;

	TAILQ_FOREACH(w, &r->waiters, entry)
		if (strcmp(w->name, c->name) == 0 && w->target == c->gen)
			w->target = c->gen + 1;
}

static void
on_acked(struct container *c, void *arg)
{
	struct replica	*r = arg;

	if (c->owner != NULL) {		/* a checkpoint stream */
		ckpt_acked(c->owner->ckpt, loop_now_ms());
		return;
	}
	log_info("container %s: generation %" PRIu64 " durable on %s "
	    "(%" PRIu64 " files, %" PRIu64 " bytes so far, %lld ms)",
	    c->name, c->gen, c->peer, c->files, c->bytes, c->last_lag_ms);
	if (c->skip_streak >= 2)
		log_warnx("container %s: %s", c->name, c->last_error);
	if (c->deferred > 0 || c->reshipped > 0)
		waiters_put_off(r, c);
	waiters_reached(r, c);
}

struct ship *
replica_ship_for(struct replica *r, const char *peer)
{
	struct ship_entry	*se;
	struct conf_peer	*cp;

	SLIST_FOREACH(se, &r->ships, entry)
		if (strcmp(ship_peer(se->ship), peer) == 0)
			return se->ship;
	if ((cp = conf_peer_find(r->conf, peer)) == NULL)
		return NULL;
	se = xcalloc(1, sizeof(*se));
	se->ship = ship_new(r->loop, r->conf->node, r->conf->runtime, cp,
	    &r->containers,
	    (int)r->conf->max_lag_ms, (int)r->conf->stall_timeout_ms,
	    on_acked, r);
	SLIST_INSERT_HEAD(&r->ships, se, entry);
	return se->ship;
}

static void
watch_event(const struct watch_event *ev, void *arg)
{
	struct replica		*r = arg;
	struct container	*c;

	if ((c = find_id(r, ev->root)) == NULL)
		return;
	if (ev->kind == WATCH_OVERFLOW)
		log_warnx("container %s: inotify queue overflowed, events "
		    "lost: rescanning its tree", c->name);
	container_event(c, ev, loop_now_ms());
}

static void
drain_watcher(struct replica *r)
{
	struct ls_err	 err;

	if (watcher_read(r->watcher, watch_event, r, &err) == -1)
		log_errx("watcher: %s", err.msg);
}

static void
on_watch(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	drain_watcher(arg);
}

static long
wake(struct loop *l, long long id, void *arg)
{
	struct replica	*r = arg;

	(void)l;
	(void)id;
	r->wake_timer = 0;
	return LOOP_NOMORE;	/* waking up was the point: before_sleep runs */
}

/*
 * Every turn of the loop ends here: each ship cuts and sends what its
 * containers gathered, and the loop is woken again when the next
 * unsettled file is due.
 */
static void
before_sleep(struct loop *l, void *arg)
{
	struct replica		*r = arg;
	struct ship_entry	*se;
	struct container	*c;
	long long		 now = loop_now_ms(), next = 0, d;

	/* Before the kicks: a checkpoint swapped in is work for a ship. */
	if ((d = replica_ckpt_tick(r, now)) != 0)
		next = d;
	SLIST_FOREACH(se, &r->ships, entry)
		ship_kick(se->ship);
	TAILQ_FOREACH(c, &r->containers, entry)
		if (c->inflight == NULL && !container_has_work(c, now,
		    (int)r->conf->max_lag_ms, &d) && d != 0 &&
		    (next == 0 || d < next))
			next = d;
	if (r->wake_timer != 0) {
		loop_del_timer(l, r->wake_timer);
		r->wake_timer = 0;
	}
	if (next != 0)
		r->wake_timer = loop_add_timer(l, next > now ? next - now : 0,
		    wake, r);
}

/* Find the container, open its upperdir and watch it. */
int
replica_start(struct replica *r, struct container *c, struct ls_err *err)
{
	if (replica_ship_for(r, c->peer) == NULL) {
		ls_err_set(err, "peer '%s' is not in the configuration",
		    c->peer);
		return -1;
	}
	if (container_attach(c, r->conf->runtime, err) == -1)
		return -1;
	if (c->watch_id != -1)
		return 0;	/* a promote watched it before starting it */
	/* Watch before the first scan, so nothing changes unseen. */
	return replica_watch(r, c, c->info.upperdir, err);
}

int
replica_watch(struct replica *r, struct container *c, const char *upperdir,
    struct ls_err *err)
{
	c->watch_id = ++r->next_id;
	if (watcher_add_root(r->watcher, c->watch_id, upperdir, err) == -1) {
		c->watch_id = -1;
		return -1;
	}
	return 0;
}

/* Resume every container whose association is in the state dir. */
static void
load_containers(struct replica *r)
{
	char			*dir, *path, peer[128];
	struct dirent		*de;
	struct container	*c;
	struct ls_err		 err;
	FILE			*f;
	DIR			*d;

	dir = xasprintf("%s/containers", r->conf->state_dir);
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!conf_name_valid(de->d_name))
			continue;
		path = xasprintf("%s/%s/peer", dir, de->d_name);
		f = fopen(path, "re");
		free(path);
		if (f == NULL || fscanf(f, "%127s", peer) != 1) {
			if (f != NULL)
				fclose(f);
			continue;
		}
		fclose(f);
		c = container_new(de->d_name, peer, r->conf->state_dir);
		TAILQ_INSERT_TAIL(&r->containers, c, entry);
		if (replica_ckpt_attach(r, c, &err) == -1 ||
		    replica_start(r, c, &err) == -1) {
			snprintf(c->last_error, sizeof(c->last_error), "%s",
			    err.msg);
			log_errx("container %s: cannot resume: %s", c->name,
			    err.msg);
		} else
			log_notice("container %s: resumed (peer %s, generation "
			    "%" PRIu64 ")", c->name, c->peer, c->gen);
	}
	closedir(d);
	free(dir);
}

/*
 * "progress: FILES files, BYTES bytes, RATE MB/s, ETA S s" (ETA when
 * the size is known, as for add). The CLI redraws it on a terminal.
 */
static void
progress(struct replica *r, struct waiter *w, long long now)
{
	struct container		*c = replica_find(r, w->name);
	const struct batch_stats	*st;
	uint64_t			 files, bytes;
	double				 secs, rate;

	if (c == NULL)
		return;
	files = c->files - w->files0;
	bytes = c->bytes - w->bytes0;
	if (c->inflight != NULL) {
		st = batch_stats(c->inflight);
		files += st->files;
		bytes += st->bytes;
	}
	secs = (double)(now - w->started) / 1000.0;
	rate = secs > 0 ? (double)bytes / secs : 0;
	if (w->total_bytes > 0 && rate > 0 && bytes < w->total_bytes)
		control_out(w->client, "progress: %s: %" PRIu64 "/%" PRIu64
		    " files, %.1f/%.1f MB, %.1f MB/s, ETA %.0f s", w->name,
		    files, w->total_files, bytes / 1e6, w->total_bytes / 1e6,
		    rate / 1e6, (double)(w->total_bytes - bytes) / rate);
	else
		control_out(w->client, "progress: %s: %" PRIu64 " files, "
		    "%.1f MB, %.1f MB/s", w->name, files, bytes / 1e6,
		    rate / 1e6);
}

/*
 * The peer refused to create the twin of a container being added (its
 * settings cannot be replicated): add fails and takes it back, rather
 * than retry forever something that cannot change.
 */
static int
add_refused(struct replica *r, struct waiter *w)
{
	struct container	*c = replica_find(r, w->name);
	struct ls_err		 err;
	char			 why[LS_ERR_LEN];

	if (c == NULL || !c->twin_refused)
		return 0;
	snprintf(why, sizeof(why), "%s", c->last_error);
	log_errx("add %s: the twin cannot be created: %s", c->name, why);
	waiter_done(r, w, 0, "add: %s: the twin cannot be created, so it is "
	    "not replicated: %s", c->name, why);
	replica_drop(r, c);	/* answers any other waiter for it */
	if (container_forget(c, &err) == -1)
		log_warnx("container %s: %s", c->name, err.msg);
	container_free(c);
	return 1;
}

static long
check_waiters(struct loop *l, long long id, void *arg)
{
	struct replica	*r = arg;
	struct waiter	*w, *tmp;
	long long	 now = loop_now_ms();

	(void)l;
	(void)id;
again:
	TAILQ_FOREACH_SAFE(w, &r->waiters, entry, tmp) {
		/* It may answer other waiters too: start over. */
		if (strcmp(w->what, "add") == 0 && add_refused(r, w))
			goto again;
		if (w->deadline != 0 && now >= w->deadline) {
			waiter_done(r, w, 0, "%s: %s: timed out waiting for "
			    "generation %" PRIu64, w->what, w->name, w->target);
			continue;
		}
		if (now >= w->next_progress) {
			progress(r, w, now);
			w->next_progress = now + PROGRESS_EVERY_MS;
		}
	}
	if (TAILQ_EMPTY(&r->waiters)) {
		r->waiter_timer = 0;
		return LOOP_NOMORE;
	}
	return WAITER_CHECK_MS;
}

static void
wait_for_gen(struct replica *r, struct control_client *cc,
    struct container *c, const char *what, long timeout_ms)
{
	struct waiter	*w = xcalloc(1, sizeof(*w));

	w->client = cc;
	w->name = xstrdup(c->name);
	w->target = container_target_gen(c);
	w->deadline = timeout_ms > 0 ? loop_now_ms() + timeout_ms : 0;
	w->what = what;
	w->started = loop_now_ms();
	w->next_progress = w->started + PROGRESS_EVERY_MS;
	w->files0 = c->files;
	w->bytes0 = c->bytes;
	if (strcmp(what, "add") == 0)
		source_measure(c->rootfd, &w->total_files, &w->total_bytes);
	TAILQ_INSERT_TAIL(&r->waiters, w, entry);
	if (c->gen >= w->target) {
		waiters_reached(r, c);
		return;
	}
	if (r->waiter_timer == 0)
		r->waiter_timer = loop_add_timer(r->loop, WAITER_CHECK_MS,
		    check_waiters, r);
}

static const char *
default_peer(const struct conf *conf, struct ls_err *err)
{
	struct conf_peer	*p = TAILQ_FIRST(&conf->peers);

	if (p == NULL) {
		ls_err_set(err, "no peers in the configuration");
		return NULL;
	}
	if (TAILQ_NEXT(p, entry) != NULL) {
		ls_err_set(err, "several peers are configured: say which "
		    "with --peer NAME");
		return NULL;
	}
	return p->name;
}

void
replica_add(struct replica *r, struct control_client *cc, const char *name,
    const char *peer, const char *settings)
{
	struct container	*c;
	struct ls_err		 err;

	if (!conf_name_valid(name)) {
		control_done(cc, 0, "'%s' is not a valid container name", name);
		return;
	}
	if (replica_find(r, name) != NULL) {
		control_done(cc, 0, "%s is already replicated", name);
		return;
	}
	if (r->role == ROLE_STANDBY && role_has_twins(r)) {
		control_done(cc, 0, "%s is the standby (it holds twins): add "
		    "containers on the primary", r->conf->node);
		return;
	}
	if (r->op != NULL) {
		control_done(cc, 0, "a %s is under way: try again when it is "
		    "done", r->op->req->promote ? "promote" : "demote");
		return;
	}
	if (peer == NULL && (peer = default_peer(r->conf, &err)) == NULL) {
		control_done(cc, 0, "%s", err.msg);
		return;
	}
	if (conf_peer_find(r->conf, peer) == NULL) {
		control_done(cc, 0, "peer '%s' is not in the configuration",
		    peer);
		return;
	}
	c = container_new(name, peer, r->conf->state_dir);
	if (replica_ckpt_add(r, c, settings, &err) == -1 ||
	    replica_ckpt_attach(r, c, &err) == -1 ||
	    replica_start(r, c, &err) == -1 || container_save(c, &err) == -1) {
		log_errx("add %s: %s", name, err.msg);
		control_done(cc, 0, "%s", err.msg);
		if (c->watch_id != -1)
			watcher_remove_root(r->watcher, c->watch_id);
		ckpt_free(c->ckpt);
		(void)ckpt_forget(c->statedir, &err);
		container_free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&r->containers, c, entry);
	if (r->role != ROLE_PRIMARY && role_set(r, ROLE_PRIMARY, &err) == -1)
		log_warnx("%s", err.msg);
	health_watch(r, c);
	log_notice("container %s: replicating %s to %s%s", name,
	    c->info.upperdir, peer, c->ckpt != NULL ? ", with checkpoints "
	    "(criu)" : "");
	control_out(cc, "add: %s (%s) to %s: first sync started", name,
	    c->info.upperdir, peer);
	wait_for_gen(r, cc, c, "add", 0);
}

/* Stop everything this replica does for c; the caller frees it. */
void
replica_drop(struct replica *r, struct container *c)
{
	struct ship_entry	*se;
	struct waiter		*w, *tmp;

	TAILQ_FOREACH_SAFE(w, &r->waiters, entry, tmp)
		if (strcmp(w->name, c->name) == 0)
			waiter_done(r, w, 0, "%s: %s was removed", w->what,
			    c->name);
	SLIST_FOREACH(se, &r->ships, entry)
		ship_forget(se->ship, c);
	replica_ckpt_drop(r, c);
	if (c->watch_id != -1)
		watcher_remove_root(r->watcher, c->watch_id);
	c->watch_id = -1;
	health_unwatch(r, c);
	TAILQ_REMOVE(&r->containers, c, entry);
}

void
replica_remove(struct replica *r, struct control_client *cc,
    const char *name, int purge)
{
	struct container	*c;
	struct conf_peer	*peer;
	struct ls_err		 err;

	if ((c = replica_find(r, name)) == NULL) {
		control_done(cc, 0, "%s is not replicated", name);
		return;
	}
	replica_drop(r, c);
	if (container_forget(c, &err) == -1)
		log_warnx("container %s: %s", name, err.msg);
	log_notice("container %s: replication stopped%s", name, purge ?
	    "; removing its twin" : "; the twin stays");
	if (purge && (peer = conf_peer_find(r->conf, c->peer)) != NULL)
		replica_purge_start(r, cc, name, peer);
	else if (purge)
		control_done(cc, 0, "%s: replication stopped, but peer %s is "
		    "no longer configured: its twin stays", name, c->peer);
	else
		control_done(cc, 1, "%s: no longer replicated; its twin on %s "
		    "stays", name, c->peer);
	container_free(c);
}

void
replica_sync(struct replica *r, struct control_client *cc, const char *name,
    int wait, long timeout_ms)
{
	struct container	*c;

	if ((c = replica_find(r, name)) == NULL) {
		control_done(cc, 0, "%s is not replicated", name);
		return;
	}
	if (c->rootfd == -1) {
		control_done(cc, 0, "%s is not attached: %s", name,
		    c->last_error);
		return;
	}
	/* Changes made before the call may still sit in the kernel queue. */
	drain_watcher(r);
	container_settle_all(c);
	if (!wait) {
		control_done(cc, 1, "sync: %s: generation %" PRIu64 " will hold "
		    "every change so far", name, container_target_gen(c));
		return;
	}
	wait_for_gen(r, cc, c, "sync", timeout_ms);
}

