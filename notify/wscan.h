/*
 * wscan: watch the dirs of a root as they are on disk, and report what
 * is in them. Private to notify/.
 *
 * The tree under a root belongs to an untrusted container, so a dir
 * is opened as one name, with openat2(RESOLVE_BENEATH|
 * RESOLVE_NO_SYMLINKS), in its parent as reopened from the parent's
 * file handle, and watched through "/proc/self/fd/N/.": the kernel
 * watches exactly the inode that was opened. The handle, not the path,
 * finds the parent, because the table lags the disk by the events not
 * yet read: a dir made in a parent that was renamed since is found.
 */
#ifndef LS_WSCAN_H
#define LS_WSCAN_H

#include <sys/types.h>

#include "err.h"
#include "wtree.h"

/* Report one entry found by a walk (WSCAN_EMIT). */
typedef void	wscan_emit_cb(void *, struct wroot *, const char *, int);

#define WSCAN_EMIT	0x1	/* report each entry found */
#define WSCAN_FULL	0x2	/* walk into dirs already watched too */
#define WSCAN_STRICT	0x4	/* another root's dir is an error */
#define WSCAN_RESYNC	0x8	/* renamed dirs are moved, not rewatched */

int	 wscan_walk(struct wtree *, struct wroot *, struct wnode *,
	    const char *, int, wscan_emit_cb *, void *, struct ls_err *);
int	 wscan_resync(struct wtree *, struct wroot *, int, struct ls_err *);
int	 wscan_present(struct wtree *, struct wnode *);
int	 wscan_lstat(struct wtree *, struct wnode *, const char *);
/* name's st_mode, not following a symlink: 0, or -1 (gone, say) */
int	 wscan_mode(struct wtree *, struct wnode *, const char *, mode_t *);

#endif
