/*
 * journal_op: the operations of a committed batch, each able to tell
 * from the tree whether it already ran, so that a phase replayed after
 * a crash equals a phase run once (see journal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "apply.h"
#include "beneath.h"
#include "journal_int.h"
#include "xmalloc.h"

/* Does rel exist beneath root? 1 yes, 0 no, -1 error. Fills *st. */
static int
exists(int rootfd, const char *rel, struct stat *st, struct ls_err *err)
{
	int	 fd;

	if ((fd = beneath_open(rootfd, rel, O_PATH, 0, err)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, st) == -1) {
		ls_err_sys(err, "fstat");
		close(fd);
		return -1;
	}
	close(fd);
	return 1;
}

static int
staged_exists(int stagefd, const char *name, struct ls_err *err)
{
	struct stat	 st;

	if (fstatat(stagefd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	ls_err_sys(err, "stage %s", name);
	return -1;
}

static int
op_move(struct journal *j, struct apply *ap, const struct jop *op,
    struct ls_err *err)
{
	const char	*leaf;
	int		 pfd, r, tries;

	if ((r = staged_exists(j->stagefd, op->a, err)) != 1)
		return r;	/* 0: it already ran */
	if ((pfd = beneath_parent(j->rootfd, op->b, &leaf, err)) == -1)
		return -1;
	for (tries = 0; tries < 2; tries++) {
		if (renameat(j->stagefd, op->a, pfd, leaf) == 0)
			break;
		/* rename(2) will not put a file over a dir or replace a
		 * non-empty dir: remove the old entry, then try again. */
		if (tries > 0 || (errno != EISDIR && errno != ENOTDIR &&
		    errno != ENOTEMPTY && errno != EEXIST)) {
			ls_err_sys(err, "move into %s", op->b);
			close(pfd);
			return -1;
		}
		if (apply_remove(ap, op->b, err) == -1) {
			close(pfd);
			return -1;
		}
	}
	apply_note_dir(ap, pfd);	/* fsynced at the phase's end */
	return 0;
}

/* A staged directory's metadata, owned here, as an apply_entry. */
struct staged_dir {
	struct apply_entry	 e;
	struct apply_xattr	 xa[FRAME_MAX_XATTRS];
};

static void
staged_dir_clear(struct staged_dir *sd)
{
	size_t	 i;

	for (i = 0; i < sd->e.nxattr; i++) {
		free((char *)(uintptr_t)sd->xa[i].name);
		free((void *)(uintptr_t)sd->xa[i].value);
	}
}

static int
staged_dir_read(int stagefd, const char *name, const char *path,
    struct staged_dir *sd, struct ls_err *err)
{
	char		 names[8192], *n;
	char		 val[FRAME_MAX_XATTR_VALUE];
	struct stat	 st;
	ssize_t		 len, vlen;
	int		 fd;

	memset(sd, 0, sizeof(*sd));
	if ((fd = openat(stagefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 ||
	    (len = flistxattr(fd, names, sizeof(names))) == -1) {
		ls_err_sys(err, "stage %s", name);
		if (fd != -1)
			close(fd);
		return -1;
	}
	sd->e.path = path;
	sd->e.kind = ENTRY_DIR;
	sd->e.mode = st.st_mode & 07777;
	sd->e.uid = st.st_uid;
	sd->e.gid = st.st_gid;
	sd->e.mtime = st.st_mtim;
	sd->e.xattrs = sd->xa;
	for (n = names; n < names + len && sd->e.nxattr < FRAME_MAX_XATTRS;
	    n += strlen(n) + 1) {
		if (!xattr_copyable(n) ||
		    (vlen = fgetxattr(fd, n, val, sizeof(val))) < 0)
			continue;
		sd->xa[sd->e.nxattr].name = xstrdup(n);
		sd->xa[sd->e.nxattr].value = memcpy(xmalloc((size_t)vlen + 1),
		    val, (size_t)vlen);
		sd->xa[sd->e.nxattr++].len = (size_t)vlen;
	}
	close(fd);
	return 0;
}

/*
 * A directory entry: new, it moves into place like anything else; over
 * an existing directory (whose children must stay), only its metadata
 * is applied, read back from the staged copy.
 */
static int
op_dir(struct journal *j, struct apply *ap, const struct jop *op,
    struct ls_err *err)
{
	struct staged_dir	 sd;
	struct stat		 st;
	int			 r;

	if ((r = staged_exists(j->stagefd, op->a, err)) != 1)
		return r;
	if ((r = exists(j->rootfd, op->b, &st, err)) == -1)
		return -1;
	if (r == 0 || !S_ISDIR(st.st_mode))
		return op_move(j, ap, op, err);
	if (staged_dir_read(j->stagefd, op->a, op->b, &sd, err) == -1)
		return -1;
	r = apply_node(ap, &sd.e, err);
	staged_dir_clear(&sd);
	if (r == 0 && unlinkat(j->stagefd, op->a, AT_REMOVEDIR) == -1) {
		ls_err_sys(err, "stage %s", op->a);
		r = -1;
	}
	return r;
}

static int
op_rename(struct journal *j, struct apply *ap, const struct jop *op,
    struct ls_err *err)
{
	struct stat	 st;
	int		 r;

	if ((r = exists(j->rootfd, op->a, &st, err)) != 1)
		return r;	/* source gone: it already ran (or never was) */
	return apply_rename(ap, op->a, op->b, err);
}

static int
op_link(struct journal *j, struct apply *ap, const struct jop *op,
    struct ls_err *err)
{
	struct apply_entry	 e;
	struct stat		 src, dst;
	int			 r;

	if ((r = exists(j->rootfd, op->a, &src, err)) != 1)
		return r == 0 ? 0 : -1;	/* source gone: a later batch */
	if ((r = exists(j->rootfd, op->b, &dst, err)) == -1)
		return -1;
	if (r == 1 && src.st_ino == dst.st_ino && src.st_dev == dst.st_dev)
		return 0;
	memset(&e, 0, sizeof(e));
	e.path = op->b;
	e.kind = ENTRY_HARDLINK;
	e.target = op->a;
	return apply_node(ap, &e, err);
}

static int
copy_tail(int sfd, int fd, off_t off, off_t len)
{
	char	 buf[256 * 1024];
	off_t	 done = 0;
	ssize_t	 n, w;

	while (done < len) {
		if ((n = pread(sfd, buf, (size_t)(len - done) < sizeof(buf) ?
		    (size_t)(len - done) : sizeof(buf), done)) <= 0) {
			if (n == 0)
				errno = EIO;	/* the stage shrank: not ours */
			if (n == -1 && errno == EINTR)
				continue;
			return -1;
		}
		for (w = 0; w < n;) {
			ssize_t	 k = pwrite(fd, buf + w, (size_t)(n - w),
			    off + done + w);

			if (k == -1 && errno != EINTR)
				return -1;
			if (k > 0)
				w += k;
		}
		done += n;
	}
	return 0;
}

/*
 * The staged tail goes in place, at offset, into the twin's file. Run
 * again after a crash it writes the same bytes at the same place, so
 * it is done only once the staged tail is gone, and that happens after
 * the file is fsynced. A file that is not the one the primary's digest
 * matched (shorter than offset, another owner or mode, more links,
 * xattrs) does not fit, and is shipped again whole.
 */
static int
op_append(struct journal *j, const struct jop *op, struct ls_err *err)
{
	struct stat		 st, live;
	struct timespec		 ts[2];
	unsigned long long	 off = strtoull(op->c, NULL, 10);
	int			 sfd, fd = -1, r = -1;

	if ((r = staged_exists(j->stagefd, op->a, err)) != 1)
		return r;
	if ((sfd = openat(j->stagefd, op->a, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(sfd, &st) == -1) {
		ls_err_sys(err, "stage %s", op->a);
		if (sfd != -1)
			close(sfd);
		return -1;
	}
	r = -1;
	if ((fd = beneath_open_reg(j->rootfd, op->b, O_WRONLY, &live,
	    err)) == -1)
		goto out;
	if (live.st_nlink != 1 ||
	    (unsigned long long)live.st_size < off ||
	    off > (unsigned long long)INT64_MAX - (unsigned long long)st.st_size ||
	    live.st_uid != st.st_uid || live.st_gid != st.st_gid ||
	    (live.st_mode & 07777) != (st.st_mode & 07777) ||
	    fd_has_copyable_xattrs(fd) != 0) {
		ls_err_set(err, "%s: not the file the primary appended to",
		    op->b);
		errno = EINVAL;		/* a misfit: shipped again */
		goto out;
	}
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	if (copy_tail(sfd, fd, (off_t)off, st.st_size) == -1 ||
	    ftruncate(fd, (off_t)off + st.st_size) == -1 ||
	    futimens(fd, ts) == -1 || fsync(fd) == -1) {
		ls_err_sys(err, "append to %s", op->b);
		goto out;
	}
	if (unlinkat(j->stagefd, op->a, 0) == -1) {
		ls_err_sys(err, "stage %s", op->a);
		goto out;
	}
	r = 0;
out:
	if (fd != -1)
		close(fd);
	close(sfd);
	return r;
}

int
journal_run_op(struct journal *j, struct apply *ap, const struct jop *op,
    struct ls_err *err)
{
	switch (op->kind) {
	case JOP_MOVE:
		return op_move(j, ap, op, err);
	case JOP_DIR:
		return op_dir(j, ap, op, err);
	case JOP_REMOVE:
		return apply_remove(ap, op->a, err);
	case JOP_RENAME:
		return op_rename(j, ap, op, err);
	case JOP_LINK:
		return op_link(j, ap, op, err);
	case JOP_APPEND:
		return op_append(j, op, err);
	default:
		return 0;
	}
}
