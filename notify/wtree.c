/*
 * wtree: see wtree.h for the invariants.
 *
 * A walk is breadth-first over a queue on the heap, so a deep tree made
 * by the container costs memory, not stack, and holds one directory fd
 * at a time. Queued entries name their parent by wd and look it up
 * again when they are visited: a node dropped meanwhile is then simply
 * gone, never a dangling pointer.
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotifytools.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "wtree.h"
#include "xmalloc.h"

/*
 * What each directory watch asks for. IN_DONT_FOLLOW|IN_ONLYDIR: never
 * a symlink, nor what it points to.
 */
#define WTREE_MASK	(IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | \
	    IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM | IN_MOVED_TO | \
	    IN_MOVE_SELF | IN_DONT_FOLLOW | IN_ONLYDIR)

#define WTREE_SKIP	(-2)	/* wtree_place(): leave this dir alone */

struct witem {
	TAILQ_ENTRY(witem)	 entry;
	int			 parent;	/* wd, or -1: the root itself */
	char			 name[];
};
TAILQ_HEAD(witems, witem);

static int
wd_cmp(struct wnode *a, struct wnode *b)
{
	return a->wd < b->wd ? -1 : a->wd > b->wd;
}

/* Children of one parent sort together, "" first: see first_child(). */
static int
name_cmp(struct wnode *a, struct wnode *b)
{
	uintptr_t	 pa = (uintptr_t)a->parent, pb = (uintptr_t)b->parent;

	if (pa != pb)
		return pa < pb ? -1 : 1;
	return strcmp(a->name, b->name);
}

/*
 * RB_GENERATE_STATIC, spelt out: libbsd leaves __unused undefined (it
 * clashes with Linux headers), and that macro needs it.
 */
RB_GENERATE_INTERNAL(wtree_wd, wnode, by_wd, wd_cmp,
    __attribute__((__unused__)) static)
RB_GENERATE_INTERNAL(wtree_name, wnode, by_name, name_cmp,
    __attribute__((__unused__)) static)

void
wtree_init(struct wtree *t, int ifd)
{
	memset(t, 0, sizeof(*t));
	RB_INIT(&t->by_wd);
	RB_INIT(&t->by_name);
	buf_init(&t->open);
	buf_init(&t->emit);
	buf_init(&t->key);
	t->ifd = ifd;
}

/* The roots are dropped first; this only frees the scratch space. */
void
wtree_release(struct wtree *t)
{
	buf_release(&t->open);
	buf_release(&t->emit);
	buf_release(&t->key);
	free(t->chain);
	t->chain = NULL;
}

struct wnode *
wtree_find(struct wtree *t, int wd)
{
	struct wnode	 key;

	key.wd = wd;
	return RB_FIND(wtree_wd, &t->by_wd, &key);
}

/* The key needs a mutable name, hence the copy into t->key. */
static struct wnode *
lookup(struct wtree *t, struct wnode *parent, const char *name, int nfind)
{
	struct wnode	 key;

	buf_reset(&t->key);
	buf_addstr(&t->key, name);
	key.parent = parent;
	key.name = t->key.data;
	if (nfind)
		return RB_NFIND(wtree_name, &t->by_name, &key);
	return RB_FIND(wtree_name, &t->by_name, &key);
}

struct wnode *
wtree_child(struct wtree *t, struct wnode *parent, const char *name)
{
	return lookup(t, parent, name, 0);
}

static struct wnode *
first_child(struct wtree *t, struct wnode *parent)
{
	struct wnode	*c;

	c = lookup(t, parent, "", 1);
	return c != NULL && c->parent == parent ? c : NULL;
}

/* Path of `name' inside node n (n may be NULL: the root), into out. */
const char *
wtree_path(struct wtree *t, struct buf *out, const struct wnode *n,
    const char *name)
{
	const struct wnode	*p;
	size_t			 depth = 0;

	for (p = n; p != NULL && p->parent != NULL; p = p->parent) {
		if (depth == t->chaincap) {
			t->chaincap = t->chaincap ? t->chaincap * 2 : 16;
			t->chain = xreallocarray(t->chain, t->chaincap,
			    sizeof(*t->chain));
		}
		t->chain[depth++] = p;
	}
	buf_reset(out);
	while (depth > 0) {
		if (out->len > 0)
			buf_addch(out, '/');
		buf_addstr(out, t->chain[--depth]->name);
	}
	if (name != NULL && *name != '\0') {
		if (out->len > 0)
			buf_addch(out, '/');
		buf_addstr(out, name);
	}
	return out->data;
}

