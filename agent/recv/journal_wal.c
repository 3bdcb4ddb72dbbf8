/*
 * journal_wal: the twin's small-file log (see journal.h). One record per
 * logged batch, appended to state_dir/twins/NAME/wal:
 *	"LSW1"	 magic
 *	u32	 files
 *	u64	 generation
 *	u64	 body length
 * then the body, then the digest (digest.h, 16 bytes) of all before it
 * in the record. The body, per file:
 *	u32 mode, u32 uid, u32 gid, u32 path length,
 *	i64 mtime seconds, i64 mtime nanoseconds, u64 size,
 *	the path (a wire path), then its bytes.
 * In this host's byte order: the log never leaves the host. A record
 * whose digest does not match is the torn end of the log (the crash came
 * while it was written, before its batch was acknowledged): it and what
 * follows are ignored.
 *
 * Every record in the log is newer than the tree's last flush: the log
 * is emptied, durably, only after a syncfs made the tree hold all it
 * redoes, and before any batch it does not hold commits. So replaying
 * it, in order, file by file, is right whatever part of its batches the
 * crash kept: each record only puts whole files in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply.h"
#include "beneath.h"
#include "buf.h"
#include "digest.h"
#include "flush.h"
#include "fsutil.h"
#include "journal_int.h"
#include "xmalloc.h"

#define WAL_FILE	"wal"
#define WAL_MAGIC	"LSW1"
#define WAL_HEAD_LEN	(4 + 4 + 8 + 8)
#define WAL_FILE_HEAD	(4 * 4 + 8 * 3)

struct wal_head {
	uint32_t	 files;
	uint64_t	 gen;
	uint64_t	 len;
};

static void
put32(struct buf *b, uint32_t v)
{
	buf_add(b, &v, sizeof(v));
}

static void
put64(struct buf *b, uint64_t v)
{
	buf_add(b, &v, sizeof(v));
}

static uint32_t
get32(const char *p)
{
	uint32_t	 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t
get64(const char *p)
{
	uint64_t	 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* A staged file the log can carry: 1 (st filled), 0 not, -1 error. */
static int
loggable(struct journal *j, const struct jop *op, int *fdp, struct stat *st,
    struct ls_err *err)
{
	int	 fd;

	if ((fd = openat(j->stagefd, op->a, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC)) == -1) {
		if (errno == ELOOP || errno == ENXIO)
			return 0;	/* a symlink, a socket */
		ls_err_sys(err, "stage %s", op->a);
		return -1;
	}
	if (fstat(fd, st) == -1) {
		ls_err_sys(err, "stage %s", op->a);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode) || st->st_nlink != 1 ||
	    (uint64_t)st->st_size > JOURNAL_WAL_FILE_MAX ||
	    fd_has_copyable_xattrs(fd) != 0) {
		close(fd);
		return 0;
	}
	*fdp = fd;
	return 1;
}

static int
add_file(struct buf *body, const struct jop *op, int fd,
    const struct stat *st, struct ls_err *err)
{
	size_t	 plen = strlen(op->b), at;
	ssize_t	 n;

	put32(body, (uint32_t)(st->st_mode & 07777));
	put32(body, (uint32_t)st->st_uid);
	put32(body, (uint32_t)st->st_gid);
	put32(body, (uint32_t)plen);
	put64(body, (uint64_t)st->st_mtim.tv_sec);
	put64(body, (uint64_t)st->st_mtim.tv_nsec);
	put64(body, (uint64_t)st->st_size);
	buf_add(body, op->b, plen);
	at = body->len;
	buf_grow(body, (size_t)st->st_size);
	n = pread(fd, body->data + at, (size_t)st->st_size, 0);
	if (n != (ssize_t)st->st_size) {
		if (n >= 0)
			errno = EIO;	/* the stage is ours: it cannot shrink */
		ls_err_sys(err, "stage %s", op->a);
		return -1;
	}
	body->len += (size_t)n;
	return 0;
}

/*
 * The record of j's batch, if every operation moves a staged regular
 * file the log can carry: 1 (in *rec), 0 if the batch is not for the
 * log, -1 on error.
 */
