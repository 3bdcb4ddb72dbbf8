/*
 * watch: report what changes under each container's upperdir, as
 * events on one fd. notify/ is the only code that knows inotify.
 *
 * Each root is watched recursively, never through a symlink; events
 * name the caller's root id and a path relative to the root ("" is the
 * root itself). Applied in order, the events leave a replica equal to
 * the disk; to that end:
 *  - CHANGED on a dir is about the dir itself; what is in it gets its
 *    own events. A new dir is watched, then scanned, and each entry
 *    found is reported (a dir CHANGED, anything else SETTLED: no event
 *    may come to settle it), so nothing made before its watch existed
 *    is missed, nor kept waiting.
 *  - SETTLED: ship it now. A regular file closed after writing, or any
 *    other non-dir just made (a symlink, a whiteout): those are whole
 *    when made.
 *  - A rename inside one root is one RENAMED (from -> path), for all
 *    below it too. If the replica lacks `from', `path' and all below it
 *    are to be copied as new.
 *  - A rename whose other half is not watched is REMOVED (moved out)
 *    or CHANGED (moved in; overlayfs copy-ups and whiteouts arrive so).
 *    Across roots it is both.
 *  - A path REMOVED that is there again by the time the event is
 *    handled (overlayfs exchanges a new dir with its whiteout) is then
 *    reported CHANGED, with all below it; so are both names of a
 *    renameat2(RENAME_EXCHANGE).
 *  - A path reported CHANGED may be gone already: look at the disk.
 *  - OVERFLOW: events were lost; the watches were made to match the
 *    disk again, and the caller must rescan that root.
 *
 * There is at most one watcher per process: libinotifytools keeps one
 * global inotify instance. The watcher owns it, its roots and all their
 * watches; watcher_free() releases all of it. Not thread-safe.
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