static void
name_insert(struct wtree *t, struct wnode *n)
{
	struct wnode	*old;

	/* A node still holding this name is stale: its dir is gone. */
	if ((old = RB_INSERT(wtree_name, &t->by_name, n)) != NULL) {
		wtree_remove(t, old);
		RB_INSERT(wtree_name, &t->by_name, n);
	}
}

static struct wnode *
node_new(struct wtree *t, struct wroot *r, struct wnode *parent,
    const char *name, int wd)
{
	struct wnode	*n;

	n = xcalloc(1, sizeof(*n));
	n->root = r;
	n->parent = parent;
	n->name = xstrdup(name);
	n->wd = wd;
	n->gen = r->gen;
	RB_INSERT(wtree_wd, &t->by_wd, n);
	if (parent != NULL)
		name_insert(t, n);
	else
		r->top = n;
	TAILQ_INSERT_TAIL(&r->nodes, n, in_root);
	t->nnodes++;
	return n;
}

/*
 * Drop one node and its kernel watch. The kernel may have dropped the
 * watch already (EINVAL): that is fine. Its children must go too.
 */
static void
node_free(struct wtree *t, struct wnode *n)
{
	(void)inotify_rm_watch(t->ifd, n->wd);
	RB_REMOVE(wtree_wd, &t->by_wd, n);
	if (n->parent != NULL)
		RB_REMOVE(wtree_name, &t->by_name, n);
	else
		n->root->top = NULL;
	TAILQ_REMOVE(&n->root->nodes, n, in_root);
	t->nnodes--;
	free(n->name);
	free(n->fh);
	free(n);
}

/* Drop n and everything below it. */
void
wtree_remove(struct wtree *t, struct wnode *n)
{
	struct wnode	**stack, *c;
	size_t		 len = 0, cap = 16;

	stack = xreallocarray(NULL, cap, sizeof(*stack));
	stack[len++] = n;
	while (len > 0) {
		n = stack[--len];
		for (c = first_child(t, n); c != NULL && c->parent == n;
		    c = RB_NEXT(wtree_name, &t->by_name, c)) {
			if (len == cap) {
				cap *= 2;
				stack = xreallocarray(stack, cap,
				    sizeof(*stack));
			}
			stack[len++] = c;
		}
		node_free(t, n);
	}
	free(stack);
}

void
wtree_drop_root(struct wtree *t, struct wroot *r)
{
	struct wnode	*n, *next;

	TAILQ_FOREACH_SAFE(n, &r->nodes, in_root, next)
		node_free(t, n);
}

/*
 * Give n a new parent and name. Refused (-1) when the table is too
 * stale to do it safely: the move would make a cycle, or n sits below
 * the stale node holding the new name. The caller then resyncs.
 */
int
wtree_move(struct wtree *t, struct wnode *n, struct wnode *parent,
    const char *name)
{
	struct wnode	*p, *old;

	if (n->parent == NULL || parent->root != n->root)
		return -1;
	for (p = parent; p != NULL; p = p->parent)
		if (p == n)
			return -1;
	if ((old = wtree_child(t, parent, name)) == n)
		return 0;
	if (old != NULL) {
		for (p = n; p != NULL; p = p->parent)
			if (p == old)
				return -1;
		wtree_remove(t, old);
	}
	RB_REMOVE(wtree_name, &t->by_name, n);
	free(n->name);
	n->name = xstrdup(name);
	n->parent = parent;
	RB_INSERT(wtree_name, &t->by_name, n);
	return 0;
}

/*
 * Open `name' in dirfd as a dir. One component, no symlink followed,
 * no mount crossed: a swap by the container fails with ELOOP or EXDEV
 * instead of leading outside.
 */
static int
wtree_openat(int dirfd, const char *name)
{
	struct open_how	 how;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
	return (int)syscall(SYS_openat2, dirfd, *name != '\0' ? name : ".",
	    &how, sizeof(how));
}

/*
 * Open dir `name' in parent (NULL: the root itself). The parent is
 * found by its handle; a node without one (the root, or a filesystem
 * without handles) by its path from the root, still beneath it.
 */
