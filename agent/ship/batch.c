/*
 * batch: see batch.h. The batch owns its items, its updates and the
 * entry being streamed (cur). "seen" holds every path this batch has
 * looked at, so a path reached twice (dirty, and inside a tree) is
 * shipped once, and the sweep knows what the walk found.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_int.h"
#include "delta.h"
#include "beneath.h"
#include "frame.h"
#include "index.h"
#include "log.h"
#include "source.h"
#include "xmalloc.h"

struct batch *
batch_new(int rootfd, struct index *index, uint64_t gen)
{
	struct batch	*b = xcalloc(1, sizeof(*b));

	b->rootfd = rootfd;
	b->index = index;
	b->gen = gen;
	b->delta_min = DELTA_MIN_SIZE;
	b->seen = index_new();
	b->links = index_new();
	b->acked_links = index_new();
	b->cur.fd = -1;
	buf_init(&b->deltaout);
	return b;
}

void
batch_free(struct batch *b)
{
	size_t	 i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nitems; i++) {
		free(b->items[i].path);
		free(b->items[i].to);
	}
	for (i = 0; i < b->nups; i++) {
		free(b->ups[i].path);
		free(b->ups[i].to);
	}
	for (i = 0; i < b->nlinks; i++)
		free(b->linkpaths[i]);
	free(b->linkpaths);
	free(b->linknext);
	free(b->items);
	free(b->ups);
	source_entry_clear(&b->cur);
	delta_job_free(b->delta);
	buf_release(&b->deltaout);
	for (i = 0; i < b->nplan; i++) {
		free(b->plan[i].path);
		free(b->plan[i].basis);
		delta_sig_free(b->plan[i].sig);
		buf_release(&b->plan[i].sums);
		buf_release(&b->plan[i].oursums);
	}
	free(b->plan);
	free(b->asked);
	for (i = 0; i < b->ndeferred; i++)
		free(b->deferred[i]);
	free(b->deferred);
	index_free(b->seen);
	index_free(b->links);
	index_free(b->acked_links);
	free(b);
}

struct item *
batch_add_item(struct batch *b, enum item_kind kind, const char *path,
    const char *to, int tree)
{
	struct item	*it;

	if (b->nitems == b->capitems) {
		b->capitems = b->capitems ? b->capitems * 2 : 64;
		b->items = xreallocarray(b->items, b->capitems,
		    sizeof(*b->items));
	}
	it = &b->items[b->nitems++];
	it->kind = kind;
	it->path = path != NULL ? xstrdup(path) : NULL;
	it->to = to != NULL ? xstrdup(to) : NULL;
	it->tree = tree;
	it->force = 0;
	return it;
}

static void
add_update(struct batch *b, enum update_kind kind, const char *path,
    const char *to, const struct index_stat *st)
{
	struct update	*u;

	if (b->nups == b->capups) {
		b->capups = b->capups ? b->capups * 2 : 64;
		b->ups = xreallocarray(b->ups, b->capups, sizeof(*b->ups));
	}
	u = &b->ups[b->nups++];
	u->kind = kind;
	u->path = xstrdup(path);
	u->to = to != NULL ? xstrdup(to) : NULL;
	if (st != NULL)
		u->st = *st;
}

/* Renames must all be added before any path. */
void
batch_add_rename(struct batch *b, const char *from, const char *to)
{
	if (b->nitems != b->nrenames)
		fatalx("batch_add_rename after a path");
	batch_add_item(b, ITEM_RENAME, from, to, 0);
	b->nrenames++;
}

/* Ship files of size and up as deltas (DELTA_MIN_SIZE by default). */
void
batch_set_delta_min(struct batch *b, uint64_t size)
{
	b->delta_min = size;
}

void
batch_set_whole(struct batch *b)
{
	b->whole = 1;
}

char *const *
batch_deferred(const struct batch *b, size_t *n)
{
	*n = b->ndeferred;
	return b->deferred;
}

