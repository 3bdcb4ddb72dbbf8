/*
 * apply: see apply.h for what an applied entry guarantees.
 *
 * Every path comes through beneath_parent(): the parent directory is
 * opened beneath the root without following symlinks, and the work is
 * done with *at() calls on a single component. The temporary object is
 * always made by this process with an exclusive create (O_EXCL, mkdir,
 * mknod, symlink, link all fail on an existing name), so calls on the
 * temporary name cannot be redirected by anything in the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "apply.h"
#include "beneath.h"
#include "buf.h"
#include "flush.h"
#include "xmalloc.h"

#define APPLY_TMP_LEN	(sizeof(BENEATH_TMP_PREFIX) + 16) /* name + NUL */
#define APPLY_TMP_TRIES	8	/* fresh random names after EEXIST */
#define APPLY_XATTR_TRIES 4	/* list again when the list grew */

struct dirty {
	dev_t	 dev;
	ino_t	 ino;
	int	 fd;
};

struct apply {
	int		 rootfd;
	struct dirty	*dirty;		/* APPLY_MAX_DIRTY slots */
	size_t		 ndirty;
	int		 sync_all;	/* some dir not recorded: syncfs */
	int		 staged;	/* files fsynced at apply_sync() */
	int		 root_dirty;	/* staged: root recorded since sync */
	uid_t		 new_uid;	/* staged: the owner a new file gets */
	gid_t		 new_gid;
};

struct apply_file {
	struct apply		*ap;
	struct apply_entry	 e;	/* path, xattrs: into store */
	struct apply_xattr	*xattrs;
	char			*store;
	const char		*leaf;	/* into e.path */
	int			 pfd;	/* -1: made at its name (staged) */
	int			 fd;
	uint64_t		 end;	/* written up to here, at most */
	char			 tmp[APPLY_TMP_LEN];
};

/*
 * Below this size a staged file leaves its writeback to apply_sync():
 * starting it early costs a call and an I/O per file, and buys nothing
 * when the whole file went out in one write.
 */
#define APPLY_EARLY_WRITEBACK	(64 * 1024)

/* Per-mount overlayfs state: file handles, a uuid, link counts. */
static const char *const xattr_per_mount[] = {
	"origin", "impure", "nlink", "uuid", "upper"
};

/*
 * user.overlay.* is the same state on "userxattr" mounts (rootless).
 * security.selinux is left to the standby's policy: podman gives the
 * twin its own MCS label, and the primary's would lock it out.
 */
int
xattr_copyable(const char *name)
{
	const char	*s = NULL;
	size_t		 i;

	if (strncmp(name, "trusted.overlay.", 16) == 0)
		s = name + 16;
	else if (strncmp(name, "user.overlay.", 13) == 0)
		s = name + 13;
	else if (strcmp(name, "security.selinux") == 0)
		return 0;
	if (s == NULL)
		return 1;
	for (i = 0; i < sizeof(xattr_per_mount) / sizeof(*xattr_per_mount);
	    i++)
		if (strcmp(s, xattr_per_mount[i]) == 0)
			return 0;
	return 1;
}

/* Does fd carry an xattr a twin's file would be given? 1, 0, -1. */
int
fd_has_copyable_xattrs(int fd)
{
	char	 names[8192], *n;
	ssize_t	 len;

	if ((len = flistxattr(fd, names, sizeof(names))) == -1)
		return -1;
	for (n = names; n < names + len; n += strlen(n) + 1)
		if (xattr_copyable(n))
			return 1;
	return 0;
}

static int
fail(struct ls_err *err, const char *op, const char *path)
{
	char	 vis[BENEATH_VIS_LEN];

	ls_err_sys(err, "%s \"%s\"", op, path_vis(path, vis, sizeof(vis)));
	return -1;
}

static int
xattr_fail(struct ls_err *err, const char *op, const char *name,
    const char *path)
{
	char	 vis[BENEATH_VIS_LEN], nvis[BENEATH_VIS_LEN];

	ls_err_sys(err, "%s xattr %s on \"%s\"", op,
	    path_vis(name, nvis, sizeof(nvis)),
	    path_vis(path, vis, sizeof(vis)));
	return -1;
}

struct apply *
apply_new_staged(int rootfd, struct ls_err *err)
{
	struct apply	*ap;
	struct stat	 st;

	if ((ap = apply_new(rootfd, err)) == NULL)
		return NULL;
	if (fstat(ap->rootfd, &st) == -1) {
		ls_err_sys(err, "stage dir");
		apply_free(ap);
		return NULL;
	}
	/* a setgid directory gives its group to what is made in it */
	ap->new_uid = geteuid();
	ap->new_gid = st.st_mode & S_ISGID ? st.st_gid : getegid();
	ap->staged = 1;
	return ap;
}

