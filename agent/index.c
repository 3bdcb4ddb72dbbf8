/*
 * index: a chained hash table keyed by path (FNV-1a), grown at load
 * factor 1. Saved as a text file, one entry per line, written to a
 * temporary name, fsynced and renamed, so a crash leaves the old one.
 *
 *	layersync-index 2 GEN
 *	MODE UID GID SIZE MSEC MNSEC CSEC CNSEC RDEV INO NLINK PATH
 *
 * Numbers are decimal; PATH is escaped (escape.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "escape.h"
#include "index.h"
#include "xmalloc.h"

#define INDEX_MIN_BUCKETS	1024

struct index_entry {
	struct index_entry	*next;
	char			*path;
	uint64_t		 hash;
	struct index_stat	 st;
};

struct index {
	struct index_entry	**buckets;
	size_t			  nbuckets;
	size_t			  count;
};

static uint64_t
hash_path(const char *s)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

struct index *
index_new(void)
{
	struct index	*ix = xcalloc(1, sizeof(*ix));

	ix->nbuckets = INDEX_MIN_BUCKETS;
	ix->buckets = xcalloc(ix->nbuckets, sizeof(*ix->buckets));
	return ix;
}

void
index_free(struct index *ix)
{
	struct index_entry	*e, *next;
	size_t			 i;

	if (ix == NULL)
		return;
	for (i = 0; i < ix->nbuckets; i++)
		for (e = ix->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->path);
			free(e);
		}
	free(ix->buckets);
	free(ix);
}

static struct index_entry **
slot(const struct index *ix, const char *path, uint64_t h)
{
	struct index_entry	**p = &ix->buckets[h % ix->nbuckets];

	while (*p != NULL && ((*p)->hash != h || strcmp((*p)->path, path)))
		p = &(*p)->next;
	return p;
}

static void
grow(struct index *ix)
{
	struct index_entry	**old = ix->buckets, *e, *next;
	size_t			  i, n = ix->nbuckets;

	ix->nbuckets = n * 2;
	ix->buckets = xcalloc(ix->nbuckets, sizeof(*ix->buckets));
	for (i = 0; i < n; i++)
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			e->next = ix->buckets[e->hash % ix->nbuckets];
			ix->buckets[e->hash % ix->nbuckets] = e;
		}
	free(old);
}

void
index_set(struct index *ix, const char *path, const struct index_stat *st)
{
	uint64_t		 h = hash_path(path);
	struct index_entry	**p = slot(ix, path, h), *e;

	if (*p != NULL) {
		(*p)->st = *st;
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->path = xstrdup(path);
	e->hash = h;
	e->st = *st;
	*p = e;
	if (++ix->count > ix->nbuckets)
		grow(ix);
}

const struct index_stat *
index_get(const struct index *ix, const char *path)
{
	struct index_entry	*e = *slot(ix, path, hash_path(path));

	return e != NULL ? &e->st : NULL;
}

void
index_del(struct index *ix, const char *path)
{
	struct index_entry	**p = slot(ix, path, hash_path(path)), *e;

	if ((e = *p) == NULL)
		return;
	*p = e->next;
	free(e->path);
	free(e);
	ix->count--;
}

static int
under(const char *path, const char *dir, size_t dlen)
{
	return strncmp(path, dir, dlen) == 0 && path[dlen] == '/';
}

/* Drop path and everything beneath it. */
void
index_del_tree(struct index *ix, const char *path)
{
	struct index_entry	**p, *e;
	size_t			  i, dlen = strlen(path);

	for (i = 0; i < ix->nbuckets; i++)
		for (p = &ix->buckets[i]; (e = *p) != NULL;) {
			if (strcmp(e->path, path) == 0 ||
			    under(e->path, path, dlen)) {
				*p = e->next;
				free(e->path);
				free(e);
				ix->count--;
			} else
				p = &e->next;
		}
}

/*
 * path as it reads after renaming from to to: a new string if path is
 * from or lies beneath it, else NULL.
 */
char *
path_reparent(const char *path, const char *from, const char *to)
{
	size_t	 flen = strlen(from);

	if (strcmp(path, from) != 0 && !under(path, from, flen))
		return NULL;
	return xasprintf("%s%s", to, path + flen);
}

/* Move from (and, for a directory, everything beneath it) to to. */
void
index_rename(struct index *ix, const char *from, const char *to)
{
	struct index_entry	**p, *e, *moved = NULL;
	size_t			  i, flen = strlen(from);
	char			 *np;

	if (strcmp(from, to) == 0)
		return;
	index_del_tree(ix, to);
	for (i = 0; i < ix->nbuckets; i++)
		for (p = &ix->buckets[i]; (e = *p) != NULL;) {
			if (strcmp(e->path, from) == 0 ||
			    under(e->path, from, flen)) {
				*p = e->next;
				e->next = moved;
				moved = e;
				ix->count--;
			} else
				p = &e->next;
		}
	while ((e = moved) != NULL) {
		moved = e->next;
		np = path_reparent(e->path, from, to);
		index_set(ix, np, &e->st);
		free(np);
		free(e->path);
		free(e);
	}
}

size_t
index_count(const struct index *ix)
{
	return ix->count;
}