void
batch_add_path(struct batch *b, const char *path, int tree)
{
	batch_add_item(b, ITEM_PATH, path, NULL, tree);
}

/*
 * Compare the whole tree with the index: walk it all, then sweep. The
 * sweep is not an item: expansion appends items, and the sweep must
 * come after every one of them, or it would remove what the walk has
 * not reached yet.
 */
void
batch_add_rescan(struct batch *b)
{
	batch_add_item(b, ITEM_PATH, "", NULL, 1);
	b->sweep = 1;
}

static int
item_cmp(const void *a, const void *b)
{
	const struct item	*x = a, *y = b;

	return strcmp(x->path, y->path);
}

/* Renames keep their order; paths sort parents first. */
void
batch_seal(struct batch *b)
{
	qsort(b->items + b->nrenames, b->nitems - b->nrenames,
	    sizeof(*b->items), item_cmp);
}

size_t
batch_items(const struct batch *b)
{
	return b->nitems;
}

uint64_t
batch_gen(const struct batch *b)
{
	return b->gen;
}

const struct batch_stats *
batch_stats(const struct batch *b)
{
	return &b->stats;
}

static int
gone(int e)
{
	/* Deleted, or a component turned into a symlink or a non-dir. */
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == EXDEV;
}

/* The name path had before this batch's renames: the index's name. */
char *
batch_old_name(const struct batch *b, const char *path)
{
	char	*old = xstrdup(path), *p;
	size_t	 i;

	for (i = b->nrenames; i-- > 0;)
		if ((p = path_reparent(old, b->items[i].to,
		    b->items[i].path)) != NULL) {
			free(old);
			old = p;
		}
	return old;
}

/* What the index says of path, looked up under its old name. */
const struct index_stat *
batch_acked(const struct batch *b, const char *path)
{
	const struct index_stat	*st;
	char			*old = batch_old_name(b, path);

	st = index_get(b->index, old);
	free(old);
	return st;
}

static void
emit_remove(struct batch *b, const char *path, struct buf *out)
{
	log_debug("batch %" PRIu64 ": %s removed", b->gen, path);
	frame_put_str(out, FRAME_REMOVE, path);
	add_update(b, UP_DEL, path, NULL, NULL);
	b->stats.removes++;
}

/* Queue the children of a directory, as trees themselves. */
static int
expand(struct batch *b, const char *path, struct ls_err *err)
{
	struct dirent	*de;
	DIR		*d;
	char		*child;
	int		 fd;

	if ((fd = beneath_open(b->rootfd, path, O_RDONLY | O_DIRECTORY, 0,
	    err)) == -1)
		return gone(errno) ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		ls_err_sys(err, "%s: opendir", path);
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		child = path[0] == '\0' ? xstrdup(de->d_name) :
		    xasprintf("%s/%s", path, de->d_name);
		batch_add_item(b, ITEM_PATH, child, NULL, 1);
		free(child);
	}
	closedir(d);
	return 0;
}

