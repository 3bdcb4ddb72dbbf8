/*
 * tree: see tree.h. An entry that vanishes between readdir and fstatat
 * is skipped: the tree belongs to a running container.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "tree.h"

struct walk {
	tree_cb		*cb;
	void		*arg;
	struct buf	 path;
	struct ls_err	*err;
};

static int
walk_dir(struct walk *w, int dirfd, int depth)
{
	struct dirent	*de;
	struct stat	 st;
	size_t		 base = w->path.len;
	DIR		*d;
	int		 fd, r = 0, enter;

	if ((d = fdopendir(dirfd)) == NULL) {
		ls_err_sys(w->err, "%s", base > 0 ? w->path.data : ".");
		close(dirfd);
		return -1;
	}
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		w->path.len = base;
		if (base > 0)
			buf_addch(&w->path, '/');
		buf_add(&w->path, de->d_name, strlen(de->d_name));
		if ((enter = w->cb(w->path.data, &st, w->arg)) == -1) {
			ls_err_set(w->err, "walk stopped at %s", w->path.data);
			r = -1;
		} else if (enter && S_ISDIR(st.st_mode) &&
		    depth < TREE_DEPTH_MAX) {
			if ((fd = openat(dirfd, de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) != -1)
				r = walk_dir(w, fd, depth + 1);
			else if (errno != ENOENT && errno != ENOTDIR &&
			    errno != ELOOP) {
				ls_err_sys(w->err, "%s", w->path.data);
				r = -1;
			}
		}
	}
	if (r == 0 && errno != 0) {
		ls_err_sys(w->err, "%s", base > 0 ? w->path.data : ".");
		r = -1;
	}
	w->path.len = base;
	if (w->path.data != NULL)
		w->path.data[base] = '\0';
	closedir(d);
	return r;
}

int
tree_walk(int rootfd, tree_cb *cb, void *arg, struct ls_err *err)
{
	struct walk	 w = { cb, arg, { 0 }, err };
	int		 fd, r;

	if ((fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		ls_err_sys(err, "open the tree's root");
		return -1;
	}
	buf_init(&w.path);
	r = walk_dir(&w, fd, 0);
	buf_release(&w.path);
	return r;
}
