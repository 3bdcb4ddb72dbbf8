/*
 * beneath: see beneath.h for the rules a wire path follows.
 *
 * Nothing here resolves a path with plain open(): the kernel, through
 * openat2, refuses symlinks, magic links, mount crossings and escapes
 * in the same walk that opens the file, so there is no window between
 * a check and a use. The tree removal holds one directory fd at a time
 * and reopens each level from the top, so a deep tree built by an
 * untrusted container cannot exhaust the fd table.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "beneath.h"
#include "buf.h"
#include "xmalloc.h"

#define BENEATH_RESOLVE	(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | \
	RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define BENEATH_RETRIES	8	/* openat2 EAGAIN: a rename raced us */
#define BENEATH_REFILLS	4	/* a level refilled while removing */

/*
 * Render an untrusted path for a message: control bytes and '\' become
 * octal escapes so a name cannot forge log lines, and a long path is
 * cut with "...". dstlen must be at least 8.
 */
const char *
path_vis(const char *path, char *dst, size_t dstlen)
{
	const unsigned char	*p = (const unsigned char *)path;
	size_t			 i = 0;

	while (*p != '\0' && i + 8 <= dstlen) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			i += (size_t)snprintf(dst + i, dstlen - i, "\\%03o",
			    *p);
		else
			dst[i++] = (char)*p;
		p++;
	}
	if (*p != '\0') {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

int
beneath_is_tmp(const char *name)
{
	return strncmp(name, BENEATH_TMP_PREFIX,
	    sizeof(BENEATH_TMP_PREFIX) - 1) == 0;
}

static const char *
component_bad(const char *c, size_t n, int last)
{
	if (n == 0)
		return last ? "trailing '/'" : "empty component";
	if (n > NAME_MAX)
		return "component longer than NAME_MAX";
	if (n == 1 && c[0] == '.')
		return "\".\" component";
	if (n == 2 && c[0] == '.' && c[1] == '.')
		return "\"..\" component";
	if (n >= sizeof(BENEATH_TMP_PREFIX) - 1 && beneath_is_tmp(c))
		return "reserved " BENEATH_TMP_PREFIX " name";
	return NULL;
}

/* "" is valid: it names the root (see beneath.h). */
int
path_valid(const char *rel, struct ls_err *err)
{
	char		 vis[BENEATH_VIS_LEN];
	const char	*c, *p, *why = NULL;

	if (rel == NULL)
		why = "missing";
	else if (strnlen(rel, BENEATH_PATH_MAX + 1) > BENEATH_PATH_MAX)
		why = "longer than 4095 bytes";
	else if (rel[0] == '/')
		why = "absolute";
	else if (rel[0] != '\0') {
		for (c = rel; why == NULL; c = p + 1) {
			p = strchrnul(c, '/');
			why = component_bad(c, (size_t)(p - c), *p == '\0');
			if (*p == '\0')
				break;
		}
	}
	if (why == NULL)
		return 0;
	ls_err_set(err, "path \"%s\": %s",
	    path_vis(rel != NULL ? rel : "", vis, sizeof(vis)), why);
	errno = EINVAL;
	return -1;
}

static int openat2_beneath(int, const char *, int, mode_t);

static int
is_link(int dirfd, const char *path)
{
	struct stat	 st;
	int		 fd, r;

	if ((fd = openat2_beneath(dirfd, path, O_PATH, 0)) == -1)
		return 0;
	r = fstat(fd, &st) == 0 && S_ISLNK(st.st_mode);
	close(fd);
	return r;
}

/* The one place that resolves a path; fails with errno set. */
static int
openat2_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how	 how;
	int		 fd, i;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned)(flags | O_CLOEXEC | O_NOFOLLOW);
	/* openat2 rejects a mode without O_CREAT or O_TMPFILE */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode;
	how.resolve = BENEATH_RESOLVE;
	if (*path == '\0')
		path = ".";
	for (i = 0; i < BENEATH_RETRIES; i++) {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd != -1 || errno != EAGAIN)
			break;
	}
	/*
	 * O_DIRECTORY on a final symlink says ENOTDIR, not ELOOP: look
	 * at what is there (O_PATH opens the link itself) so a planted
	 * link is reported as one.
	 */
	if (fd == -1 && errno == ENOTDIR && (flags & O_DIRECTORY) &&
	    !(flags & O_PATH))
		errno = is_link(dirfd, path) ? ELOOP : ENOTDIR;
	return fd;
}

