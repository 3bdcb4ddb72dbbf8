/*
 * watch: inotify events, turned into struct watch_event for every root.
 * See watch.h for the contract. winst.c holds the inotify instance
 * (libinotifytools), wtree.c the table of watched dirs, wscan.c what
 * is read from disk.
 *
 * The watcher owns its roots, the table (and so every watch) and the
 * batch of raw events being handled.
 *
 * A batch is everything read until the queue is empty. Its events are
 * handled in order after the read, so a MOVED_FROM can look ahead for
 * its MOVED_TO: the kernel queues both halves of one rename together.
 * Paths come from the table, which follows the events in that order,
 * so each names things as they were when its event was queued. A scan
 * sees the disk as it is now, later: where the two could disagree,
 * scanned dirs get fresh watches (wscan.c), and a path reported REMOVED
 * that is there again is reported CHANGED after.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "watch.h"
#include "winst.h"
#include "wscan.h"
#include "wtree.h"
#include "xmalloc.h"

#define WATCH_NOPAIR		((size_t)-1)
#define WATCH_XCHG_WINDOW	8	/* events between exchange halves */

/* One event as read; the name lives in watcher.names. */
struct rawev {
	size_t		 name;		/* offset into names */
	uint32_t	 mask;
	uint32_t	 cookie;
	int		 wd;
	int		 paired;	/* handled with an earlier event */
};

struct tohalf {
	uint32_t	 cookie;
	size_t		 idx;
};

struct watcher {
	struct wtree		 tree;
	TAILQ_HEAD(wroots, wroot) roots;
	struct rawev		*ev;		/* the batch */
	size_t			 nev, evcap;
	struct tohalf		*to;		/* its MOVED_TOs, by cookie */
	size_t			 nto, tocap;
	struct buf		 names;
	struct buf		 path, from;	/* paths being reported */
	watch_cb		*cb;		/* set during watcher_read() */
	void			*cbarg;
	struct ls_err		*err;		/* NULL once an error is kept */
	int			 failed;
	unsigned long		 overflows;
	int			 fd;		/* libinotifytools' */
};

/* libinotifytools keeps one instance per process, so do we. */
static int	 watcher_exists;

struct watcher *
watcher_new(struct ls_err *err)
{
	struct watcher	*w;
	int		 fd;

	if (watcher_exists) {
		ls_err_set(err, "a watcher exists already: libinotifytools "
		    "has one inotify instance per process");
		return NULL;
	}
	if ((fd = winst_open(err)) == -1)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	wtree_init(&w->tree, fd);
	TAILQ_INIT(&w->roots);
	buf_init(&w->names);
	buf_init(&w->path);
	buf_init(&w->from);
	w->fd = fd;
	watcher_exists = 1;
	return w;
}

static void
watch_drop_root(struct watcher *w, struct wroot *r)
{
	wtree_drop_root(&w->tree, r);
	TAILQ_REMOVE(&w->roots, r, entry);
	close(r->fd);
	free(r->path);
	free(r);
}

void
watcher_free(struct watcher *w)
{
	struct wroot	*r;

	if (w == NULL)
		return;
	while ((r = TAILQ_FIRST(&w->roots)) != NULL)
		watch_drop_root(w, r);
	wtree_release(&w->tree);
	buf_release(&w->names);
	buf_release(&w->path);
	buf_release(&w->from);
	free(w->ev);
	free(w->to);
	winst_close();			/* closes w->fd */
	watcher_exists = 0;
	free(w);
}

int
watcher_fd(const struct watcher *w)
{
	return w->fd;
}

unsigned long
watcher_overflows(const struct watcher *w)
{
	return w->overflows;
}

size_t
watcher_nwatches(const struct watcher *w)
{
	return w->tree.nnodes;
}

static struct wroot *
watch_find_root(struct watcher *w, int id)
{
	struct wroot	*r;

	TAILQ_FOREACH(r, &w->roots, entry)
		if (r->id == id)
			return r;
	return NULL;
}

/*
 * The root's own path comes from the host (the runtime's inspect), so
 * it may be reached through symlinks; below it nothing is followed.
 * Two roots must not overlap: a directory has one watch per instance.
 */
int
watcher_add_root(struct watcher *w, int id, const char *path,
    struct ls_err *err)
{
	struct wroot	*r;

