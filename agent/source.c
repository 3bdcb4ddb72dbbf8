/*
 * source: see source.h. ENOENT from source_read means the entry is
 * gone (deleted since the event): the caller ships a removal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "apply.h"
#include "beneath.h"
#include "source.h"
#include "tree.h"
#include "xmalloc.h"

static enum entry_kind
kind_of(const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		return ENTRY_REG;
	case S_IFDIR:
		return ENTRY_DIR;
	case S_IFLNK:
		return ENTRY_SYMLINK;
	case S_IFIFO:
		return ENTRY_FIFO;
	case S_IFBLK:
		return ENTRY_BLK;
	case S_IFCHR:
		return st->st_rdev == makedev(0, 0) ? ENTRY_WHITEOUT :
		    ENTRY_CHR;
	default:
		return 0;	/* sockets are not replicated */
	}
}

/* The copyable xattrs of a file or directory, read through its fd. */
static int
read_xattrs(int fd, struct source_entry *se, struct ls_err *err)
{
	char		 names[16384], val[FRAME_MAX_XATTR_VALUE], *n;
	ssize_t		 len, vlen;

	if ((len = flistxattr(fd, names, sizeof(names))) == -1) {
		if (errno == ENOTSUP)
			return 0;
		ls_err_sys(err, "%s: listxattr", se->path);
		return -1;
	}
	for (n = names; n < names + len; n += strlen(n) + 1) {
		if (!xattr_copyable(n))
			continue;
		if ((vlen = fgetxattr(fd, n, val, sizeof(val))) == -1) {
			if (errno == ENODATA)
				continue;	/* removed meanwhile */
			ls_err_sys(err, "%s: getxattr %s", se->path, n);
			return -1;
		}
		if (se->nxattr == FRAME_MAX_XATTRS || strlen(n) >
		    FRAME_MAX_STR) {
			ls_err_set(err, "%s: too many or too long xattrs",
			    se->path);
			return -1;
		}
		se->xname[se->nxattr] = xstrdup(n);
		se->xvalue[se->nxattr] = memcpy(xmalloc((size_t)vlen + 1), val,
		    (size_t)vlen);
		se->xlen[se->nxattr++] = (size_t)vlen;
	}
	return 0;
}


/* readlinkat(fd, "") reads the symlink an O_PATH fd refers to. */
static int
read_symlink(int pfd, struct source_entry *se, struct ls_err *err)
{
	char		 buf[FRAME_MAX_STR + 1];
	ssize_t		 n;

	if ((n = readlinkat(pfd, "", buf, sizeof(buf))) == -1 ||
	    n > FRAME_MAX_STR) {
		ls_err_sys(err, "%s: readlink", se->path);
		return -1;
	}
	se->target = xmalloc((size_t)n + 1);
	memcpy(se->target, buf, (size_t)n);
	se->target[n] = '\0';
	return 0;
}

int
source_read(int rootfd, const char *path, struct source_entry *se,
    struct ls_err *err)
{
	int	 pfd, rfd = -1, r = -1;

	memset(se, 0, sizeof(*se));
	se->fd = -1;
	se->path = xstrdup(path);
	/* With O_PATH|O_NOFOLLOW a trailing symlink opens as itself. */
	if ((pfd = beneath_open(rootfd, path, O_PATH, 0, err)) == -1)
		return -1;
	if (fstat(pfd, &se->st) == -1) {
		ls_err_sys(err, "%s: fstat", path);
		goto out;
	}
	if ((se->kind = kind_of(&se->st)) == 0) {
		errno = EOPNOTSUPP;
		ls_err_set(err, "%s: sockets are not replicated", path);
		goto out;
	}
	if (se->kind == ENTRY_SYMLINK) {
		r = read_symlink(pfd, se, err);
		goto out;
	}
	if (se->kind == ENTRY_REG || se->kind == ENTRY_DIR) {
		if ((rfd = beneath_reopen(pfd, O_RDONLY | (se->kind == ENTRY_DIR ?
		    O_DIRECTORY : 0))) == -1) {
			ls_err_sys(err, "%s: open", path);
			goto out;
		}
		if (read_xattrs(rfd, se, err) == -1)
			goto out;
		if (se->kind == ENTRY_REG) {
			se->fd = rfd;
			rfd = -1;
		}
	}
	r = 0;
out:
	if (rfd != -1)
		close(rfd);
	close(pfd);
	return r;
}

void
source_entry_clear(struct source_entry *se)
{
	unsigned	 i;

	for (i = 0; i < se->nxattr; i++) {
		free(se->xname[i]);
		free(se->xvalue[i]);
	}
	if (se->fd != -1)
		close(se->fd);
	free(se->path);
	free(se->target);
	memset(se, 0, sizeof(*se));
	se->fd = -1;
}

/* A frame_entry viewing se's strings: valid while se is. */
void
source_to_frame(const struct source_entry *se, struct frame_entry *fe)
{
	unsigned	 i;

	memset(fe, 0, sizeof(*fe));
	fe->path = (struct frame_str){ se->path, strlen(se->path) };
	fe->kind = se->kind;
	fe->mode = se->st.st_mode & 07777;
	fe->uid = se->st.st_uid;
	fe->gid = se->st.st_gid;
	fe->mtime_sec = se->st.st_mtim.tv_sec;
	fe->mtime_nsec = (uint32_t)se->st.st_mtim.tv_nsec;
	fe->rdev = se->kind == ENTRY_CHR || se->kind == ENTRY_BLK ?
	    se->st.st_rdev : 0;
	fe->size = se->kind == ENTRY_REG ? (uint64_t)se->st.st_size : 0;
	if (se->target != NULL)
		fe->target = (struct frame_str){ se->target,
		    strlen(se->target) };
	else
		fe->target = (struct frame_str){ "", 0 };
	fe->nxattr = se->nxattr;
	for (i = 0; i < se->nxattr; i++) {
		fe->xattr[i].name = (struct frame_str){ se->xname[i],
		    strlen(se->xname[i]) };
		fe->xattr[i].value = se->xvalue[i];
		fe->xattr[i].len = se->xlen[i];
	}
}

/*
 * The next data extent at or after `from`, so that holes are never
 * shipped (the receiver leaves them as holes). Returns 0 with
 * [*start, *end), or 1 when only holes remain before size.
 */
int
source_next_data(int fd, off_t from, off_t size, off_t *start, off_t *end)
{
	off_t	 d, h;

	if (from >= size)
		return 1;
	if ((d = lseek(fd, from, SEEK_DATA)) == -1)
		return errno == ENXIO ? 1 : (*start = from, *end = size, 0);
	if (d >= size)
		return 1;
	if ((h = lseek(fd, d, SEEK_HOLE)) == -1 || h > size)
		h = size;
	*start = d;
	*end = h;
	return 0;
}

struct measure {
	uint64_t	*files, *bytes;
};

static int
measure_one(const char *path, const struct stat *st, void *arg)
{
	struct measure	*m = arg;

	(void)path;
	(*m->files)++;
	if (S_ISREG(st->st_mode))
		*m->bytes += (uint64_t)st->st_size;
	return 1;
}

/*
 * Count entries and regular-file bytes beneath the root, for progress
 * and ETA. Stat only, through fds, never following a symlink: a count
 * that a racing container skews is harmless, a traversal outside is not.
 */
void
source_measure(int rootfd, uint64_t *files, uint64_t *bytes)
{
	struct measure	 m = { files, bytes };
	struct ls_err	 err;

	*files = *bytes = 0;
	(void)tree_walk(rootfd, measure_one, &m, &err);	/* a hint only */
}