static int
build(struct journal *j, uint64_t gen, struct buf *rec, struct ls_err *err)
{
	unsigned char	 md[DIGEST_SUM_LEN];
	struct jop	*op;
	struct stat	 st;
	struct buf	 body;
	uint32_t	 files = 0;
	int		 fd = -1, r = 1;

	TAILQ_FOREACH(op, &j->ops, entry)
		if (op->kind != JOP_PHASE && op->kind != JOP_MOVE)
			return 0;
	buf_init(&body);
	TAILQ_FOREACH(op, &j->ops, entry) {
		if (op->kind != JOP_MOVE)
			continue;
		if ((r = loggable(j, op, &fd, &st, err)) != 1)
			break;
		if (body.len + (size_t)st.st_size > JOURNAL_WAL_BATCH_MAX)
			r = 0;
		else if (add_file(&body, op, fd, &st, err) == -1)
			r = -1;
		else
			files++;
		close(fd);
		if (r != 1)
			break;
	}
	if (r == 1 && files == 0)
		r = 0;
	if (r == 1) {
		buf_add(rec, WAL_MAGIC, 4);
		put32(rec, files);
		put64(rec, gen);
		put64(rec, body.len);
		buf_add(rec, body.data, body.len);
		digest_mem(rec->data, rec->len, md);
		buf_add(rec, md, sizeof(md));
	}
	buf_release(&body);
	return r;
}

static int
wal_open(const char *statedir, int flags, struct ls_err *err)
{
	char	*path = xasprintf("%s/%s", statedir, WAL_FILE);
	int	 fd;

	if ((fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 &&
	    errno != ENOENT)
		ls_err_sys(err, "%s", path);
	free(path);
	return fd;
}

int
wal_log(struct journal *j, uint64_t gen, struct ls_err *err)
{
	struct stat	 st;
	struct buf	 rec;
	ssize_t		 n = 0;
	int		 fd, r;

	buf_init(&rec);
	if ((r = build(j, gen, &rec, err)) != 1)
		goto out;
	if ((fd = wal_open(j->statedir, O_WRONLY | O_CREAT | O_APPEND,
	    err)) == -1) {
		r = -1;
		goto out;
	}
	/* A long log costs a long replay: past its bound, flush the tree
	 * and start it again, then log this batch. */
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size + rec.len >
	    JOURNAL_WAL_MAX &&
	    journal_wal_checkpoint(j->rootfd, j->statedir, err) == -1)
		r = -1;
	else if ((n = write(fd, rec.data, rec.len)) != (ssize_t)rec.len ||
	    flush_data(fd) == -1) {
		if (n >= 0 && n != (ssize_t)rec.len)
			errno = ENOSPC;	/* a short write: the disk is full */
		ls_err_sys(err, "%s/%s", j->statedir, WAL_FILE);
		r = -1;
	}
	close(fd);
out:
	buf_release(&rec);
	return r;
}

int
journal_wal_checkpoint(int rootfd, const char *statedir,
    struct ls_err *err)
{
	struct stat	 st;
	char		*gen;
	int		 fd, gfd, r = -1;

	if ((fd = wal_open(statedir, O_WRONLY, err)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) == -1) {
		ls_err_sys(err, "%s/%s", statedir, WAL_FILE);
		goto out;
	}
	if (st.st_size == 0) {
		r = 0;
		goto out;
	}
	/* the tree, then the generation (its state dir may be elsewhere) */
	gen = xasprintf("%s/gen", statedir);
	gfd = open(gen, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (flush_fs(rootfd) == -1)
		ls_err_sys(err, "syncfs of the twin's tree");
	else if (gfd != -1 && flush_data(gfd) == -1)
		ls_err_sys(err, "%s", gen);
	else if (ftruncate(fd, 0) == -1 || flush_fd(fd) == -1)
		ls_err_sys(err, "%s/%s", statedir, WAL_FILE);
	else
		r = 0;
	if (gfd != -1)
		close(gfd);
	free(gen);
out:
	close(fd);
	return r;
}

/* Parse one record at p (len bytes left): its length, or 0 if torn. */
static size_t
parse_head(const char *p, size_t len, struct wal_head *h)
{
	unsigned char	 md[DIGEST_SUM_LEN];

	if (len < WAL_HEAD_LEN + DIGEST_SUM_LEN ||
	    memcmp(p, WAL_MAGIC, 4) != 0)
		return 0;
	h->files = get32(p + 4);
	h->gen = get64(p + 8);
	h->len = get64(p + 16);
	if (h->len > len - WAL_HEAD_LEN - DIGEST_SUM_LEN)
		return 0;
	digest_mem(p, WAL_HEAD_LEN + h->len, md);
	if (memcmp(md, p + WAL_HEAD_LEN + h->len, DIGEST_SUM_LEN) != 0)
		return 0;
	return WAL_HEAD_LEN + h->len + DIGEST_SUM_LEN;
}

/* Stage one file of a record and journal its move: bytes used, or 0. */
static size_t
stage_file(struct journal *j, struct apply *ap, const char *p, size_t len,
    struct ls_err *err)
{
	struct apply_entry	 e;
	struct apply_file	*f;
	uint32_t		 plen;
	uint64_t		 size;
	char			*path, *name;
	size_t			 used = 0;

