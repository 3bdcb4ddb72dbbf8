/*
 * beneath: resolve paths received from the network beneath a root
 * directory fd, never following a symbolic link and never leaving the
 * root or its filesystem.
 *
 * A wire path is relative to the root: components separated by single
 * '/', no leading or trailing '/', no empty, "." or ".." component, at
 * most BENEATH_PATH_MAX bytes and NAME_MAX per component. The empty
 * path "" names the root itself: beneath_open() accepts it (to set the
 * root's own metadata) but beneath_parent() refuses it, so the root can
 * never be replaced, removed or renamed. Components starting with
 * BENEATH_TMP_PREFIX are reserved for apply's temporary files and are
 * refused, so the crash sweep can never remove replicated data.
 *
 * Every open goes through openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
 * | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) with O_NOFOLLOW: a symlink
 * anywhere in the path, the last component included, fails with ELOOP;
 * a mount point fails with EXDEV. There is no fallback for kernels
 * without openat2 (before 5.6): ENOSYS is an error.
 */
#ifndef LS_BENEATH_H
#define LS_BENEATH_H

#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"

#define BENEATH_PATH_MAX	4095	/* wire path bytes, PATH_MAX - 1 */
#define BENEATH_TMP_PREFIX	".layersync.tmp."	/* reserved names */
#define BENEATH_VIS_LEN		256	/* a path in a message */

/* 0 if rel follows the rules above, else -1, EINVAL, and why. */
int	 path_valid(const char *rel, struct ls_err *);
/*
 * Open rel beneath rootfd; flags get O_CLOEXEC and O_NOFOLLOW, mode is
 * used only with O_CREAT. A FIFO opened without O_NONBLOCK or O_PATH
 * blocks, as with open(2).
 */
int	 beneath_open(int rootfd, const char *rel, int flags, mode_t mode,
	    struct ls_err *);
/*
 * Open the parent directory of rel (O_RDONLY | O_DIRECTORY, so it can
 * be fsynced) and point *leafp at rel's last component, for the *at()
 * calls. Refuses "" (the root has no parent).
 */
int	 beneath_parent(int rootfd, const char *rel, const char **leafp,
	    struct ls_err *);
int	 beneath_reopen(int pathfd, int flags);
int	 beneath_open_reg(int rootfd, const char *rel, int flags,
	    struct stat *, struct ls_err *);
/* Like beneath_open for a path read from the tree: no path_valid(). */
int	 beneath_openat(int dirfd, const char *path, int flags,
	    struct ls_err *);
/* Remove leaf beneath dirfd, a whole tree if a directory; ENOENT if absent. */
int	 beneath_rmtree(int dirfd, const char *leaf, struct ls_err *);
/* The same for dir/leaf, dir by path; an absent leaf is no error. */
int	 rmtree_in(const char *dir, const char *leaf, struct ls_err *);
/* Remove every BENEATH_TMP_PREFIX name in the tree beneath rootfd. */
int	 beneath_sweep(int rootfd, struct ls_err *);
int	 beneath_is_tmp(const char *name);
/* Escape an untrusted path into dst for a message; returns dst. */
const char *path_vis(const char *path, char *dst, size_t dstlen);

#endif