/* Ship one path's entry; a regular file's data follows in pump. */
static int
send_path(struct batch *b, size_t i, struct buf *out, struct ls_err *err)
{
	static const struct index_stat	 none, expanded = { .mode = 1 };
	const struct index_stat		*seen;
	struct source_entry		 se;
	struct frame_entry		 fe;
	struct index_stat		 st;
	const struct index_stat		*old;
	const char			*lsrc;
	ssize_t				 d;
	off_t				 from = 0;	/* APPEND: the tail */
	char				*path = xstrdup(b->items[i].path);
	int				 tree = b->items[i].tree, r = 0;
	int				 force = b->items[i].force, changed;

	/*
	 * Each path is shipped once per batch, but a directory first seen
	 * without its tree (it was dirty) is still walked when a tree
	 * reaches it; a forced relink may follow a visit that found the
	 * name unchanged. seen's mode bit 1: already expanded.
	 */
	if ((seen = index_get(b->seen, path)) != NULL && !force) {
		if (tree && !(seen->mode & 1)) {
			index_set(b->seen, path, &expanded);
			r = expand(b, path, err);
		}
		goto out;
	}
	index_set(b->seen, path, tree ? &expanded : &none);
	if (path[0] == '\0') {	/* the root: never an entry itself */
		r = tree ? expand(b, path, err) : 0;
		goto out;
	}
	if (source_read(b->rootfd, path, &se, err) == -1) {
		if (gone(errno) || errno == EOPNOTSUPP) {
			if (batch_acked(b, path) != NULL)
				emit_remove(b, path, out);
			r = 0;
		} else
			r = -1;
		source_entry_clear(&se);
		goto out;
	}
	index_stat_from(&st, &se.st);
	old = batch_acked(b, path);
	changed = force || old == NULL || !index_stat_same(old, &st);
	if (changed && !force && batch_defer(b, &se, old))
		changed = 0;	/* the next batch ships it, as a delta */
	if (changed) {
		source_to_frame(&se, &fe);
		if ((lsrc = batch_link_source(b, &se)) != NULL) {
			fe.kind = ENTRY_HARDLINK;
			fe.target = (struct frame_str){ lsrc, strlen(lsrc) };
			fe.nxattr = 0;
		} else if ((d = batch_append_for(b, &se, old)) != -1) {
			from = (off_t)b->plan[d].append_at;
			frame_put_gen(out, FRAME_APPEND, (uint64_t)from);
		} else if ((d = batch_delta_for(b, &se)) != -1 &&
		    batch_patch_plan(b, (size_t)d, &se, old) == 1) {
			frame_put_patch(out, b->ranges, b->nranges);
		} else if (d != -1 && b->plan[d].sig != NULL) {
			fe.target = (struct frame_str){ b->plan[d].basis,
			    strlen(b->plan[d].basis) };
			b->delta = delta_make_new(b->plan[d].sig);
		}
		log_debug("batch %" PRIu64 ": %s %s%s%s", b->gen, path,
		    fe.kind == ENTRY_HARDLINK ? "link to " :
		    b->delta != NULL ? "delta" : b->patching ? "patch" :
		    from > 0 ? "append" : "entry",
		    fe.kind == ENTRY_HARDLINK ? lsrc : "",
		    force ? " (relink)" : "");
		frame_put_entry(out, &fe);
		index_stat_racy(&st);
		add_update(b, UP_SET, path, NULL, &st);
		b->stats.files++;
		if (fe.kind == ENTRY_REG) {
			b->cur = se;	/* its fd now streams */
			b->streaming = 1;
			b->off = from;
			b->ext_end = 0;
			memset(&se, 0, sizeof(se));
			se.fd = -1;
		}
	}
	if (se.kind == ENTRY_DIR && tree)
		r = expand(b, path, err);
	source_entry_clear(&se);
out:
	free(path);
	return r;
}

void
batch_end_file(struct batch *b, struct buf *out)
{
	frame_put_empty(out, FRAME_END);
	source_entry_clear(&b->cur);
	delta_job_free(b->delta);
	b->delta = NULL;
	b->streaming = 0;
	b->patching = 0;
}

/* Send the current file's data extents; 1 when its END is out. */
static int
stream_data(struct batch *b, struct buf *out, size_t budget,
    struct ls_err *err)
{
	char	 chunk[FRAME_MAX_DATA];
	off_t	 size = b->cur.st.st_size, start, end;
	ssize_t	 n;
	size_t	 want;

	while (out->len < budget) {
		if (b->off >= b->ext_end && b->patching) {
			if (b->range_at == b->nranges) {
				batch_end_file(b, out);
				return 1;
			}
			b->off = (off_t)b->ranges[b->range_at].off;
			b->ext_end = b->off +
			    (off_t)b->ranges[b->range_at++].len;
		} else if (b->off >= b->ext_end) {
			if (source_next_data(b->cur.fd, b->off, size, &start,
			    &end) == 1) {
				batch_end_file(b, out);
				return 1;
			}
			b->off = start;
			b->ext_end = end;
		}
		want = (size_t)(b->ext_end - b->off) < sizeof(chunk) ?
		    (size_t)(b->ext_end - b->off) : sizeof(chunk);
		if ((n = pread(b->cur.fd, chunk, want, b->off)) == -1) {
			ls_err_sys(err, "%s: read", b->cur.path);
			return -1;
		}
		if (n == 0) {	/* truncated while we read: size shrank */
			b->ext_end = b->off = size;
			continue;
		}
		frame_put_data(out, (uint64_t)b->off, chunk, (size_t)n);
		b->off += n;
		b->stats.bytes += (uint64_t)n;
	}
	return 0;
}

