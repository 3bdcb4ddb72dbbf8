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
#include "flush.h"
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
staged_stat(int stagefd, const char *name, struct stat *st,
    struct ls_err *err)
{
	if (fstatat(stagefd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	ls_err_sys(err, "stage %s", name);
	return -1;
}

static int
staged_exists(int stagefd, const char *name, struct ls_err *err)
{
	struct stat	 st;

	return staged_stat(stagefd, name, &st, err);
}

void
journal_forget_parent(struct journal *j)
{
	if (j->move_pfd != -1)
		close(j->move_pfd);
	j->move_pfd = -1;
	free(j->move_dir);
	j->move_dir = NULL;
}

/*
 * The parent directory of path, kept for the next move: a burst's
 * files mostly go into one directory, and opening it beneath the root
 * each time cost as much as the rename. The fd stays the journal's;
 * the apply is given its own, to fsync at the phase's end. Moving a
 * non-directory onto a name cannot replace a directory (rename(2)
 * refuses), so the path keeps naming the same directory until an
 * operation that can change directories: op_move forgets it after
 * moving a directory or removing what was in the way, and every other
 * kind of operation and every phase's end forget it too.
 */
static int
move_parent(struct journal *j, struct apply *ap, const char *path,
    const char **leafp, struct ls_err *err)
{
	const char	*slash = strrchr(path, '/');
	size_t		 dlen = slash != NULL ? (size_t)(slash - path) : 0;
	int		 pfd;

	if (j->move_dir != NULL && strlen(j->move_dir) == dlen &&
	    strncmp(j->move_dir, path, dlen) == 0 &&
	    path_valid(path, NULL) == 0) {
		*leafp = slash != NULL ? slash + 1 : path;
		return j->move_pfd;
	}
	journal_forget_parent(j);
	if ((pfd = beneath_parent(j->rootfd, path, leafp, err)) == -1)
		return -1;
	apply_note_dir(ap, fcntl(pfd, F_DUPFD_CLOEXEC, 0));
	j->move_pfd = pfd;
	j->move_dir = xstrndup(path, dlen);
	return pfd;
}

static int
op_move(struct journal *j, struct apply *ap, const struct jop *op,
    struct ls_err *err)
{
	struct stat	 st;
	const char	*leaf;
	int		 pfd, r, tries;

	if ((r = staged_stat(j->stagefd, op->a, &st, err)) != 1)
		return r;	/* 0: it already ran */
	if ((pfd = move_parent(j, ap, op->b, &leaf, err)) == -1)
		return -1;
	for (tries = 0; tries < 2; tries++) {
		if (renameat(j->stagefd, op->a, pfd, leaf) == 0)
			break;
		/* rename(2) will not put a file over a dir or replace a
		 * non-empty dir: remove the old entry, then try again. */
		if (tries > 0 || (errno != EISDIR && errno != ENOTDIR &&
		    errno != ENOTEMPTY && errno != EEXIST)) {
			ls_err_sys(err, "move into %s", op->b);
			journal_forget_parent(j);
			return -1;
		}
		if (apply_remove(ap, op->b, err) == -1) {
			journal_forget_parent(j);
			return -1;
		}
	}
	if (tries > 0 || S_ISDIR(st.st_mode))
		journal_forget_parent(j);
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

/* len bytes of the stage at soff go to fd at off. */
static int
copy_range(int sfd, off_t soff, int fd, off_t off, off_t len)
{
	char	 buf[256 * 1024];
	off_t	 done = 0;
	ssize_t	 n, w;

	while (done < len) {
		if ((n = pread(sfd, buf, (size_t)(len - done) < sizeof(buf) ?
		    (size_t)(len - done) : sizeof(buf), soff + done)) <= 0) {
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
 * Can the twin's file live take the staged st's bytes in place? Only
 * the one file the primary compared against: one link (another name
 * would change too), the owner and mode the entry has, and no xattrs
 * (the entry's would have to replace them).
 */
static int
fits_in_place(int fd, const struct stat *live, const struct stat *st)
{
	return live->st_nlink == 1 && live->st_uid == st->st_uid &&
	    live->st_gid == st->st_gid &&
	    (live->st_mode & 07777) == (st->st_mode & 07777) &&
	    fd_has_copyable_xattrs(fd) == 0;
}

/* Open the stage (sfd, st) and the twin's regular file (fd, live). */
static int
open_in_place(struct journal *j, const struct jop *op, int *sfd,
    struct stat *st, struct stat *live, struct ls_err *err)
{
	int	 fd;

	if ((*sfd = openat(j->stagefd, op->a, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(*sfd, st) == -1) {
		ls_err_sys(err, "stage %s", op->a);
		if (*sfd != -1)
			close(*sfd);
		return -1;
	}
	if ((fd = beneath_open_reg(j->rootfd, op->b, O_WRONLY, live,
	    err)) == -1)
		close(*sfd);
	return fd;
}

/* The twin's file has its new bytes: its size, times, then durable. */
static int
finish_in_place(struct journal *j, const struct jop *op, int fd,
    const struct stat *st, off_t size, struct ls_err *err)
{
	struct timespec	 ts[2] = { st->st_atim, st->st_mtim };

	if (ftruncate(fd, size) == -1 || futimens(fd, ts) == -1 ||
	    flush_fd(fd) == -1) {
		ls_err_sys(err, "%s", op->b);
		return -1;
	}
	if (unlinkat(j->stagefd, op->a, 0) == -1) {
		ls_err_sys(err, "stage %s", op->a);
		return -1;
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
	unsigned long long	 off = strtoull(op->c, NULL, 10);
	int			 sfd, fd, r;

	if ((r = staged_exists(j->stagefd, op->a, err)) != 1)
		return r;
	if ((fd = open_in_place(j, op, &sfd, &st, &live, err)) == -1)
		return -1;
	r = -1;
	if (!fits_in_place(fd, &live, &st) ||
	    (unsigned long long)live.st_size < off ||
	    off > (unsigned long long)INT64_MAX - (unsigned long long)st.st_size) {
		ls_err_set(err, "%s: not the file the primary appended to",
		    op->b);
		errno = EINVAL;		/* a misfit: shipped again */
	} else if (copy_range(sfd, 0, fd, (off_t)off, st.st_size) == -1)
		ls_err_sys(err, "append to %s", op->b);
	else
		r = finish_in_place(j, op, fd, &st, (off_t)off + st.st_size,
		    err);
	close(fd);
	close(sfd);
	return r;
}

/*
 * PATCH: the stage is the new file, sparse but for the ranges that
 * differ from the twin's file; those ranges go in place, then the
 * file takes the new size. Like an append, a replay writes the same
 * bytes again, and the stage goes last. A twin's file that does not
 * fit (see fits_in_place) is shipped again whole.
 */
static int
op_patch(struct journal *j, const struct jop *op, struct ls_err *err)
{
	struct frame_range	 rg[FRAME_MAX_RANGES];
	struct stat		 st, live;
	int			 n = journal_ranges_parse(op->c, rg);
	int			 i, sfd, fd, r;

	if ((r = staged_exists(j->stagefd, op->a, err)) != 1)
		return r;
	if ((fd = open_in_place(j, op, &sfd, &st, &live, err)) == -1)
		return -1;
	r = -1;
	if (!fits_in_place(fd, &live, &st)) {
		ls_err_set(err, "%s: not the file the primary patched", op->b);
		errno = EINVAL;		/* a misfit: shipped again */
		goto out;
	}
	for (i = 0; i < n; i++)
		if (rg[i].off + rg[i].len > (uint64_t)st.st_size ||
		    copy_range(sfd, (off_t)rg[i].off, fd, (off_t)rg[i].off,
		    (off_t)rg[i].len) == -1) {
			if (rg[i].off + rg[i].len > (uint64_t)st.st_size)
				errno = EIO;	/* the stage is not ours */
			ls_err_sys(err, "patch %s", op->b);
			goto out;
		}
	r = finish_in_place(j, op, fd, &st, st.st_size, err);
out:
	close(fd);
	close(sfd);
	return r;
}

/* Decimal digits at *s (at most 19) into *v; *s moves past them. */
static int
take_u64(const char **s, uint64_t *v)
{
	size_t	 n = strspn(*s, "0123456789");
	char	 digits[20];

	if (n == 0 || n > 19)
		return -1;
	memcpy(digits, *s, n);
	digits[n] = '\0';
	*v = strtoull(digits, NULL, 10);
	*s += n;
	return 0;
}

int
journal_ranges_parse(const char *s, struct frame_range *r)
{
	struct frame_range	 one;
	uint64_t		 end = 0;
	int			 n = 0;

	if (strcmp(s, JOURNAL_NO_RANGES) == 0)
		return 0;
	for (;;) {
		if (take_u64(&s, &one.off) == -1 || *s++ != '+' ||
		    take_u64(&s, &one.len) == -1 || n == FRAME_MAX_RANGES ||
		    one.len == 0 || (n > 0 && one.off <= end) ||
		    one.off > (uint64_t)INT64_MAX - one.len)
			return -1;
		end = one.off + one.len;
		if (r != NULL)
			r[n] = one;
		n++;
		if (*s == '\0')
			return n;
		if (*s++ != ',')
			return -1;
	}
}

int
journal_run_op(struct journal *j, struct apply *ap, const struct jop *op,
    struct ls_err *err)
{
	if (op->kind != JOP_MOVE)
		journal_forget_parent(j);
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
	case JOP_PATCH:
		return op_patch(j, op, err);
	default:
		return 0;
	}
}
