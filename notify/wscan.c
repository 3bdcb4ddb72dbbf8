/*
 * wscan: read the watched trees from disk, as beneath their roots as
 * an untrusted container leaves them. See wscan.h.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "winst.h"
#include "wscan.h"
#include "xmalloc.h"

/*
 * What each directory watch asks for. IN_DONT_FOLLOW|IN_ONLYDIR: never
 * a symlink, nor what it points to.
 */
#define WSCAN_MASK	(IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | \
	    IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM | IN_MOVED_TO | \
	    IN_MOVE_SELF | IN_DONT_FOLLOW | IN_ONLYDIR)

#define WSCAN_SKIP	(-2)	/* wscan_place(): leave this dir alone */

struct witem {
	TAILQ_ENTRY(witem)	 entry;
	int			 parent;	/* wd, or -1: the root itself */
	char			 name[];
};
TAILQ_HEAD(witems, witem);

/*
 * Open dir `name' below dirfd. No symlink is followed, no mount
 * crossed, nothing above dirfd reached: a swap by the container fails
 * with ELOOP or EXDEV instead of leading outside.
 */
static int
wscan_openat(int dirfd, const char *name)
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
 * Open node n's dir, wherever it is now: by its handle. A node without
 * one (the root, or a filesystem without handles) or a daemon without
 * CAP_DAC_READ_SEARCH goes by its path from the root, still beneath it.
 */
static int
wscan_open_node(struct wtree *t, struct wnode *n)
{
	int	 fd;

	if (n->parent == NULL)
		return wscan_openat(n->root->fd, ".");
	if (n->fh != NULL) {
		fd = open_by_handle_at(n->root->fd, n->fh,
		    O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd != -1 || errno != EPERM)
			return fd;
	}
	return wscan_openat(n->root->fd, wtree_path(t, &t->tmp, n, NULL));
}

/* Open dir `name' in parent (NULL: the root itself). */
static int
wscan_open(struct wtree *t, struct wroot *r, struct wnode *parent,
    const char *name)
{
	int	 pfd, fd, e;

	if (parent == NULL)
		return wscan_openat(r->fd, ".");
	if ((pfd = wscan_open_node(t, parent)) == -1)
		return -1;
	fd = wscan_openat(pfd, name);
	e = errno;
	close(pfd);
	errno = e;
	return fd;
}

/* Room for any handle, on the stack. */
union wscan_fh {
	struct file_handle	 fh;
	char			 space[sizeof(struct file_handle) +
				    MAX_HANDLE_SZ];
};

/*
 * Is c's dir still where the table has it? A resync or a scan can put
 * the table ahead of the events being handled: an event about an older
 * dir of that name must not touch the newer one.
 */
int
wscan_present(struct wtree *t, struct wnode *c)
{
	union wscan_fh	 u;
	int		 pfd, mnt, same;

	if (c->fh == NULL || c->parent == NULL ||
	    (pfd = wscan_open_node(t, c->parent)) == -1)
		return 0;
	u.fh.handle_bytes = MAX_HANDLE_SZ;
	same = name_to_handle_at(pfd, c->name, &u.fh, &mnt, 0) == 0 &&
	    u.fh.handle_type == c->fh->handle_type &&
	    u.fh.handle_bytes == c->fh->handle_bytes &&
	    memcmp(u.fh.f_handle, c->fh->f_handle, u.fh.handle_bytes) == 0;
	close(pfd);
	return same;
}

/* What is at `name' in parent now: -1 nothing, else whether a dir. */
int
wscan_lstat(struct wtree *t, struct wnode *parent, const char *name)
{
	mode_t	 mode;

	if (wscan_mode(t, parent, name, &mode) == -1)
		return -1;
	return S_ISDIR(mode) ? 1 : 0;
}

int
wscan_mode(struct wtree *t, struct wnode *parent, const char *name,
    mode_t *mode)
{
	struct stat	 st;
	int		 pfd, rc;

	if ((pfd = wscan_open_node(t, parent)) == -1)
		return -1;
	rc = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW);
	close(pfd);
	if (rc == -1)
		return -1;
	*mode = st.st_mode;
	return 0;
}

