/*
 * handover: see handover.h. The list file holds the paths separated by
 * NUL bytes (a path may hold any other byte), each checked again with
 * path_valid() when read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "beneath.h"
#include "buf.h"
#include "conf.h"
#include "fsutil.h"
#include "handover.h"
#include "index.h"
#include "runtime.h"
#include "tree.h"
#include "xmalloc.h"

void
pathlist_add(struct pathlist *l, const char *path)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(path);
}

void
pathlist_clear(struct pathlist *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
seed_one(const char *path, const struct stat *st, void *arg)
{
	struct index_stat	 ist;

	index_stat_from(&ist, st);
	index_set(arg, path, &ist);
	return 1;
}

/* Fill ix with every entry of the tree, as it is now. */
int
handover_seed(int rootfd, struct index *ix, struct ls_err *err)
{
	return tree_walk(rootfd, seed_one, ix, err);
}

struct diverge {
	const struct index	*acked;
	struct index		*seen;
	struct pathlist		*out;
};

static int
diverge_one(const char *path, const struct stat *st, void *arg)
{
	struct diverge		*d = arg;
	const struct index_stat	*old = index_get(d->acked, path);
	struct index_stat	 ist;

	index_stat_from(&ist, st);
	index_set(d->seen, path, &ist);
	if (old == NULL || !index_stat_same(old, &ist))
		pathlist_add(d->out, path);
	return 1;	/* a new directory's entries are all listed too */
}

static void
gone_one(const char *path, const struct index_stat *st, void *arg)
{
	struct diverge	*d = arg;

	(void)st;
	if (path[0] != '\0' && index_get(d->seen, path) == NULL)
		pathlist_add(d->out, path);
}

/* Every path where the tree and the acknowledged index disagree. */
int
handover_diverged(int rootfd, const struct index *acked,
    struct pathlist *out, struct ls_err *err)
{
	struct diverge	 d = { acked, index_new(), out };
	int		 r;

	if ((r = tree_walk(rootfd, diverge_one, &d, err)) == 0)
		index_walk(acked, gone_one, &d);
	index_free(d.seen);
	return r;
}

int
handover_save(const char *statedir, const struct pathlist *l,
    struct ls_err *err)
{
	struct buf	 b;
	size_t		 i;
	int		 r;

	buf_init(&b);
	for (i = 0; i < l->n; i++)
		buf_add(&b, l->v[i], strlen(l->v[i]) + 1);
	r = write_durably(statedir, HANDOVER_FILE, &b, err);
	buf_release(&b);
	return r;
}

/* Returns 1 with the list, 0 if there is none, -1 on error. */
int
handover_load(const char *statedir, struct pathlist *l, struct ls_err *err)
{
	struct buf	 b;
	size_t		 off, len;
	int		 r;

	buf_init(&b);
	if ((r = read_whole(statedir, HANDOVER_FILE, &b, err)) != 1)
		goto out;
	for (off = 0; off < b.len; off += len + 1) {
		len = strlen(b.data + off);
		if (off + len == b.len || path_valid(b.data + off, err) == -1 ||
		    len == 0) {
			if (len == 0 || off + len == b.len)
				ls_err_set(err, "%s/%s: malformed at byte %zu",
				    statedir, HANDOVER_FILE, off);
			pathlist_clear(l);
			r = -1;
			goto out;
		}
		pathlist_add(l, b.data + off);
	}
out:
	buf_release(&b);
	return r;
}

int
handover_clear(const char *statedir, struct ls_err *err)
{
	char	*path = xasprintf("%s/%s", statedir, HANDOVER_FILE);
	int	 dfd = -1, r = 0;

	if (unlink(path) == -1 && errno != ENOENT) {
		ls_err_sys(err, "%s", path);
		r = -1;
	} else if ((dfd = open(statedir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || fsync(dfd) == -1) {
		ls_err_sys(err, "%s: fsync", statedir);
		r = -1;
	}
	if (dfd != -1)
		close(dfd);
	free(path);
	return r;
}

/*
 * Take the twin's lock, waiting for whoever holds it (a commit runs to
 * its end). Returns the fd that holds it: close it to release.
 */
int
twin_lock(const char *statedir, struct ls_err *err)
{
	char	*path = xasprintf("%s/lock", statedir);
	int	 fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		ls_err_sys(err, "%s", path);
	else {
		while (flock(fd, LOCK_EX) == -1)
			if (errno != EINTR) {
				ls_err_sys(err, "%s: flock", path);
				close(fd);
				fd = -1;
				break;
			}
	}
	free(path);
	return fd;
}

/*
 * The container names kept under state_dir/sub: "containers" (this host
 * is their primary) or "twins" (it holds their twins). NULL if none.
 */
char **
state_names(const char *state_dir, const char *sub)
{
	char		*dir = xasprintf("%s/%s", state_dir, sub);
	char		**names = NULL;
	struct dirent	*de;
	DIR		*d;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (conf_name_valid(de->d_name))
				names = strv_add(names, de->d_name);
		closedir(d);
	}
	free(dir);
	return names;
}