struct sweep {
	struct batch	*b;
	char		**gone;
	size_t		 n;
};

static void
sweep_one(const char *path, const struct index_stat *st, void *arg)
{
	struct sweep	*s = arg;
	const char	*slash = strrchr(path, '/');
	char		*parent;
	int		 parent_gone = 0;

	(void)st;
	if (index_get(s->b->seen, path) != NULL)
		return;
	/* Only the topmost missing path: its removal takes the rest. */
	if (slash != NULL) {
		parent = xstrndup(path, (size_t)(slash - path));
		parent_gone = index_get(s->b->seen, parent) == NULL &&
		    index_get(s->b->index, parent) != NULL;
		free(parent);
	}
	if (parent_gone)
		return;
	s->gone = xreallocarray(s->gone, s->n + 1, sizeof(*s->gone));
	s->gone[s->n++] = xstrdup(path);
}

static void
sweep(struct batch *b, struct buf *out)
{
	struct sweep	 s = { b, NULL, 0 };
	size_t		 i;

	index_walk(b->index, sweep_one, &s);
	for (i = 0; i < s.n; i++) {
		emit_remove(b, s.gone[i], out);
		free(s.gone[i]);
	}
	free(s.gone);
}

/*
 * Append frames to out until it holds budget bytes. Returns 1 once
 * the COMMIT is out, 0 when there is more, -1 on a local read error
 * (err says which path).
 */
int
batch_pump(struct batch *b, struct buf *out, size_t budget,
    struct ls_err *err)
{
	struct item	*it;

	while (out->len < budget && !b->committed) {
		if (b->streaming) {
			if ((b->delta != NULL ? batch_stream_delta(b, out, budget,
			    err) : stream_data(b, out, budget, err)) == -1)
				return -1;
			continue;
		}
		if (b->next == b->nitems && b->sweep == 1) {
			sweep(b, out);
			b->sweep = 2;
			continue;
		}
		if (b->next == b->nitems) {
			frame_put_gen(out, FRAME_COMMIT, b->gen);
			b->committed = 1;
			break;
		}
		it = &b->items[b->next++];
		switch (it->kind) {
		case ITEM_RENAME:
			frame_put_rename(out, it->path, it->to);
			add_update(b, UP_RENAME, it->path, it->to, NULL);
			b->stats.renames++;
			break;
		case ITEM_PATH:
			if (send_path(b, b->next - 1, out, err) == -1)
				return -1;
			break;
		}
	}
	return b->committed;
}

/* The peer made the batch durable: now the index may say so. */
void
batch_ack(struct batch *b)
{
	const struct index_stat	*old;
	struct update		*u;
	size_t			 i;

	/* Tree deletion walks the whole index: only for directories. */
	for (i = 0; i < b->nups; i++) {
		u = &b->ups[i];
		old = index_get(b->index, u->path);
		switch (u->kind) {
		case UP_SET:
			if (old != NULL && S_ISDIR(old->mode) &&
			    !S_ISDIR(u->st.mode))
				index_del_tree(b->index, u->path);
			index_set(b->index, u->path, &u->st);
			break;
		case UP_DEL:
			if (old != NULL && S_ISDIR(old->mode))
				index_del_tree(b->index, u->path);
			else
				index_del(b->index, u->path);
			break;
		case UP_RENAME:
			index_rename(b->index, u->path, u->to);
			break;
		}
	}
}