/* A handle to reopen the dir fd later, wherever it has moved to. */
static struct file_handle *
wscan_handle(int fd)
{
	struct file_handle	*fh;
	union wscan_fh		 u;
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
wscan_add_watch(struct wtree *t, int fd)
{
	char	 proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/.", fd);
	return inotify_add_watch(t->ifd, proc, WSCAN_MASK);
}

/* Errors that mean the dir went away or must not be entered. */
static int
benign(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == EXDEV ||
	    e == ENAMETOOLONG || e == ESTALE || e == EAGAIN;
}

static int
wscan_fail(const struct wroot *r, const char *rel, const char *what, int e,
    struct ls_err *err)
{
	const char	*sep = *rel != '\0' ? "/" : "";

	if (e == ENOSPC)
		ls_err_set(err, "%s %s%s%s: inotify watch limit reached "
		    "(fs.inotify.max_user_watches = %d)", what, r->path, sep,
		    rel, winst_max_user_watches());
	else
		ls_err_set(err, "%s %s%s%s: %s", what, r->path, sep, rel,
		    strerror(e));
	errno = e;
	return -1;
}

/* One walk: a queue of dirs still to visit, and what to do in each. */
struct wscan {
	struct witems	 q;
	struct wtree	*t;
	struct wroot	*r;
	wscan_emit_cb	*emit;
	void		*arg;
	struct ls_err	*err;		/* NULL after the first failure */
	int		 flags;
};

static void
enqueue(struct wscan *ww, int parent, const char *name)
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
wscan_skip(struct wscan *ww, int is_root, const char *what, int e)
{
	if (!is_root && benign(e)) {
		log_debug("notify: %s %s/%s: %s", what, ww->r->path,
		    ww->t->open.data, strerror(e));
		return 0;
	}
	return wscan_fail(ww->r, ww->t->open.data, what, e, ww->err);
}

/*
 * Watch the opened dir and find or make its node: 1 if new, 0 if it
 * was watched there already, WSCAN_SKIP to leave it, -1 on error.
 *
 * A dir watched under another name was renamed by events not read
 * yet. A resync just moves its node. A walk for an event must not:
 * those events would then get paths from after the rename. Its watches
 * are made anew instead, so the old events are dropped with the old
 * wds, and all of it is reported as new here.
 */
static int
wscan_place(struct wscan *ww, int fd, struct wnode *parent,
    const char *name, struct wnode **np)
{
	struct wtree	*t = ww->t;
	struct wnode	*n;
	int		 wd;

	if ((wd = wscan_add_watch(t, fd)) == -1)
		return wscan_skip(ww, parent == NULL, "watch", errno) == 0 ?
		    WSCAN_SKIP : -1;
	if ((n = wtree_find(t, wd)) != NULL && n->root == ww->r) {
		n->gen = ww->r->gen;
		*np = n;
		if (n->parent == parent && strcmp(n->name, name) == 0)
			return 0;
		if ((ww->flags & WSCAN_RESYNC) && parent != NULL &&
		    wtree_move(t, n, parent, name) == 0)
			return 0;
	}
	if (n != NULL) {
		if ((ww->flags & WSCAN_STRICT) && n->root != ww->r) {
			ls_err_set(ww->err, "%s%s%s is watched already by "
			    "root %d", ww->r->path, parent != NULL ? "/" : "",
			    t->open.data, n->root->id);
			return -1;
		}
		if (wtree_below(parent, n) || (n->root == ww->r &&
		    (ww->flags & WSCAN_RESYNC))) {
			ww->r->resync = 1;	/* the table is too stale */
			return WSCAN_SKIP;
		}
		wtree_remove(t, n);
		if ((wd = wscan_add_watch(t, fd)) == -1)
			return wscan_skip(ww, parent == NULL, "watch",
			    errno) == 0 ? WSCAN_SKIP : -1;
	}
	*np = wtree_node_new(t, ww->r, parent, name, wd);
	(*np)->fh = wscan_handle(fd);
	return 1;
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
wscan_dir(struct wscan *ww, struct wnode *n, int fd)
{
	struct dirent	*de;
	DIR		*d;
	const char	*path;
	int		 is_dir;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return wscan_skip(ww, n->parent == NULL, "read", errno);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		is_dir = entry_is_dir(d, de);
		if (ww->flags & WSCAN_EMIT) {
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
wscan_visit(struct wscan *ww, const struct witem *it)
{
	struct wnode	*parent = NULL, *n;
	int		 fd, rc;

	if (it->parent != -1 &&
	    ((parent = wtree_find(ww->t, it->parent)) == NULL ||
	    parent->root != ww->r))
		return 0;	/* dropped since it was queued */
	wtree_path(ww->t, &ww->t->open, parent, it->name);
	if ((fd = wscan_open(ww->t, ww->r, parent, it->name)) == -1)
		return wscan_skip(ww, parent == NULL, "open", errno);
	rc = wscan_place(ww, fd, parent, it->name, &n);
	if (rc < 0 || (rc == 0 && !(ww->flags & WSCAN_FULL))) {
		close(fd);
		return rc == -1 ? -1 : 0;
	}
	return wscan_dir(ww, n, fd);
}

/*
 * Watch the dir `name' in parent (NULL, "": the root itself) and all
 * below it. With WSCAN_STRICT the first error stops the walk; otherwise
 * the walk goes on and the first error is the one reported.
 */
int
wscan_walk(struct wtree *t, struct wroot *r, struct wnode *parent,
    const char *name, int flags, wscan_emit_cb *emit, void *arg,
    struct ls_err *err)
{
	struct wscan	 ww;
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
		if ((rc == 0 || !(flags & WSCAN_STRICT)) &&
		    wscan_visit(&ww, it) == -1) {
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
wscan_resync(struct wtree *t, struct wroot *r, int flags, struct ls_err *err)
{
	struct wnode	*n, *next;

	r->resync = 0;
	r->gen++;
	if (wscan_walk(t, r, NULL, "", flags | WSCAN_FULL | WSCAN_RESYNC, NULL,
	    NULL, err) == -1)
		return -1;
	TAILQ_FOREACH_SAFE(n, &r->nodes, in_root, next)
		if (n->gen != r->gen)
			wtree_node_free(t, n);
	return 0;
}
