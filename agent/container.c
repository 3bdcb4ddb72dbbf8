/*
 * container: see container.h. The dirty and pending sets reuse struct
 * index as a path set: dirty keeps a "whole tree" flag in st.mode,
 * pending the time a file was first seen changing in st.mtime_sec.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt.h"
#include "container.h"
#include "fsutil.h"
#include "index.h"
#include "tree.h"
#include "watch.h"
#include "xmalloc.h"

#define INDEX_SAVE_EVERY_MS	5000	/* at most one index save per period */
/*
 * A skip is a race (the tree changed while the batch read it): shipped
 * again at once, the path fits. A second batch in a row with skips
 * means the peer cannot take it: wait before the next, doubling.
 */
#define SKIP_BACKOFF_MIN_MS	100
#define SKIP_BACKOFF_MAX_MS	5000

static struct container *
container_alloc(const char *name, const char *peer, char *statedir)
{
	struct container	*c = xcalloc(1, sizeof(*c));
	struct ls_err		 err;
	char			*path;

	c->name = xstrdup(name);
	c->peer = xstrdup(peer);
	c->statedir = statedir;
	c->rootfd = -1;
	c->watch_id = -1;
	c->pidfd = -1;
	path = xasprintf("%s/index", c->statedir);
	if ((c->index = index_load(path, &c->gen, &err)) == NULL) {
		c->index = index_new();
		c->gen = 0;
	}
	free(path);
	c->dirty = index_new();
	c->pending = index_new();
	TAILQ_INIT(&c->renames);
	c->rescan = 1;	/* first sync, or compare after a restart */
	return c;
}

struct container *
container_new(const char *name, const char *peer, const char *state_dir)
{
	return container_alloc(name, peer, xasprintf("%s/containers/%s",
	    state_dir, name));
}

/* The stream of owner's checkpoints, state in containers/NAME/ckpt. */
struct container *
container_new_ckpt(struct container *owner)
{
	struct container	*c = container_alloc(owner->name, owner->peer,
				    xasprintf("%s/%s", owner->statedir,
				    CKPT_DIR));

	c->owner = owner;
	c->twin_ok = 1;		/* the layer's twin; nothing to create */
	return c;
}

static void
renames_clear(struct container *c)
{
	struct container_rename	*r;

	while ((r = TAILQ_FIRST(&c->renames)) != NULL) {
		TAILQ_REMOVE(&c->renames, r, entry);
		free(r->from);
		free(r->to);
		free(r);
	}
}

void
container_free(struct container *c)
{
	if (c == NULL)
		return;
	renames_clear(c);
	strv_free(c->skipped);
	batch_free(c->inflight);
	index_free(c->index);
	index_free(c->dirty);
	index_free(c->pending);
	container_info_clear(&c->info);
	if (c->rootfd != -1)
		close(c->rootfd);
	if (c->pidfd != -1)
		close(c->pidfd);
	free(c->restore_error);
	free(c->name);
	free(c->peer);
	free(c->statedir);
	free(c);
}