static int
wtree_open(struct wtree *t, struct wroot *r, struct wnode *parent,
    const char *name)
{
	int	 pfd, fd, e;

	if (parent == NULL)
		return wtree_openat(r->fd, ".");
	if (parent->fh == NULL)
		return wtree_openat(r->fd, t->open.data);
	if ((pfd = open_by_handle_at(r->fd, parent->fh,
	    O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	fd = wtree_openat(pfd, name);
	e = errno;
	close(pfd);
	errno = e;
	return fd;
}

/* A handle to reopen the dir fd later wherever it has moved to. */
static struct file_handle *
wtree_handle(int fd)
{
	struct file_handle	*fh;
	union {
		struct file_handle	 fh;
		char			 space[sizeof(struct file_handle) +
			    MAX_HANDLE_SZ];
	}			 u;
	int			 mnt;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", &u.fh, &mnt, AT_EMPTY_PATH) == -1)
		return NULL;
	fh = xmalloc(sizeof(*fh) + u.fh.handle_bytes);
	memcpy(fh, &u.fh, sizeof(*fh) + u.fh.handle_bytes);
	return fh;
}

/*
 * inotify_add_watch() takes a path, not an fd. "/proc/self/fd/N/."
 * resolves to the very inode we opened; the last component is ".", so
 * IN_DONT_FOLLOW holds and there is nothing left to swap.
 */
static int
wtree_add_watch(struct wtree *t, int fd)
{
	char	 proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/.", fd);
	return inotify_add_watch(t->ifd, proc, WTREE_MASK);
}

/* Errors that mean the dir went away or must not be entered. */
static int
benign(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == EXDEV ||
	    e == ENAMETOOLONG || e == ESTALE || e == EAGAIN;
}

static int
wtree_fail(const struct wroot *r, const char *rel, const char *what, int e,
    struct ls_err *err)
{
	const char	*sep = *rel != '\0' ? "/" : "";

	if (e == ENOSPC)
		ls_err_set(err, "%s %s%s%s: inotify watch limit reached "
		    "(fs.inotify.max_user_watches = %d)", what, r->path, sep,
		    rel, inotifytools_get_max_user_watches());
	else
		ls_err_set(err, "%s %s%s%s: %s", what, r->path, sep, rel,
		    strerror(e));
	errno = e;
	return -1;
}

/* One walk: a queue of dirs still to visit, and what to do in each. */
struct wwalk {
	struct witems	 q;
	struct wtree	*t;
	struct wroot	*r;
	wtree_emit_cb	*emit;
	void		*arg;
	struct ls_err	*err;		/* NULL after the first failure */
	int		 flags;
};

static void
enqueue(struct wwalk *ww, int parent, const char *name)
{
	struct witem	*it;
	size_t		 len = strlen(name) + 1;

	it = xmalloc(sizeof(*it) + len);
	it->parent = parent;
	memcpy(it->name, name, len);
	TAILQ_INSERT_TAIL(&ww->q, it, entry);
}

/*
 * A dir that vanished or must not be entered is skipped. Anything else,
 * or any failure on the root itself, loses coverage: an error.
 */
static int
wtree_skip(struct wwalk *ww, int is_root, const char *what, int e)
{
	if (!is_root && benign(e)) {
		if (e != ENOENT)
			ww->t->nskipped++;
		log_debug("notify: %s %s/%s: %s", what, ww->r->path,
		    ww->t->open.data, strerror(e));
		return 0;
	}
	return wtree_fail(ww->r, ww->t->open.data, what, e, ww->err);
}

/*
 * Watch the opened dir and find or make its node: 1 if new, 0 if it
 * was watched already, WTREE_SKIP to leave it, -1 on error.
 */
static int
wtree_place(struct wwalk *ww, int fd, struct wnode *parent,
    const char *name, struct wnode **np)
{
	struct wtree	*t = ww->t;
	struct wnode	*n;
	int		 wd;

	if ((wd = wtree_add_watch(t, fd)) == -1)
		return wtree_skip(ww, parent == NULL, "watch", errno) == 0 ?
		    WTREE_SKIP : -1;
	if ((n = wtree_find(t, wd)) != NULL && n->root != ww->r) {
		if (ww->flags & WTREE_STRICT) {
			ls_err_set(ww->err, "%s%s%s is watched already by "
			    "root %d", ww->r->path, parent != NULL ? "/" : "",
			    t->open.data, n->root->id);
			return -1;
		}
		/* Moved here from another root: forget it there. */
		wtree_remove(t, n);
		if ((wd = wtree_add_watch(t, fd)) == -1)
			return wtree_skip(ww, parent == NULL, "watch",
			    errno) == 0 ? WTREE_SKIP : -1;
		n = NULL;
	}
	if (n == NULL) {
		*np = node_new(t, ww->r, parent, name, wd);
		(*np)->fh = wtree_handle(fd);
		return 1;
	}
	n->gen = ww->r->gen;
	*np = n;
	if (n->parent == parent && strcmp(n->name, name) == 0)
		return 0;
	/* Seen under another name: a rename we have not read yet. */
	if (parent != NULL && wtree_move(t, n, parent, name) == 0)
		return 0;
	ww->r->resync = 1;
	return WTREE_SKIP;
}

static int
entry_is_dir(DIR *d, const struct dirent *de)
{
	struct stat	 st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode);
}

/* Report and queue what is in n now. Takes over fd. */
static int
wtree_scan(struct wwalk *ww, struct wnode *n, int fd)
{
	struct dirent	*de;
	DIR		*d;
	const char	*path;
	int		 is_dir;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return wtree_skip(ww, n->parent == NULL, "read", errno);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		is_dir = entry_is_dir(d, de);
		if (ww->flags & WTREE_EMIT) {
			path = wtree_path(ww->t, &ww->t->emit, n, de->d_name);
			ww->emit(ww->arg, ww->r, path, is_dir);
		}
		if (is_dir)
			enqueue(ww, n->wd, de->d_name);
	}
	closedir(d);
	return 0;
}

/* Watch, then scan: what was created before the watch is still seen. */
static int
wtree_visit(struct wwalk *ww, const struct witem *it)
{
	struct wnode	*parent = NULL, *n;
	int		 fd, rc;

	if (it->parent != -1 &&
	    ((parent = wtree_find(ww->t, it->parent)) == NULL ||
	    parent->root != ww->r))
		return 0;	/* dropped since it was queued */
	wtree_path(ww->t, &ww->t->open, parent, it->name);
	if ((fd = wtree_open(ww->t, ww->r, parent, it->name)) == -1)
		return wtree_skip(ww, parent == NULL, "open", errno);
	rc = wtree_place(ww, fd, parent, it->name, &n);
	if (rc < 0 || (rc == 0 && !(ww->flags & WTREE_FULL))) {
		close(fd);
		return rc == -1 ? -1 : 0;
	}
	return wtree_scan(ww, n, fd);
}

/*
 * Watch the dir `name' in parent (NULL, "": the root itself) and all
 * below it. With WTREE_STRICT the first error stops the walk; otherwise
 * the walk goes on and the first error is the one reported.
 */
int
wtree_walk(struct wtree *t, struct wroot *r, struct wnode *parent,
    const char *name, int flags, wtree_emit_cb *emit, void *arg,
    struct ls_err *err)
{
	struct wwalk	 ww;
	struct witem	*it;
	int		 rc = 0;

	TAILQ_INIT(&ww.q);
	ww.t = t;
	ww.r = r;
	ww.emit = emit;
	ww.arg = arg;
	ww.err = err;
	ww.flags = flags;
	enqueue(&ww, parent != NULL ? parent->wd : -1, name);
	while ((it = TAILQ_FIRST(&ww.q)) != NULL) {
		TAILQ_REMOVE(&ww.q, it, entry);
		if ((rc == 0 || !(flags & WTREE_STRICT)) &&
		    wtree_visit(&ww, it) == -1) {
			rc = -1;
			ww.err = NULL;
		}
		free(it);
	}
	return rc;
}

/*
 * Make the root's table match the disk again: walk everything, marking
 * what is found (moving nodes whose renames were lost), then drop the
 * watches of dirs that were not found. Adding a watch to a dir already
 * watched returns its wd, so nothing is removed and re-added, and no
 * flood of IN_IGNORED follows.
 */
int
wtree_resync(struct wtree *t, struct wroot *r, int flags, struct ls_err *err)
{
	struct wnode	*n, *next;

	r->resync = 0;
	r->gen++;
	if (wtree_walk(t, r, NULL, "", flags | WTREE_FULL, NULL, NULL,
	    err) == -1)
		return -1;
	TAILQ_FOREACH_SAFE(n, &r->nodes, in_root, next)
		if (n->gen != r->gen)
			node_free(t, n);
	return 0;
}