struct apply *
apply_new(int rootfd, struct ls_err *err)
{
	struct apply	*ap;
	int		 fd;

	/* our own O_RDONLY fd: the caller's may be O_PATH, syncfs needs more */
	if ((fd = beneath_openat(rootfd, "", O_RDONLY | O_DIRECTORY,
	    err)) == -1)
		return NULL;
	ap = xcalloc(1, sizeof(*ap));
	ap->rootfd = fd;
	ap->dirty = xcalloc(APPLY_MAX_DIRTY, sizeof(*ap->dirty));
	return ap;
}

void
apply_free(struct apply *ap)
{
	size_t	 i;

	if (ap == NULL)
		return;
	for (i = 0; i < ap->ndirty; i++)
		close(ap->dirty[i].fd);
	free(ap->dirty);
	close(ap->rootfd);
	free(ap);
}

/*
 * What a flush costs on this host, learnt as it goes (moving averages,
 * ms): an fsync of one entry, or a syncfs of the whole file system,
 * whose cost depends on everything else written there. A batch takes
 * whichever is cheaper for its count of entries: a burst of 500 small
 * files costs one syncfs (2-5 ms on the lab's disk), not 500 flushes
 * (about 0.3 ms each even with writeback already started). If a busy
 * file system makes syncfs slow, its average rises and batches go
 * back to fsyncs, up to APPLY_MAX_DIRTY entries.
 */
static double	 fsync_ms = 0.5, syncfs_ms = 5.0;

static double
elapsed_ms(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void
learn(double *avg, double ms)
{
	*avg = *avg * 0.8 + ms * 0.2;
}

/* Would one syncfs cost less than fsyncing n entries one by one? */
static int
syncfs_cheaper(size_t n)
{
	return n > 1 && (double)n * fsync_ms > syncfs_ms;
}

/* Keep fd, a changed directory (staged: or file), until apply_sync();
 * takes fd over. */
static void
dirty_add(struct apply *ap, int fd)
{
	struct stat	 st;
	size_t		 i;

	if (ap->sync_all || fstat(fd, &st) == -1 ||
	    ap->ndirty == APPLY_MAX_DIRTY) {
		ap->sync_all = 1;
		close(fd);
		return;
	}
	for (i = 0; i < ap->ndirty; i++) {
		if (ap->dirty[i].dev == st.st_dev &&
		    ap->dirty[i].ino == st.st_ino) {
			close(fd);
			return;
		}
	}
	ap->dirty[ap->ndirty].dev = st.st_dev;
	ap->dirty[ap->ndirty].ino = st.st_ino;
	ap->dirty[ap->ndirty++].fd = fd;
	/* decided now, the rest of a large batch need not keep its fds */
	if (syncfs_cheaper(ap->ndirty))
		ap->sync_all = 1;
}

void
apply_note_dir(struct apply *ap, int fd)
{
	dirty_add(ap, fd);
}

void
apply_drop(struct apply *ap)
{
	size_t	 i;

	for (i = 0; i < ap->ndirty; i++)
		close(ap->dirty[i].fd);
	ap->ndirty = 0;
	ap->root_dirty = 0;
	ap->sync_all = 0;
}

int
apply_sync(struct apply *ap, struct ls_err *err)
{
	struct timespec	 t0;
	size_t		 i, n = ap->ndirty;
	int		 r = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		/* a syncfs follows: it covers them all, at one flush */
		if (!ap->sync_all && flush_fd(ap->dirty[i].fd) == -1 && r == 0) {
			ls_err_sys(err, "fsync (inode %llu)",
			    (unsigned long long)ap->dirty[i].ino);
			r = -1;
		}
		close(ap->dirty[i].fd);
	}
	ap->ndirty = 0;
	ap->root_dirty = 0;
	if (!ap->sync_all) {
		if (n > 0 && r == 0)
			learn(&fsync_ms, elapsed_ms(&t0) / (double)n);
		return r;
	}
	if (flush_fs(ap->rootfd) == -1 && r == 0) {
		ls_err_sys(err, "syncfs on the root");
		r = -1;
	} else if (r == 0)
		learn(&syncfs_ms, elapsed_ms(&t0));
	ap->sync_all = 0;
	return r;
}