/* Find the container through the runtime and open its upperdir. */
int
container_attach(struct container *c, const char *runtime,
    struct ls_err *err)
{
	container_info_clear(&c->info);
	if (runtime_inspect(runtime, c->name, &c->info, err) == -1)
		return -1;
	if (c->rootfd != -1)
		close(c->rootfd);
	if ((c->rootfd = open(c->info.upperdir, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		ls_err_sys(err, "container %s: upperdir %s", c->name,
		    c->info.upperdir);
		return -1;
	}
	return 0;
}

static void
mark_dirty(struct container *c, const char *path, int tree)
{
	const struct index_stat	*old = index_get(c->dirty, path);
	struct index_stat	 st;

	memset(&st, 0, sizeof(st));
	st.mode = (uint32_t)tree | (old != NULL ? old->mode : 0);
	index_set(c->dirty, path, &st);
}

static void
mark_pending(struct container *c, const char *path, long long now)
{
	struct index_stat	 st;

	if (index_get(c->pending, path) != NULL)
		return;	/* keep the first time: max_lag counts from it */
	memset(&st, 0, sizeof(st));
	st.mtime_sec = now;
	index_set(c->pending, path, &st);
}

/*
 * Does the peer hold this path, once the renames recorded since the
 * last cut are applied? The index knows only names before them.
 */
static int
peer_has(const struct container *c, const char *path)
{
	struct container_rename	*r;
	char			*old = xstrdup(path), *p;
	int			 has;

	TAILQ_FOREACH_REVERSE(r, &c->renames, container_renames, entry)
		if ((p = path_reparent(old, r->to, r->from)) != NULL) {
			free(old);
			old = p;
		}
	has = index_get(c->index, old) != NULL;
	free(old);
	return has;
}

static void
on_rename(struct container *c, const char *from, const char *to)
{
	struct container_rename	*r;

	/* Unsettled and dirty paths follow their entry to its new name. */
	index_rename(c->pending, from, to);
	index_rename(c->dirty, from, to);
	if (!peer_has(c, from)) {
		/* The peer never had it: ship the new name whole, and let the
		 * next cut check the old one (a batch in flight may have it). */
		mark_dirty(c, from, 0);
		mark_dirty(c, to, 1);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->from = xstrdup(from);
	r->to = xstrdup(to);
	TAILQ_INSERT_TAIL(&c->renames, r, entry);
}

void
container_event(struct container *c, const struct watch_event *ev,
    long long now)
{
	switch (ev->kind) {
	case WATCH_CHANGED:
		if (ev->is_dir)
			mark_dirty(c, ev->path, 0);
		else
			mark_pending(c, ev->path, now);
		break;
	case WATCH_SETTLED:
		index_del(c->pending, ev->path);
		mark_dirty(c, ev->path, 0);
		break;
	case WATCH_REMOVED:
		index_del(c->pending, ev->path);
		mark_dirty(c, ev->path, 0);
		break;
	case WATCH_RENAMED:
		on_rename(c, ev->from, ev->path);
		break;
	case WATCH_OVERFLOW:
		c->rescan = 1;
		c->rescans++;
		break;
	}
}

struct due {
	struct container	*c;
	long long		 now, limit, next;
	int			 all;
};

static void
due_one(const char *path, const struct index_stat *st, void *arg)
{
	struct due	*d = arg;
	long long	 when = st->mtime_sec + d->limit;

	if (d->all || when <= d->now) {
		mark_dirty(d->c, path, 0);
		index_del(d->c->pending, path);
	} else if (d->next == 0 || when < d->next)
		d->next = when;
}

/* Ship unsettled files at the next cut (sync --wait, shutdown). */
void
container_settle_all(struct container *c)
{
	struct due	 d = { c, 0, 0, 0, 1 };

	index_walk(c->pending, due_one, &d);
}

/*
 * Is there something to cut now? Due pending files become dirty on the
 * way. *deadline (0: none) is when the next pending file will be due.
 */
int
container_has_work(struct container *c, long long now, int max_lag_ms,
    long long *deadline)
{
	struct due	 d = { c, now, max_lag_ms, 0, 0 };

	*deadline = 0;
	if (c->inflight != NULL || c->rootfd == -1)
		return 0;
	if (now < c->held_until) {
		*deadline = c->held_until;
		return 0;
	}
	index_walk(c->pending, due_one, &d);	/* moves due ones to dirty */
	*deadline = d.next;
	return c->rescan || index_count(c->dirty) > 0 ||
	    !TAILQ_EMPTY(&c->renames);
}

struct cut_ctx {
	struct batch	*b;
};

static int
mark_seen(const char *path, const struct stat *st, void *arg)
{
	(void)st;
	mark_dirty(arg, path, 0);
	return 1;
}

static void
mark_known(const char *path, const struct index_stat *st, void *arg)
{
	(void)st;
	if (path[0] != '\0')
		mark_dirty(arg, path, 0);
}

/*
 * A checkpoint stream's rescan: every path of the tree and every one
 * the peer holds, each on its own, so that changed files ship as
 * deltas. A tree that cannot be walked falls back to the rescan.
 */
static void
mark_all(struct container *c)
{
	struct ls_err	 err;

	if (tree_walk(c->rootfd, mark_seen, c, &err) == -1) {
		snprintf(c->last_error, sizeof(c->last_error), "%s", err.msg);
		return;
	}
	index_walk(c->index, mark_known, c);
	c->rescan = 0;
}

static void
cut_one(const char *path, const struct index_stat *st, void *arg)
{
	struct cut_ctx	*cc = arg;

	batch_add_path(cc->b, path, st->mode & 1);
}

struct batch *
container_cut(struct container *c, long long now, int max_lag_ms)
{
	struct container_rename	*r;
	struct cut_ctx		 cc;
	long long		 deadline;

	if (!container_has_work(c, now, max_lag_ms, &deadline))
		return NULL;
	if (c->owner != NULL && c->rescan)
		mark_all(c);
	cc.b = batch_new(c->rootfd, c->index, c->gen + 1);
	/* Checkpoint images differ from the last by a few pages, whatever
	 * their size: worth the signature round trip the batch pays once. */
	if (c->owner != NULL) {
		batch_set_delta_min(cc.b, CKPT_DELTA_MIN);
		batch_set_whole(cc.b);
	}
	/* A rescan finds renamed entries as new ones, and sweeps the old
	 * names: its sweep compares against the index, before renames. */
	if (c->rescan)
		batch_add_rescan(cc.b);
	else
		TAILQ_FOREACH(r, &c->renames, entry)
			batch_add_rename(cc.b, r->from, r->to);
	index_walk(c->dirty, cut_one, &cc);
	batch_seal(cc.b);
	renames_clear(c);
	index_free(c->dirty);
	c->dirty = index_new();
	c->rescan = 0;
	c->inflight = cc.b;
	c->inflight_ms = now;
	return cc.b;
}

/* The peer could not apply path in the batch in flight. */
void
container_skipped(struct container *c, const char *path)
{
	c->skipped = strv_add(c->skipped, path);
}

/*
 * The peer, a demoted primary, may hold something else at path than
 * our index says: give the entry a ctime no file has, so that it never
 * compares equal, and ship it, or its removal, again. The rest of the
 * entry stays: a big file the peer likely still holds most of goes as
 * a delta or patch against whatever copy it has (the peer's sums say),
 * not whole. A path we never shipped gets a mode no entry has.
 */
void
container_diverged(struct container *c, const char *path)
{
	const struct index_stat	*old = index_get(c->index, path);
	struct index_stat	 st;

	memset(&st, 0, sizeof(st));
	if (old != NULL)
		st = *old;
	st.ctime_nsec = INDEX_RACY_NSEC;
	index_set(c->index, path, &st);
	mark_dirty(c, path, 1);
}

static void
skip_backoff(struct container *c, long long now)
{
	long long	 ms = SKIP_BACKOFF_MIN_MS;
	int		 i;

	if (c->reshipped == 0) {
		c->skip_streak = 0;
		c->held_until = 0;
		return;
	}
	if (++c->skip_streak < 2)
		return;
	for (i = 2; i < c->skip_streak && ms < SKIP_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > SKIP_BACKOFF_MAX_MS)
		ms = SKIP_BACKOFF_MAX_MS;
	c->held_until = now + ms;
	snprintf(c->last_error, sizeof(c->last_error), "the peer skipped %zu "
	    "path%s (%s%s) in %d batches in a row: shipping %s again in "
	    "%lld ms; its log says why", c->reshipped,
	    c->reshipped == 1 ? "" : "s", c->skipped[0],
	    c->reshipped > 1 ? ", ..." : "", c->skip_streak,
	    c->reshipped == 1 ? "it" : "them", ms);
}

/* The batch in flight is durable on the peer. */
void
container_acked(struct container *c, long long now)
{
	const struct batch_stats	*st = batch_stats(c->inflight);
	struct ls_err			 err;
	char *const			*later;
	size_t				 i;

	batch_ack(c->inflight);
	later = batch_deferred(c->inflight, &c->deferred);
	for (i = 0; i < c->deferred; i++)
		mark_dirty(c, later[i], 0);
	/* What the peer skipped it does not hold: forget it, ship it again. */
	for (i = 0; c->skipped != NULL && c->skipped[i] != NULL; i++) {
		index_del_tree(c->index, c->skipped[i]);
		mark_dirty(c, c->skipped[i], 1);
	}
	c->reshipped = i;
	c->last_error[0] = '\0';
	skip_backoff(c, now);
	strv_free(c->skipped);
	c->skipped = NULL;
	c->gen = batch_gen(c->inflight);
	c->bytes += st->bytes;
	c->files += st->files;
	c->batches++;
	c->last_lag_ms = now - c->inflight_ms;
	c->last_ack_ms = now;
	batch_free(c->inflight);
	c->inflight = NULL;
	if (now - c->index_saved_ms >= INDEX_SAVE_EVERY_MS) {
		if (container_save(c, &err) == -1)
			snprintf(c->last_error, sizeof(c->last_error), "%s",
			    err.msg);
		c->index_saved_ms = now;
	}
}

/* The peer lost what the index says it has: start from nothing. */
void
container_reset_index(struct container *c)
{
	index_free(c->index);
	c->index = index_new();
	c->gen = 0;
}

/* The session ended: what was in flight must be found again. */
void
container_lost(struct container *c)
{
	if (c->inflight != NULL) {
		batch_free(c->inflight);
		c->inflight = NULL;
		c->rescan = 1;
	}
	strv_free(c->skipped);
	c->skipped = NULL;
	/* a new session opens the tree afresh: it may fit now */
	c->skip_streak = 0;
	c->held_until = 0;
	c->twin_ok = c->owner != NULL;	/* a stream needs no twin */
	c->opened = 0;
}

/* The generation that will hold every change seen so far. */
uint64_t
container_target_gen(const struct container *c)
{
	uint64_t	 base = c->inflight != NULL ? batch_gen(c->inflight) :
			    c->gen;

	if (c->rescan || index_count(c->dirty) > 0 ||
	    index_count(c->pending) > 0 || !TAILQ_EMPTY(&c->renames))
		return base + 1;
	return base;
}

/* Persist the association and the acknowledged index. */
int
container_save(struct container *c, struct ls_err *err)
{
	char	*path;
	FILE	*f;
	int	 r;

	if (mkdir_p(c->statedir, 0700) == -1) {
		ls_err_sys(err, "%s", c->statedir);
		return -1;
	}
	path = xasprintf("%s/peer", c->statedir);
	if ((f = fopen(path, "we")) == NULL || fprintf(f, "%s\n", c->peer) < 0
	    || fclose(f) == EOF) {
		ls_err_sys(err, "%s", path);
		free(path);
		return -1;
	}
	free(path);
	path = xasprintf("%s/index", c->statedir);
	r = index_save(c->index, c->gen, path, err);
	free(path);
	return r;
}

int
container_forget(struct container *c, struct ls_err *err)
{
	static const char *const files[] = { "index", "index.tmp", "peer" };
	char	*path;
	size_t	 i;

	if (ckpt_forget(c->statedir, err) == -1)
		return -1;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path = xasprintf("%s/%s", c->statedir, files[i]);
		unlink(path);
		free(path);
	}
	if (rmdir(c->statedir) == -1 && errno != ENOENT) {
		ls_err_sys(err, "%s", c->statedir);
		return -1;
	}
	return 0;
}