void
index_walk(const struct index *ix, index_walk_cb *cb, void *arg)
{
	struct index_entry	*e, *next;
	size_t			 i;

	for (i = 0; i < ix->nbuckets; i++)
		for (e = ix->buckets[i]; e != NULL; e = next) {
			next = e->next;	/* cb may delete e */
			cb(e->path, &e->st, arg);
		}
}

void
index_stat_from(struct index_stat *is, const struct stat *st)
{
	memset(is, 0, sizeof(*is));
	is->mode = st->st_mode;
	is->uid = st->st_uid;
	is->gid = st->st_gid;
	is->size = (uint64_t)st->st_size;
	is->mtime_sec = st->st_mtim.tv_sec;
	is->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	is->ctime_sec = st->st_ctim.tv_sec;
	is->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	is->rdev = st->st_rdev;
	is->ino = st->st_ino;
	is->nlink = (uint32_t)st->st_nlink;
}

/*
 * Timestamps come from a coarse clock (a tick, up to 10 ms): a change
 * made in the same tick as a read leaves mtime and ctime as they were.
 * An entry read that soon after its last change is recorded as racy,
 * with a ctime no file has, so that the next look at it ships it again
 * rather than trusting equal stats (git's "racily clean" entries).
 */
void
index_stat_racy(struct index_stat *st)
{
	struct timespec	 now;
	long long	 age_ms;

	clock_gettime(CLOCK_REALTIME, &now);
	age_ms = ((long long)now.tv_sec - st->ctime_sec) * 1000 +
	    ((long long)now.tv_nsec - st->ctime_nsec) / 1000000;
	if (age_ms < INDEX_RACY_MS)
		st->ctime_nsec = INDEX_RACY_NSEC;
}

int
index_stat_same(const struct index_stat *a, const struct index_stat *b)
{
	/* Field by field: the struct has padding. */
	return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
	    a->size == b->size && a->mtime_sec == b->mtime_sec &&
	    a->mtime_nsec == b->mtime_nsec && a->ctime_sec == b->ctime_sec &&
	    a->ctime_nsec == b->ctime_nsec && a->rdev == b->rdev &&
	    a->ino == b->ino && a->nlink == b->nlink;
}

struct save_ctx {
	FILE		*f;
	struct buf	 line;
};

static void
save_one(const char *path, const struct index_stat *st, void *arg)
{
	struct save_ctx	*c = arg;

	fprintf(c->f, "%" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %"
	    PRId64 " %" PRIu32 " %" PRId64 " %" PRIu32 " %" PRIu64 " %"
	    PRIu64 " %" PRIu32 " ", st->mode, st->uid, st->gid, st->size,
	    st->mtime_sec, st->mtime_nsec, st->ctime_sec, st->ctime_nsec,
	    st->rdev, st->ino, st->nlink);
	buf_reset(&c->line);
	escape_field(&c->line, path);
	buf_addch(&c->line, '\n');
	fwrite(c->line.data, 1, c->line.len, c->f);
}

int
index_save(const struct index *ix, uint64_t gen, const char *path,
    struct ls_err *err)
{
	struct save_ctx	 c;
	char		*tmp = xasprintf("%s.tmp", path);
	int		 fd = -1, r = -1;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || (c.f = fdopen(fd, "w")) == NULL) {
		ls_err_sys(err, "index %s", tmp);
		if (fd != -1)
			close(fd);
		goto out;
	}
	fprintf(c.f, "layersync-index 2 %" PRIu64 "\n", gen);
	buf_init(&c.line);
	index_walk(ix, save_one, &c);
	buf_release(&c.line);
	if (fflush(c.f) == EOF || fsync(fd) == -1) {
		ls_err_sys(err, "index %s: write", tmp);
		fclose(c.f);
		goto out;
	}
	if (fclose(c.f) == EOF || rename(tmp, path) == -1) {
		ls_err_sys(err, "index %s", path);
		goto out;
	}
	r = 0;
out:
	if (r == -1)
		unlink(tmp);
	free(tmp);
	return r;
}

struct index *
index_load(const char *path, uint64_t *gen, struct ls_err *err)
{
	struct index		*ix;
	struct index_stat	 st;
	FILE			*f;
	char			*line = NULL;
	size_t			 cap = 0;
	ssize_t			 n;
	int			 off, lineno = 1;

	if ((f = fopen(path, "re")) == NULL) {
		ls_err_sys(err, "index %s", path);
		return NULL;
	}
	if (fscanf(f, "layersync-index 2 %" SCNu64 "\n", gen) != 1) {
		ls_err_set(err, "index %s: bad header", path);
		fclose(f);
		return NULL;
	}
	ix = index_new();
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		memset(&st, 0, sizeof(st));
		if (sscanf(line, "%" SCNu32 " %" SCNu32 " %" SCNu32 " %" SCNu64
		    " %" SCNd64 " %" SCNu32 " %" SCNd64 " %" SCNu32 " %" SCNu64
		    " %" SCNu64 " %" SCNu32 " %n", &st.mode, &st.uid, &st.gid,
		    &st.size, &st.mtime_sec, &st.mtime_nsec, &st.ctime_sec,
		    &st.ctime_nsec, &st.rdev, &st.ino, &st.nlink, &off) != 11 ||
		    unescape_field(line + off) == -1) {
			ls_err_set(err, "index %s:%d: malformed entry", path,
			    lineno);
			index_free(ix);
			ix = NULL;
			break;
		}
		index_set(ix, line + off, &st);
	}
	free(line);
	fclose(f);
	return ix;
}