	if (watch_find_root(w, id) != NULL) {
		ls_err_set(err, "root %d is watched already", id);
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	TAILQ_INIT(&r->nodes);
	r->id = id;
	r->path = xstrdup(path);
	/* Not O_PATH: open_by_handle_at() refuses that as its mount fd. */
	if ((r->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		ls_err_sys(err, "open %s", path);
		free(r->path);
		free(r);
		return -1;
	}
	TAILQ_INSERT_TAIL(&w->roots, r, entry);
	if (wscan_resync(&w->tree, r, WSCAN_STRICT, err) == -1) {
		watch_drop_root(w, r);
		return -1;
	}
	return 0;
}

void
watcher_remove_root(struct watcher *w, int id)
{
	struct wroot	*r;

	if ((r = watch_find_root(w, id)) != NULL)
		watch_drop_root(w, r);
}

static void
watch_report(struct watcher *w, enum watch_kind kind, const struct wroot *r,
    const char *path, const char *from, int is_dir)
{
	struct watch_event	 ev;

	ev.kind = kind;
	ev.root = r->id;
	ev.path = path;
	ev.from = from;
	ev.is_dir = is_dir;
	w->cb(&ev, w->cbarg);
}

static void
watch_emit(struct watcher *w, enum watch_kind kind, struct wnode *n,
    const char *name, int is_dir)
{
	watch_report(w, kind, n->root, wtree_path(&w->tree, &w->path, n, name),
	    NULL, is_dir);
}

/*
 * An entry found by the scan of a new dir. A file there may have been
 * written and closed before the dir's watch existed: no event will
 * settle it, and as CHANGED it would wait out the caller's max lag. So
 * it is SETTLED now; a writer still at it is heard closing it (the
 * watch exists by then), and it ships again.
 */
static void
watch_found(void *arg, struct wroot *r, const char *path, int is_dir)
{
	watch_report(arg, is_dir ? WATCH_CHANGED : WATCH_SETTLED, r, path,
	    NULL, is_dir);
}

/* Keep the first error of this read; the rest of the batch goes on. */
static void
watch_failed(struct watcher *w)
{
	w->failed = 1;
	w->err = NULL;
}

/*
 * Only a regular file is written after it is made, and settled by its
 * close: a symlink, a FIFO or a device (an overlayfs whiteout: a lower
 * file deleted) is whole once made, and no close would come.
 */
static void
watch_created(struct watcher *w, struct wnode *n, const char *name,
    int is_dir)
{
	mode_t	 mode;

	watch_emit(w, !is_dir && wscan_mode(&w->tree, n, name, &mode) == 0 &&
	    !S_ISREG(mode) ? WATCH_SETTLED : WATCH_CHANGED, n, name, is_dir);
	if (is_dir && wscan_walk(&w->tree, n->root, n, name, WSCAN_EMIT,
	    watch_found, w, w->err) == -1)
		watch_failed(w);
}

/*
 * Report what is at `name' now, and all below it: it took the place
 * of what an event was about, so earlier events there say nothing.
 */
static void
watch_recheck(struct watcher *w, struct wnode *n, const char *name)
{
	int	 is_dir;

	if ((is_dir = wscan_lstat(&w->tree, n, name)) == -1)
		return;
	watch_emit(w, WATCH_CHANGED, n, name, is_dir);
	if (is_dir && wscan_walk(&w->tree, n->root, n, name,
	    WSCAN_EMIT | WSCAN_FULL, watch_found, w, w->err) == -1)
		watch_failed(w);
}

/*
 * Something left `name'. If something is there again, that is
 * reported after: the last word on a path must be true now. Overlayfs
 * makes a dir over a whiteout by exchanging them, which reads as the
 * dir moved in (MOVED_TO) and then the whiteout moved out (MOVED_FROM).
 */
static void
watch_removed(struct watcher *w, struct wnode *n, const char *name,
    int is_dir)
{
	struct wnode	*c;

	watch_emit(w, WATCH_REMOVED, n, name, is_dir);
	if (is_dir && (c = wtree_child(&w->tree, n, name)) != NULL &&
	    !wscan_present(&w->tree, c))
		wtree_remove(&w->tree, c);
	watch_recheck(w, n, name);
}

static int
tohalf_cmp(const void *a, const void *b)
{
	const struct tohalf	*x = a, *y = b;

	if (x->cookie != y->cookie)
		return x->cookie < y->cookie ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Index the batch's MOVED_TO halves by cookie. */
static void
watch_index_to(struct watcher *w)
{
	size_t	 i;

	w->nto = 0;
	for (i = 0; i < w->nev; i++) {
		if (!(w->ev[i].mask & IN_MOVED_TO))
			continue;
		if (w->nto == w->tocap) {
			w->tocap = w->tocap ? w->tocap * 2 : 16;
			w->to = xreallocarray(w->to, w->tocap, sizeof(*w->to));
		}
		w->to[w->nto].cookie = w->ev[i].cookie;
		w->to[w->nto++].idx = i;
	}
	if (w->nto > 1)
		qsort(w->to, w->nto, sizeof(*w->to), tohalf_cmp);
}

static size_t
watch_find_to(struct watcher *w, uint32_t cookie, size_t after)
{
	size_t	 lo = 0, hi = w->nto, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (w->to[mid].cookie < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < w->nto && w->to[lo].cookie == cookie; lo++)
		if (w->to[lo].idx > after && !w->ev[w->to[lo].idx].paired)
			return w->to[lo].idx;
	return WATCH_NOPAIR;
}

/*
 * Does a pair (k, m) that undoes (i, j) follow, as renameat2()'s
 * RENAME_EXCHANGE queues it (right after, but for MOVE_SELFs and what
 * other processes did meanwhile)? Returns k, or WATCH_NOPAIR.
 */
static size_t
watch_exchange(struct watcher *w, size_t i, size_t j)
{
	const char	*names = w->names.data;
	size_t		 k, m;

	for (k = j + 1; k < w->nev && k <= j + WATCH_XCHG_WINDOW; k++) {
		if (!(w->ev[k].mask & IN_MOVED_FROM) || w->ev[k].paired ||
		    w->ev[k].wd != w->ev[j].wd ||
		    strcmp(names + w->ev[k].name, names + w->ev[j].name) != 0)
			continue;
		if ((m = watch_find_to(w, w->ev[k].cookie, k)) ==
		    WATCH_NOPAIR || w->ev[m].wd != w->ev[i].wd ||
		    strcmp(names + w->ev[m].name, names + w->ev[i].name) != 0)
			return WATCH_NOPAIR;
		w->ev[k].paired = w->ev[m].paired = 1;
		return k;
	}
	return WATCH_NOPAIR;
}

/*
 * A rename out of dir n. Its MOVED_TO in this batch makes it one
 * RENAMED, and a renamed dir keeps its watches under the new name.
 * Without one, or with one in another root, it left this root. Two
 * names exchanged are two paths whose contents changed.
 */
static void
watch_moved_from(struct watcher *w, size_t i, struct wnode *n,
    const char *name, int is_dir)
{
	struct wnode	*tn, *c;
	const char	*to;
	size_t		 j, k;

	if ((j = watch_find_to(w, w->ev[i].cookie, i)) == WATCH_NOPAIR ||
	    (tn = wtree_find(&w->tree, w->ev[j].wd)) == NULL) {
		watch_removed(w, n, name, is_dir);
		return;
	}
	w->ev[j].paired = 1;
	to = w->names.data + w->ev[j].name;
	/* A walk may drop nodes: after one, find them again by wd. */
	if (tn->root != n->root) {
		watch_removed(w, n, name, is_dir);
		if ((tn = wtree_find(&w->tree, w->ev[j].wd)) != NULL)
			watch_created(w, tn, to, is_dir);
		return;
	}
	if ((k = watch_exchange(w, i, j)) != WATCH_NOPAIR) {
		watch_emit(w, WATCH_REMOVED, tn, to,
		    (w->ev[k].mask & IN_ISDIR) != 0);
		watch_emit(w, WATCH_REMOVED, n, name, is_dir);
		if (wtree_exchange(&w->tree, n, name, tn, to) == -1)
			n->root->resync = 1;
		watch_recheck(w, tn, to);
		if ((n = wtree_find(&w->tree, w->ev[i].wd)) != NULL)
			watch_recheck(w, n, name);
		return;
	}
	wtree_path(&w->tree, &w->from, n, name);
	wtree_path(&w->tree, &w->path, tn, to);
	watch_report(w, WATCH_RENAMED, n->root, w->path.data, w->from.data,
	    is_dir);
	if (!is_dir)
		return;
	if ((c = wtree_child(&w->tree, n, name)) != NULL &&
	    !wscan_present(&w->tree, c)) {
		if (wtree_move(&w->tree, c, tn, to) == -1)
			n->root->resync = 1;
	} else if (wtree_child(&w->tree, tn, to) == NULL)
		watch_created(w, tn, to, 1);	/* not watched yet */
}

/*
 * Events on a watched dir itself. The parent's watch reports the same
 * ones by name, so only the root's own count. A moved root changes no
 * relative path.
 */
static void
watch_self(struct watcher *w, struct wnode *n, uint32_t mask)
{
	if (n->parent != NULL)
		return;
	if (mask & IN_ATTRIB)
		watch_report(w, WATCH_CHANGED, n->root, "", NULL, 1);
	else if (mask & IN_DELETE_SELF)
		watch_report(w, WATCH_REMOVED, n->root, "", NULL, 1);
}

static void
watch_dispatch(struct watcher *w, size_t i)
{
	const struct rawev	*ev = &w->ev[i];
	const char		*name = w->names.data + ev->name;
	struct wroot		*r;
	struct wnode		*n;
	int			 is_dir = (ev->mask & IN_ISDIR) != 0;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* One instance serves every root: all of them lost events. */
		w->overflows++;
		TAILQ_FOREACH(r, &w->roots, entry)
			r->resync = 1;
		return;
	}
	if ((n = wtree_find(&w->tree, ev->wd)) == NULL)
		return;		/* queued before we dropped the watch */
	if (ev->mask & IN_IGNORED) {
		wtree_remove(&w->tree, n);	/* the dir is gone */
		return;
	}
	if (*name == '\0') {
		watch_self(w, n, ev->mask);
		return;
	}
	switch (ev->mask & IN_ALL_EVENTS) {
	case IN_CREATE:
	case IN_MOVED_TO:	/* alone: moved in, or an overlayfs copy-up */
		watch_created(w, n, name, is_dir);
		break;
	case IN_MODIFY:
	case IN_ATTRIB:
		watch_emit(w, WATCH_CHANGED, n, name, is_dir);
		break;
	case IN_CLOSE_WRITE:
		watch_emit(w, WATCH_SETTLED, n, name, is_dir);
		break;
	case IN_DELETE:
		watch_removed(w, n, name, is_dir);
		break;
	case IN_MOVED_FROM:
		watch_moved_from(w, i, n, name, is_dir);
		break;
	}
}

/*
 * After an overflow, or when the table proved stale, walk the root
 * again so every dir is watched under its current name, then tell the
 * caller to rescan its contents.
 */
static void
watch_resync(struct watcher *w)
{
	struct wroot	*r;

	TAILQ_FOREACH(r, &w->roots, entry) {
		if (!r->resync)
			continue;
		if (wscan_resync(&w->tree, r, 0, w->err) == -1)
			watch_failed(w);
		watch_report(w, WATCH_OVERFLOW, r, "", NULL, 1);
	}
}

/* Copy out what is queued, until the queue is empty. */
static void
watch_drain(struct watcher *w)
{
	const struct inotify_event	*ie;
	struct rawev			*ev;
	int				 rc;

	w->nev = 0;
	buf_reset(&w->names);
	while ((rc = winst_next(&ie)) == 1) {
		if (w->nev == w->evcap) {
			w->evcap = w->evcap ? w->evcap * 2 : 64;
			w->ev = xreallocarray(w->ev, w->evcap, sizeof(*w->ev));
		}
		ev = &w->ev[w->nev++];
		ev->name = w->names.len;
		ev->mask = ie->mask;
		ev->cookie = ie->cookie;
		ev->wd = ie->wd;
		ev->paired = 0;
		if (ie->len > 0)
			buf_add(&w->names, ie->name,
			    strnlen(ie->name, ie->len));
		buf_addch(&w->names, '\0');
	}
	if (rc == -1) {
		ls_err_sys(w->err, "read inotify events");
		watch_failed(w);
	}
}

/*
 * Returns -1 if reading failed or a dir could not be watched (as when
 * fs.inotify.max_user_watches is reached). The events read were still
 * delivered and the watcher stays usable.
 */
int
watcher_read(struct watcher *w, watch_cb *cb, void *arg, struct ls_err *err)
{
	size_t	 i;

	w->cb = cb;
	w->cbarg = arg;
	w->err = err;
	w->failed = 0;
	watch_drain(w);
	watch_index_to(w);
	for (i = 0; i < w->nev; i++) {
		if (!w->ev[i].paired)
			watch_dispatch(w, i);
		watch_resync(w);
	}
	w->cb = NULL;
	w->cbarg = NULL;
	w->err = NULL;
	return w->failed ? -1 : 0;
}