static void
open_error(struct ls_err *err, const char *what, const char *path)
{
	char	 vis[BENEATH_VIS_LEN];
	int	 saved_errno = errno;

	path_vis(path, vis, sizeof(vis));
	if (errno == ELOOP)
		ls_err_set(err, "%s \"%s\": refused, a component is a "
		    "symbolic link", what, vis);
	else if (errno == EXDEV)
		ls_err_set(err, "%s \"%s\": refused, the path leaves the "
		    "root or crosses a mount point", what, vis);
	else if (errno == ENOSYS)
		ls_err_set(err, "%s \"%s\": openat2 is missing, Linux 5.6 "
		    "or later is needed", what, vis);
	else
		ls_err_sys(err, "%s \"%s\"", what, vis);
	errno = saved_errno;
}

int
beneath_open(int rootfd, const char *rel, int flags, mode_t mode,
    struct ls_err *err)
{
	int	 fd;

	if (path_valid(rel, err) == -1)
		return -1;
	if ((fd = openat2_beneath(rootfd, rel, flags, mode)) == -1)
		open_error(err, "open", rel);
	return fd;
}

/* Open the inode an O_PATH fd pinned, through that fd (not its name). */
int
beneath_reopen(int pathfd, int flags)
{
	char	 proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
	return open(proc, flags | O_CLOEXEC);
}

/*
 * Open rel, a regular file, for I/O: resolved with O_PATH first and
 * reopened only once fstat says it is one, so that neither a FIFO
 * (which would block) nor a device swapped in is ever opened.
 * -1 with EINVAL (a misfit to callers) if it is something else.
 */
int
beneath_open_reg(int rootfd, const char *rel, int flags, struct stat *st,
    struct ls_err *err)
{
	int	 pfd, fd;

	if ((pfd = beneath_open(rootfd, rel, O_PATH, 0, err)) == -1)
		return -1;
	if (fstat(pfd, st) == -1) {
		ls_err_sys(err, "fstat");
		close(pfd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(pfd);
		ls_err_set(err, "%s: not a regular file", rel);
		errno = EINVAL;
		return -1;
	}
	if ((fd = beneath_reopen(pfd, flags)) == -1)
		open_error(err, "open", rel);
	close(pfd);
	return fd;
}

/* For names read from the tree itself; "" reopens dirfd. */
int
beneath_openat(int dirfd, const char *path, int flags, struct ls_err *err)
{
	int	 fd;

	if ((fd = openat2_beneath(dirfd, path, flags, 0)) == -1)
		open_error(err, "open", path);
	return fd;
}

int
beneath_parent(int rootfd, const char *rel, const char **leafp,
    struct ls_err *err)
{
	char		 dir[BENEATH_PATH_MAX + 1];
	const char	*slash;
	int		 fd;

	if (path_valid(rel, err) == -1)
		return -1;
	if (*rel == '\0') {
		ls_err_set(err, "path \"\": the root has no parent");
		errno = EINVAL;
		return -1;
	}
	dir[0] = '\0';
	*leafp = rel;
	if ((slash = strrchr(rel, '/')) != NULL) {
		memcpy(dir, rel, (size_t)(slash - rel));
		dir[slash - rel] = '\0';
		*leafp = slash + 1;
	}
	/* O_RDONLY, not O_PATH: the caller may fsync it */
	if ((fd = openat2_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY,
	    0)) == -1)
		open_error(err, "open parent of", rel);
	return fd;
}

/*
 * Empty one level of the tree at path beneath dirfd: non-directories
 * and empty subdirectories go. Returns 1 with the first non-empty
 * subdirectory in *subp, for the caller to descend into, or 0 once
 * the level is empty.
 */
static int
rm_level(int dirfd, const char *path, char **subp, struct ls_err *err)
{
	struct dirent	*de;
	DIR		*d;
	char		 vis[BENEATH_VIS_LEN], vis2[BENEATH_VIS_LEN];
	int		 fd, r = 0;

	*subp = NULL;
	if ((fd = beneath_openat(dirfd, path, O_RDONLY | O_DIRECTORY,
	    err)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		open_error(err, "read directory", path);
		close(fd);
		return -1;
	}
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		/* Linux says EISDIR for a directory: no stat needed */
		if (unlinkat(fd, de->d_name, 0) == 0 || (errno == EISDIR &&
		    unlinkat(fd, de->d_name, AT_REMOVEDIR) == 0))
			continue;
		if (errno == ENOTEMPTY || errno == EEXIST) {
			*subp = xstrdup(de->d_name);
			r = 1;
		} else {
			ls_err_sys(err, "remove \"%s/%s\"",
			    path_vis(path, vis, sizeof(vis)),
			    path_vis(de->d_name, vis2, sizeof(vis2)));
			r = -1;
		}
	}
	if (r == 0 && errno != 0) {
		open_error(err, "read directory", path);
		r = -1;
	}
	closedir(d);
	return r;
}