/* Create e's object at tmp; a regular file returns its open fd. */
static int
make_one(int pfd, const char *tmp, const struct apply_entry *e, int sfd,
    const char *sleaf)
{
	switch (e->kind) {
	case ENTRY_REG:
		return openat(pfd, tmp, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	case ENTRY_DIR:
		return mkdirat(pfd, tmp, 0700);
	case ENTRY_SYMLINK:
		return symlinkat(e->target, pfd, tmp);
	case ENTRY_HARDLINK:
		/* flags 0: a symlink source is linked, never followed */
		return linkat(sfd, sleaf, pfd, tmp, 0);
	case ENTRY_WHITEOUT:
		return mknodat(pfd, tmp, S_IFCHR | 0600, makedev(0, 0));
	case ENTRY_FIFO:
		return mknodat(pfd, tmp, S_IFIFO | 0600, 0);
	case ENTRY_CHR:
		return mknodat(pfd, tmp, S_IFCHR | 0600, e->rdev);
	case ENTRY_BLK:
		return mknodat(pfd, tmp, S_IFBLK | 0600, e->rdev);
	default:
		errno = EINVAL;
		return -1;
	}
}

static int
tmp_make(int pfd, char *tmp, const struct apply_entry *e, int sfd,
    const char *sleaf)
{
	uint64_t	 rnd;
	int		 i, r = -1;

	for (i = 0; i < APPLY_TMP_TRIES; i++) {
		arc4random_buf(&rnd, sizeof(rnd));
		snprintf(tmp, APPLY_TMP_LEN, "%s%016llx", BENEATH_TMP_PREFIX,
		    (unsigned long long)rnd);
		if ((r = make_one(pfd, tmp, e, sfd, sleaf)) != -1 ||
		    errno != EEXIST)
			break;
	}
	return r;
}

/*
 * Move sleaf onto dleaf. rename(2) will not put a directory over a
 * non-directory, nor the reverse, nor over a non-empty directory: then
 * exchange the two, so dleaf is never missing, and remove the old one
 * from sleaf.
 */
static int
replace_at(int sfd, const char *sleaf, int dfd, const char *dleaf,
    const char *path, struct ls_err *err)
{
	if (renameat(sfd, sleaf, dfd, dleaf) == 0)
		return 0;
	if (errno != EISDIR && errno != ENOTDIR && errno != ENOTEMPTY &&
	    errno != EEXIST)
		return fail(err, "rename onto", path);
	if (renameat2(sfd, sleaf, dfd, dleaf, RENAME_EXCHANGE) == -1)
		return fail(err, "exchange onto", path);
	return beneath_rmtree(sfd, sleaf, err);
}

/* The fd's xattr names, NUL-separated, into *bufp (always freed). */
static ssize_t
xattr_names(int fd, char **bufp)
{
	ssize_t	 len = -1;
	int	 i;

	*bufp = NULL;
	for (i = 0; i < APPLY_XATTR_TRIES; i++) {
		if ((len = flistxattr(fd, NULL, 0)) <= 0)
			return len;
		*bufp = xreallocarray(*bufp, (size_t)len, 1);
		if ((len = flistxattr(fd, *bufp, (size_t)len)) != -1 ||
		    errno != ERANGE)
			return len;
	}
	return len;
}

static int
xattr_wanted(const struct apply_entry *e, const char *name)
{
	size_t	 i;

	for (i = 0; i < e->nxattr; i++)
		if (strcmp(e->xattrs[i].name, name) == 0)
			return 1;
	return 0;
}

/* Make fd's copyable xattrs exactly e's; never touch the others. */
static int
xattrs_sync(int fd, const struct apply_entry *e, struct ls_err *err)
{
	const struct apply_xattr	*x;
	char				*names, *n;
	ssize_t				 len;
	size_t				 i;
	int				 r = -1;

	if ((len = xattr_names(fd, &names)) == -1) {
		fail(err, "list xattrs of", e->path);
		goto done;
	}
	for (n = names; len > 0 && n < names + len; n += strlen(n) + 1) {
		if (!xattr_copyable(n) || xattr_wanted(e, n))
			continue;
		if (fremovexattr(fd, n) == -1 && errno != ENODATA) {
			xattr_fail(err, "remove", n, e->path);
			goto done;
		}
	}
	for (i = 0; i < e->nxattr; i++) {
		x = &e->xattrs[i];
		if (xattr_copyable(x->name) &&
		    fsetxattr(fd, x->name, x->value, x->len, 0) == -1) {
			xattr_fail(err, "set", x->name, e->path);
			goto done;
		}
	}
	r = 0;
done:
	free(names);
	return r;
}

static const struct timespec *
mtime_of(const struct apply_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;	/* atime is not replicated */
	ts[1] = e->mtime;
	return ts;
}

/* Metadata of a file or directory, in the order apply.h explains. */
/* owned: fd is a file just made, already owned by e's uid and gid */
static int
meta_fd_owned(int fd, const struct apply_entry *e, int owned,
    struct ls_err *err)
{
	struct timespec	 ts[2];

	if (!owned && fchown(fd, e->uid, e->gid) == -1)
		return fail(err, "chown", e->path);
	if (fchmod(fd, e->mode & 07777) == -1)
		return fail(err, "chmod", e->path);
	if (xattrs_sync(fd, e, err) == -1)
		return -1;
	if (futimens(fd, mtime_of(e, ts)) == -1)
		return fail(err, "set mtime of", e->path);
	return 0;
}

static int
meta_fd(int fd, const struct apply_entry *e, struct ls_err *err)
{
	return meta_fd_owned(fd, e, 0, err);
}

/* Metadata of a symlink or special node we just made at tmp. */
static int
meta_at(int pfd, const char *tmp, const struct apply_entry *e,
    struct ls_err *err)
{
	struct timespec	 ts[2];

	if (fchownat(pfd, tmp, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) == -1)
		return fail(err, "chown", e->path);
	/* a symlink's mode is always 0777; tmp is no symlink otherwise */
	if (e->kind != ENTRY_SYMLINK &&
	    fchmodat(pfd, tmp, e->mode & 07777, 0) == -1)
		return fail(err, "chmod", e->path);
	if (utimensat(pfd, tmp, mtime_of(e, ts), AT_SYMLINK_NOFOLLOW) == -1)
		return fail(err, "set mtime of", e->path);
	return 0;
}

/* Copy path and xattrs into one allocation: the caller's may go. */
static void
file_copy_entry(struct apply_file *f, const struct apply_entry *e)
{
	size_t	 i, total = strlen(e->path) + 1;
	char	*p;

	for (i = 0; i < e->nxattr; i++)
		total += strlen(e->xattrs[i].name) + 1 + e->xattrs[i].len;
	f->store = p = xmalloc(total);
	f->xattrs = xcalloc(e->nxattr, sizeof(*f->xattrs));
	f->e = *e;
	f->e.target = NULL;
	f->e.xattrs = f->xattrs;
	f->e.path = p;
	p = stpcpy(p, e->path) + 1;
	for (i = 0; i < e->nxattr; i++) {
		f->xattrs[i].name = p;
		p = stpcpy(p, e->xattrs[i].name) + 1;
		if (e->xattrs[i].len > 0)
			memcpy(p, e->xattrs[i].value, e->xattrs[i].len);
		f->xattrs[i].value = p;
		f->xattrs[i].len = e->xattrs[i].len;
		p += e->xattrs[i].len;
	}
}

/*
 * In the stage, a file is made at its own name, with no temporary and
 * no rename: nothing refers to the stage until apply_sync() has made
 * the batch durable and the journal names its entries, and a crash
 * before that empties the stage. So a torn file there is never used.
 */
static struct apply_file *
staged_file_open(struct apply *ap, const struct apply_entry *e,
    struct ls_err *err)
{
	struct apply_file	*f;
	int			 fd;

	if (path_valid(e->path, err) == -1)
		return NULL;
	if (strchr(e->path, '/') != NULL) {
		errno = EINVAL;
		fail(err, "stage entries have one component, not", e->path);
		return NULL;
	}
	if ((fd = openat(ap->rootfd, e->path, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		fail(err, "create staged file for", e->path);
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	file_copy_entry(f, e);
	f->leaf = f->e.path;
	f->pfd = -1;
	f->fd = fd;
	f->ap = ap;
	return f;
}

struct apply_file *
apply_file_open(struct apply *ap, const struct apply_entry *e,
    struct ls_err *err)
{
	struct apply_file	*f;
	const char		*leaf;
	int			 pfd;

	if (e->kind != ENTRY_REG || e->size > INT64_MAX) {
		ls_err_set(err, "apply_file_open: bad kind or size");
		errno = EINVAL;
		return NULL;
	}
	if (ap->staged)
		return staged_file_open(ap, e, err);
	if ((pfd = beneath_parent(ap->rootfd, e->path, &leaf, err)) == -1)
		return NULL;
	f = xcalloc(1, sizeof(*f));
	if ((f->fd = tmp_make(pfd, f->tmp, e, -1, NULL)) == -1) {
		fail(err, "create temporary file for", e->path);
		close(pfd);
		free(f);
		return NULL;
	}
	file_copy_entry(f, e);
	f->leaf = f->e.path + (leaf - e->path);
	f->pfd = pfd;
	f->ap = ap;
	return f;
}

int
apply_file_write(struct apply_file *f, uint64_t off, const void *p,
    size_t len, struct ls_err *err)
{
	const char	*c = p;
	ssize_t		 n;

	/* the announced size bounds what a peer can make us store */
	if (off > f->e.size || len > f->e.size - off) {
		errno = EFBIG;
		return fail(err, "write past the announced size of",
		    f->e.path);
	}
	while (len > 0) {
		if ((n = pwrite(f->fd, c, len, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return fail(err, "write", f->e.path);
		}
		c += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	if (off > f->end)
		f->end = off;
	return 0;
}

static void
file_free(struct apply_file *f)
{
	close(f->fd);
	if (f->pfd != -1)
		close(f->pfd);
	free(f->xattrs);
	free(f->store);
	free(f);
}

/* Remove the file's half-made object: its temporary, or its stage name. */
static void
file_unlink(struct apply_file *f)
{
	if (f->pfd == -1)
		(void)unlinkat(f->ap->rootfd, f->leaf, 0);
	else
		(void)unlinkat(f->pfd, f->tmp, 0);
}

void
apply_file_abort(struct apply_file *f)
{
	if (f == NULL)
		return;
	file_unlink(f);
	file_free(f);
}

/* Staged: the file and the stage's directory wait for apply_sync(). */
static void
staged_file_done(struct apply_file *f)
{
	struct apply	*ap = f->ap;

	/*
	 * Start a large file's writeback now, without waiting, so
	 * apply_sync() finds little left to write; it reports what fails.
	 */
	if (f->e.size >= APPLY_EARLY_WRITEBACK)
		flush_start(f->fd);
	if (ap->sync_all)
		return;		/* one syncfs covers it all */
	dirty_add(ap, fcntl(f->fd, F_DUPFD_CLOEXEC, 0));
	if (!ap->root_dirty) {
		dirty_add(ap, fcntl(ap->rootfd, F_DUPFD_CLOEXEC, 0));
		ap->root_dirty = 1;
	}
}

int
apply_file_commit(struct apply_file *f, struct ls_err *err)
{
	int	 r = -1;

	/*
	 * Truncation, not written zeros, makes the holes. The file is new
	 * and only apply_file_write() wrote it: when the writes reached
	 * the size, it has it already (ext4 would still walk its blocks).
	 */
	if (f->end != f->e.size && ftruncate(f->fd, (off_t)f->e.size) == -1) {
		fail(err, "truncate", f->e.path);
		goto done;
	}
	if (meta_fd_owned(f->fd, &f->e, f->pfd == -1 &&
	    f->e.uid == f->ap->new_uid && f->e.gid == f->ap->new_gid,
	    err) == -1)
		goto done;
	if (f->pfd == -1) {
		staged_file_done(f);
		r = 0;
		goto done;
	}
	if (flush_fd(f->fd) == -1) {
		fail(err, "fsync", f->e.path);
		goto done;
	}
	if (replace_at(f->pfd, f->tmp, f->pfd, f->leaf, f->e.path, err) == -1)
		goto done;
	dirty_add(f->ap, f->pfd);
	f->pfd = -1;
	r = 0;
done:
	if (r == -1)
		file_unlink(f);
	file_free(f);
	return r;
}

static int
dir_new(struct apply *ap, int pfd, const char *leaf,
    const struct apply_entry *e, struct ls_err *err)
{
	char	 tmp[APPLY_TMP_LEN];
	int	 fd, r = -1;

	if (tmp_make(pfd, tmp, e, -1, NULL) == -1)
		return fail(err, "create directory", e->path);
	if ((fd = beneath_openat(pfd, tmp, O_RDONLY | O_DIRECTORY,
	    err)) == -1)
		goto done;
	if (meta_fd(fd, e, err) == 0 &&
	    replace_at(pfd, tmp, pfd, leaf, e->path, err) == 0)
		r = 0;
	dirty_add(ap, fd);
done:
	if (r == -1)
		(void)unlinkat(pfd, tmp, AT_REMOVEDIR);
	return r;
}

/* A directory already there keeps its contents: only metadata moves. */
static int
apply_dir(struct apply *ap, const struct apply_entry *e, struct ls_err *err)
{
	const char	*leaf = NULL;
	int		 pfd = -1, fd, r = -1;

	if (*e->path == '\0')
		fd = beneath_open(ap->rootfd, "", O_RDONLY | O_DIRECTORY, 0,
		    err);
	else if ((pfd = beneath_parent(ap->rootfd, e->path, &leaf,
	    err)) == -1)
		return -1;
	else
		fd = beneath_openat(pfd, leaf, O_RDONLY | O_DIRECTORY, err);
	if (fd != -1) {
		r = meta_fd(fd, e, err);
		dirty_add(ap, fd);
	} else if (pfd != -1 && (errno == ENOENT || errno == ENOTDIR ||
	    errno == ELOOP))	/* a symlink or a non-directory there */
		r = dir_new(ap, pfd, leaf, e, err);
	if (pfd != -1)
		dirty_add(ap, pfd);
	return r;
}

/* Symlinks, special nodes, hard links: made at tmp, then renamed. */
static int
apply_tmp(struct apply *ap, const struct apply_entry *e, int sfd,
    const char *sleaf, struct ls_err *err)
{
	char		 tmp[APPLY_TMP_LEN];
	const char	*leaf;
	int		 pfd, r = -1;

	if ((pfd = beneath_parent(ap->rootfd, e->path, &leaf, err)) == -1)
		return -1;
	if (tmp_make(pfd, tmp, e, sfd, sleaf) == -1) {
		fail(err, "create", e->path);
		close(pfd);
		return -1;
	}
	if ((e->kind == ENTRY_HARDLINK || meta_at(pfd, tmp, e, err) == 0) &&
	    replace_at(pfd, tmp, pfd, leaf, e->path, err) == 0)
		r = 0;
	/* gone after a rename, unless a link's two names were one inode */
	(void)unlinkat(pfd, tmp, 0);
	dirty_add(ap, pfd);
	return r;
}

int
apply_node(struct apply *ap, const struct apply_entry *e, struct ls_err *err)
{
	const char	*sleaf = NULL;
	int		 sfd = -1, r;

	switch (e->kind) {
	case ENTRY_DIR:
		return apply_dir(ap, e, err);
	case ENTRY_SYMLINK:
	case ENTRY_HARDLINK:
		if (e->target == NULL || *e->target == '\0' ||
		    strnlen(e->target, BENEATH_PATH_MAX + 1) >
		    BENEATH_PATH_MAX) {
			errno = EINVAL;
			return fail(err, "bad link target for", e->path);
		}
		if (e->kind == ENTRY_HARDLINK && (sfd = beneath_parent(
		    ap->rootfd, e->target, &sleaf, err)) == -1)
			return -1;
		break;
	case ENTRY_WHITEOUT:
	case ENTRY_FIFO:
	case ENTRY_CHR:
	case ENTRY_BLK:
		break;
	default:
		errno = EINVAL;
		return fail(err, "apply_node: kind not handled here for",
		    e->path);
	}
	r = apply_tmp(ap, e, sfd, sleaf, err);
	if (sfd != -1)
		close(sfd);
	return r;
}

int
apply_remove(struct apply *ap, const char *rel, struct ls_err *err)
{
	const char	*leaf;
	int		 pfd;

	if ((pfd = beneath_parent(ap->rootfd, rel, &leaf, err)) == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	if (beneath_rmtree(pfd, leaf, err) == -1 && errno != ENOENT) {
		close(pfd);
		return -1;
	}
	dirty_add(ap, pfd);
	return 0;
}

int
apply_rename(struct apply *ap, const char *from, const char *to,
    struct ls_err *err)
{
	const char	*fleaf, *tleaf;
	int		 ffd, tfd, r;

	if ((ffd = beneath_parent(ap->rootfd, from, &fleaf, err)) == -1)
		return -1;
	if ((tfd = beneath_parent(ap->rootfd, to, &tleaf, err)) == -1) {
		close(ffd);
		return -1;
	}
	r = replace_at(ffd, fleaf, tfd, tleaf, to, err);
	dirty_add(ap, ffd);
	dirty_add(ap, tfd);
	return r;
}

/* After a crash, before applying: every temporary name goes. */
int
apply_sweep_temps(int rootfd, struct ls_err *err)
{
	return beneath_sweep(rootfd, err);
}
