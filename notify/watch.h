/*
 * watch: report what changes under each container's upperdir, as
 * events on one fd. This is the only module that knows inotify.
 *
 * Every root is watched recursively; events name the caller's root id
 * and a path relative to that root ("" is the root itself). A rename
 * inside the watched trees is one WATCH_RENAMED; a rename whose other
 * half is not watched is WATCH_REMOVED (moved out) or WATCH_CHANGED
 * (moved in, and how overlayfs copy-ups and whiteouts arrive). A new
 * directory is watched and then scanned, and every entry found is
 * reported as WATCH_CHANGED, so nothing created before its watch
 * existed is missed. When the kernel queue overflows, every root gets
 * WATCH_OVERFLOW: its watches were refreshed, its contents must be
 * rescanned by the caller.
 *
 * There is at most one watcher per process: libinotifytools keeps one
 * global inotify instance. The watcher owns that instance, its roots
 * and all their watches; watcher_free() releases all of it.
 */
#ifndef LS_WATCH_H
#define LS_WATCH_H

#include <stddef.h>

#include "err.h"

enum watch_kind {
	WATCH_CHANGED,		/* created, written, attrs or xattrs changed */
	WATCH_SETTLED,		/* closed after writing: ship it now */
	WATCH_REMOVED,		/* deleted, or moved out of the root */
	WATCH_RENAMED,		/* from -> path, both inside the same root */
	WATCH_OVERFLOW,		/* events were lost: rescan the root */
};

/* The strings are valid during the callback only. */
struct watch_event {
	enum watch_kind	 kind;
	int		 root;		/* id given to watcher_add_root() */
	const char	*path;		/* relative to the root, "" is it */
	const char	*from;		/* RENAMED only, else NULL */
	int		 is_dir;
};

/*
 * Called for each event, in order. It must not call watcher_add_root(),
 * watcher_remove_root(), watcher_read() or watcher_free().
 */
typedef void	watch_cb(const struct watch_event *, void *arg);

struct watcher;

struct watcher	*watcher_new(struct ls_err *);
void		 watcher_free(struct watcher *);
int		 watcher_fd(const struct watcher *);
int		 watcher_add_root(struct watcher *, int root, const char *path,
		    struct ls_err *);
void		 watcher_remove_root(struct watcher *, int root);
int		 watcher_read(struct watcher *, watch_cb *, void *arg,
		    struct ls_err *);
unsigned long	 watcher_overflows(const struct watcher *);
size_t		 watcher_nwatches(const struct watcher *);

#endif