/* Remove the empty directory at path beneath dirfd. */
static int
rmdir_path(int dirfd, char *path, struct ls_err *err)
{
	char	*slash;
	int	 pfd = dirfd, r;

	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		pfd = beneath_openat(dirfd, path, O_RDONLY | O_DIRECTORY,
		    err);
		*slash = '/';
		if (pfd == -1)
			return -1;
	}
	r = unlinkat(pfd, slash != NULL ? slash + 1 : path, AT_REMOVEDIR);
	if (r == -1)
		open_error(err, "remove directory", path);
	if (pfd != dirfd)
		close(pfd);
	return r;
}

/*
 * Remove leaf (anything, a whole tree for a directory) beneath dirfd
 * without following a symlink: links are unlinked, never entered.
 * Fails with ENOENT when leaf is absent.
 */
int
beneath_rmtree(int dirfd, const char *leaf, struct ls_err *err)
{
	struct buf	 path;
	char		*sub, *slash;
	size_t		 toplen = strlen(leaf);
	int		 r, again = 0;

	if (unlinkat(dirfd, leaf, 0) == 0)
		return 0;
	if (errno != EISDIR) {
		open_error(err, "remove", leaf);
		return -1;
	}
	buf_init(&path);
	buf_addstr(&path, leaf);
	for (;;) {
		if ((r = rm_level(dirfd, path.data, &sub, err)) == -1)
			break;
		if (r == 1) {
			buf_addch(&path, '/');
			buf_addstr(&path, sub);
			free(sub);
			continue;
		}
		if ((r = rmdir_path(dirfd, path.data, err)) == -1) {
			if (errno == ENOTEMPTY && again++ < BENEATH_REFILLS)
				continue;
			break;
		}
		if (path.len == toplen)
			break;
		slash = strrchr(path.data, '/');
		path.len = (size_t)(slash - path.data);
		*slash = '\0';
	}
	buf_release(&path);
	return r;
}

static int
is_dir(int dirfd, const struct dirent *de)
{
	struct stat	 st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode);
}

/*
 * Remove the temporary names in the directory at path, then recurse.
 * The directory is closed before descending: holding one fd per level
 * would let a deep tree exhaust the fd table.
 */
static int
sweep_dir(int rootfd, struct buf *path, struct ls_err *err)
{
	struct dirent	*de;
	struct buf	 subs;
	DIR		*d;
	char		*s;
	size_t		 keep = path->len;
	int		 fd, r = -1;

	if ((fd = beneath_openat(rootfd, path->data, O_RDONLY | O_DIRECTORY,
	    err)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		open_error(err, "read directory", path->data);
		return -1;
	}
	buf_init(&subs);
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (beneath_is_tmp(de->d_name)) {
			if (beneath_rmtree(fd, de->d_name, err) == -1 &&
			    errno != ENOENT)
				goto done;
		} else if (is_dir(fd, de))
			buf_add(&subs, de->d_name, strlen(de->d_name) + 1);
	}
	if (errno != 0) {
		open_error(err, "read directory", path->data);
		goto done;
	}
	closedir(d);
	d = NULL;
	for (s = subs.data; s < subs.data + subs.len; s += strlen(s) + 1) {
		if (keep > 0)
			buf_addch(path, '/');
		buf_addstr(path, s);
		r = sweep_dir(rootfd, path, err);
		path->len = keep;
		path->data[keep] = '\0';
		if (r == -1)
			goto done;
	}
	r = 0;
done:
	if (d != NULL)
		closedir(d);
	buf_release(&subs);
	return r;
}

/*
 * Remove every BENEATH_TMP_PREFIX name beneath rootfd, never following
 * a symlink; apply's temporaries left by a crash.
 */
int
beneath_sweep(int rootfd, struct ls_err *err)
{
	struct buf	 path;
	int		 r;

	buf_init(&path);
	r = sweep_dir(rootfd, &path, err);
	buf_release(&path);
	return r;
}

/* beneath_rmtree of dir/leaf, by dir's path; an absent one is no error. */
int
rmtree_in(const char *dir, const char *leaf, struct ls_err *err)
{
	int	 fd, r = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		ls_err_sys(err, "%s", dir);
		return -1;
	}
	if (beneath_rmtree(fd, leaf, err) == -1 && errno != ENOENT)
		r = -1;
	close(fd);
	return r;
}
