/*
 * tree: a depth-first walk of a container tree through directory fds,
 * never following a symlink (openat O_NOFOLLOW, fstatat
 * AT_SYMLINK_NOFOLLOW), so a racing container cannot lead it outside.
 * Paths given to the callback are relative to the root ("a/b").
 */
#ifndef LS_TREE_H
#define LS_TREE_H

#include <sys/stat.h>

#include "err.h"

#define TREE_DEPTH_MAX	256	/* deeper directories are not entered */

/* Return 1 to enter a directory, 0 not to, -1 to stop the walk. */
typedef int	tree_cb(const char *path, const struct stat *, void *);

int	tree_walk(int rootfd, tree_cb *, void *, struct ls_err *);

#endif