	if (len < WAL_FILE_HEAD)
		goto bad;
	plen = get32(p + 12);
	size = get64(p + 32);
	if (plen == 0 || plen > len - WAL_FILE_HEAD ||
	    size > len - WAL_FILE_HEAD - plen)
		goto bad;
	path = xstrndup(p + WAL_FILE_HEAD, plen);
	if (strlen(path) != plen || path_valid(path, err) == -1) {
		free(path);
		goto bad;
	}
	memset(&e, 0, sizeof(e));
	name = journal_stage_name(j);
	e.path = name;
	e.kind = ENTRY_REG;
	e.mode = get32(p) & 07777;
	e.uid = get32(p + 4);
	e.gid = get32(p + 8);
	e.mtime.tv_sec = (time_t)get64(p + 16);
	e.mtime.tv_nsec = (long)get64(p + 24);
	e.size = size;
	if ((f = apply_file_open(ap, &e, err)) != NULL &&
	    (size == 0 || apply_file_write(f, 0, p + WAL_FILE_HEAD + plen,
	    (size_t)size, err) == 0) && apply_file_commit(f, err) == 0) {
		journal_move(j, name, path);
		used = WAL_FILE_HEAD + plen + (size_t)size;
	} else if (f != NULL)
		apply_file_abort(f);
	free(name);
	free(path);
	return used;
bad:
	ls_err_set(err, "a file record is malformed");
	return 0;
}

/* Redo one record's batch, durably, as a journal. */
static int
replay_one(int rootfd, int stagefd, const char *statedir,
    const struct wal_head *h, const char *body, struct ls_err *err)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct apply	*ap;
	size_t		 off = 0, n;
	uint32_t	 i;
	int		 r = -1;

	if ((ap = apply_new_staged(stagefd, err)) == NULL)
		goto out;
	for (i = 0; i < h->files; i++) {
		if ((n = stage_file(j, ap, body + off, h->len - off,
		    err)) == 0)
			goto out;
		off += n;
	}
	if (apply_sync(ap, err) == 0 &&
	    journal_commit(j, h->gen, NULL, NULL, err) == 0)
		r = 0;
out:
	apply_free(ap);
	journal_free(j);
	return r;
}

int
wal_replay(int rootfd, int stagefd, const char *statedir, uint64_t *gen,
    struct ls_err *err)
{
	struct wal_head	 h;
	struct buf	 b;
	char		 why[LS_ERR_LEN];
	size_t		 off, n;
	int		 r;

	buf_init(&b);
	if ((r = read_whole(statedir, WAL_FILE, &b, err)) != 1) {
		buf_release(&b);
		return r;	/* 0: no log */
	}
	for (off = 0; r == 1 && (n = parse_head(b.data + off, b.len - off,
	    &h)) != 0; off += n) {
		if (replay_one(rootfd, stagefd, statedir, &h,
		    b.data + off + WAL_HEAD_LEN, err) == -1) {
			snprintf(why, sizeof(why), "%s", err->msg);
			ls_err_set(err, "%s/%s, the record at byte %zu "
			    "(generation %llu): %s", statedir, WAL_FILE, off,
			    (unsigned long long)h.gen, why);
			r = -1;
		} else if (h.gen > *gen)
			*gen = h.gen;
	}
	buf_release(&b);
	/* all of it is in the tree, durably: the log starts again */
	if (r == 1 && journal_wal_checkpoint(rootfd, statedir, err) == -1)
		r = -1;
	return r == -1 ? -1 : 0;
}
