/*
 * testpath: filesystem helpers the unit tests share: "dir/rel" paths in
 * rotating buffers, a root and an "outside" dir for escape tests, file
 * writing, config fixtures, fd counting for leak checks, and tree
 * removal.
 */
#ifndef LS_TESTPATH_H
#define LS_TESTPATH_H

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline const char *
at(const char *dir, const char *rel)
{
	static char	 bufs[4][2 * PATH_MAX + 2];	/* dir + '/' + rel */
	static int	 i;

	i = (i + 1) % 4;
	snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", dir, rel);
	return bufs[i];
}

/* A config fixture of tests/unit/conf ($FIXTURES under make check). */
static inline const char *
fixture(const char *name)
{
	static char	 path[4096];
	const char	*dir = getenv("FIXTURES");

	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir :
	    "tests/unit/conf", name);
	return path;
}

/* Write content to path, replacing it. */
static inline void
test_put_file(const char *path, const char *content)
{
	int	 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)),
	    (ssize_t)strlen(content));
	close(fd);
}

/* Open fds of this process, to check that a test leaked none. */
static inline int
test_fd_count(void)
{
	DIR	*d = opendir("/proc/self/fd");
	int	 n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static inline int
test_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove a tree without following symlinks or crossing mounts. */
static inline void
test_rm_tree(const char *path)
{
	nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Make base/root.XXXXXX and base/outside.XXXXXX; return root's fd. */
static inline int
test_make_roots(const char *base, char *root, size_t rootlen, char *outside,
    size_t outlen)
{
	int	 fd;

	snprintf(root, rootlen, "%s/root.XXXXXX", base);
	snprintf(outside, outlen, "%s/outside.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(root));
	ck_assert_ptr_nonnull(mkdtemp(outside));
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

#endif
