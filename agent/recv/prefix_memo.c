/*
 * prefix_memo: see prefix_memo.h. A few entries, the least recently
 * used one given up for a new file: a twin has few files growing at
 * once (logs, journals), and each entry holds a digest state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beneath.h"
#include "digest.h"
#include "fsutil.h"
#include "prefix_memo.h"
#include "xmalloc.h"

#define PREFIX_MEMO_MAX	16

struct memo_entry {
	char			*path;		/* NULL: a free slot */
	struct stat		 st;		/* the file as last seen */
	struct digest_run	*run;		/* the file's first run->len bytes */
	uint64_t		 used;		/* the memo's clock at last use */
	int			 held;		/* prefix_memo_before() found it
						   the file as it is, and holds
						   it open (its inode number
						   cannot be reused), or -1 */
};

struct prefix_memo {
	struct memo_entry	 e[PREFIX_MEMO_MAX];
	uint64_t		 clock;
};

struct prefix_memo *
prefix_memo_new(void)
{
	struct prefix_memo	*m = xcalloc(1, sizeof(*m));
	size_t			 i;

	for (i = 0; i < PREFIX_MEMO_MAX; i++)
		m->e[i].held = -1;
	return m;
}

static void
drop(struct memo_entry *e)
{
	free(e->path);
	digest_run_free(e->run);
	if (e->held != -1)
		close(e->held);
	memset(e, 0, sizeof(*e));
	e->held = -1;
}

void
prefix_memo_clear(struct prefix_memo *m)
{
	size_t	 i;

	for (i = 0; i < PREFIX_MEMO_MAX; i++)
		drop(&m->e[i]);
}

void
prefix_memo_free(struct prefix_memo *m)
{
	if (m == NULL)
		return;
	prefix_memo_clear(m);
	free(m);
}

static struct memo_entry *
find(struct prefix_memo *m, const char *path)
{
	size_t	 i;

	for (i = 0; i < PREFIX_MEMO_MAX; i++)
		if (m->e[i].path != NULL && strcmp(m->e[i].path, path) == 0)
			return &m->e[i];
	return NULL;
}

/* path's entry, or a slot made for it (the least recently used one). */
static struct memo_entry *
slot_for(struct prefix_memo *m, const char *path)
{
	struct memo_entry	*e, *old = &m->e[0];
	size_t			 i;

	if ((e = find(m, path)) != NULL)
		return e;
	for (i = 0; i < PREFIX_MEMO_MAX; i++) {
		if (m->e[i].path == NULL) {
			old = &m->e[i];
			break;
		}
		if (m->e[i].used < old->used)
			old = &m->e[i];
	}
	drop(old);
	return old;
}

int
prefix_memo_digest(struct prefix_memo *m, const char *path, int fd,
    const struct stat *st, uint64_t len, unsigned char *md)
{
	struct memo_entry	*e = slot_for(m, path);

	e->used = ++m->clock;
	if (e->path != NULL && stat_unchanged(&e->st, st) &&
	    digest_run_len(e->run) == len) {
		digest_run_sum(e->run, md);
		return 0;
	}
	if (e->path == NULL) {
		if ((e->run = digest_run_new()) == NULL)
			return -1;
		e->path = xstrdup(path);
	}
	digest_run_reset(e->run);
	if (e->held != -1)
		close(e->held);
	e->held = -1;
	if (digest_run_extend(e->run, fd, len) == -1) {
		drop(e);
		return -1;
	}
	e->st = *st;
	digest_run_sum(e->run, md);
	return 0;
}

void
prefix_memo_before(struct prefix_memo *m, int rootfd, const char *path,
    uint64_t offset)
{
	struct memo_entry	*e = find(m, path);
	struct stat		 st;
	int			 fd = -1;

	if (e == NULL)
		return;
	/* an append inside the summed bytes would change them */
	if (digest_run_len(e->run) != offset ||
	    (fd = beneath_open_reg(rootfd, path, O_RDONLY, &st, NULL)) == -1 ||
	    !stat_unchanged(&e->st, &st)) {
		if (fd != -1)
			close(fd);
		drop(e);
		return;
	}
	if (e->held != -1)
		close(e->held);
	e->held = fd;
}

void
prefix_memo_after(struct prefix_memo *m, int rootfd, const char *path)
{
	struct memo_entry	*e = find(m, path);
	struct stat		 now, held;
	int			 fd;

	if (e == NULL)
		return;
	if (e->held == -1 ||
	    (fd = beneath_open(rootfd, path, O_PATH, 0, NULL)) == -1) {
		drop(e);
		return;
	}
	/*
	 * The journal appended at run->len, into the inode held since
	 * before (a skipped append left it as it was): the bytes before
	 * are the ones the run summed. A file put in its place is another
	 * inode, whose number cannot be the held one's.
	 */
	if (fstat(fd, &now) == -1 || fstat(e->held, &held) == -1 ||
	    now.st_dev != held.st_dev || now.st_ino != held.st_ino ||
	    (uint64_t)held.st_size < digest_run_len(e->run) ||
	    digest_run_extend(e->run, e->held, (uint64_t)held.st_size) == -1)
		drop(e);
	else {
		e->st = held;
		close(e->held);
		e->held = -1;
	}
	close(fd);
}
