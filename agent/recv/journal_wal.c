/*
 * journal_wal: the twin's small-file log (see journal.h),
 * state_dir/twins/NAME/wal. Its first WAL_HEAD_BLOCK bytes are its head:
 *	"LSWH"	 magic
 *	u32	 zero
 *	u64	 epoch, 0 when the log is empty
 *	u64	 tail, where the next record goes
 * then one record per logged batch, from WAL_HEAD_BLOCK on:
 *	"LSW2"	 magic
 *	u32	 files
 *	u64	 epoch
 *	u64	 generation
 *	u64	 body length
 * then the body, then the digest (digest.h, 16 bytes) of all before it
 * in the record. The body, per file:
 *	u32 mode, u32 uid, u32 gid, u32 path length,
 *	i64 mtime seconds, i64 mtime nanoseconds, u64 size,
 *	the path (a wire path), then its bytes.
 * In this host's byte order: the log never leaves the host.
 *
 * The file is written over, not appended to: emptying the log clears
 * the head's epoch and keeps the file's blocks, and the next record
 * goes to WAL_HEAD_BLOCK again, under a new random epoch. A record
 * written inside the file changes no metadata that fdatasync must
 * commit, so its flush writes the record and the head, not ext4's
 * journal: a journal commit waits for the data of every file the
 * flusher threads are writing back, which under another writer's load
 * made a small batch wait 100 ms and more. So the file only grows, in
 * steps that double it, to at most JOURNAL_WAL_MAX and a batch.
 *
 * Reading, the log is the records from WAL_HEAD_BLOCK on that carry the
 * head's epoch, up to the first that does not or whose digest does not
 * match: the torn end of the log (the crash came while it was written,
 * before its batch was acknowledged), or a record of an epoch before.
 * The head's tail is only the writers' (each session's receiver opens
 * the log under the twin's lock and writes where the last one ended).
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
#define WAL_HEAD_MAGIC	"LSWH"
#define WAL_HEAD_LEN	(4 + 4 + 8 + 8)
#define WAL_HEAD_BLOCK	4096
#define WAL_MAGIC	"LSW2"
#define WAL_REC_LEN	(4 + 4 + 8 + 8 + 8)
#define WAL_FILE_HEAD	(4 * 4 + 8 * 3)
/* what the file first grows to: the small batches of a session */
#define WAL_FIRST_SIZE	(256 * 1024)

struct wal_head {
	uint64_t	 epoch;		/* 0: the log is empty */
	uint64_t	 tail;
};

struct wal_rec {
	uint32_t	 files;
	uint64_t	 epoch;
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
 * file the log can carry: 1 (in *rec, to be sealed), 0 if the batch is
 * not for the log, -1 on error.
 */
static int
build(struct journal *j, uint64_t gen, struct buf *rec, struct ls_err *err)
{
	struct jop	*op;
	struct stat	 st;
	uint32_t	 files = 0;
	uint64_t	 len;
	int		 fd = -1, r = 1;

	TAILQ_FOREACH(op, &j->ops, entry)
		if (op->kind != JOP_PHASE && op->kind != JOP_MOVE)
			return 0;
	buf_add(rec, WAL_MAGIC, 4);
	put32(rec, 0);		/* files */
	put64(rec, 0);		/* epoch: seal() */
	put64(rec, gen);
	put64(rec, 0);		/* body length */
	TAILQ_FOREACH(op, &j->ops, entry) {
		if (op->kind != JOP_MOVE)
			continue;
		if ((r = loggable(j, op, &fd, &st, err)) != 1)
			break;
		if (rec->len - WAL_REC_LEN + (size_t)st.st_size >
		    JOURNAL_WAL_BATCH_MAX)
			r = 0;
		else if (add_file(rec, op, fd, &st, err) == -1)
			r = -1;
		else
			files++;
		close(fd);
		if (r != 1)
			break;
	}
	if (r == 1 && files == 0)
		r = 0;
	len = rec->len - WAL_REC_LEN;
	memcpy(rec->data + 4, &files, sizeof(files));
	memcpy(rec->data + 24, &len, sizeof(len));
	return r;
}

/* Give the record its log's epoch, and its digest. */
static void
seal(struct buf *rec, uint64_t epoch)
{
	unsigned char	 md[DIGEST_SUM_LEN];

	memcpy(rec->data + 8, &epoch, sizeof(epoch));
	digest_mem(rec->data, rec->len, md);
	buf_add(rec, md, sizeof(md));
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

/* The head of the log fd holds: 0, or -1 on a read error. */
static int
head_read(int fd, struct wal_head *h)
{
	char	 p[WAL_HEAD_LEN];
	ssize_t	 n;

	memset(h, 0, sizeof(*h));
	if ((n = pread(fd, p, sizeof(p), 0)) == -1)
		return -1;
	if (n == (ssize_t)sizeof(p) && memcmp(p, WAL_HEAD_MAGIC, 4) == 0) {
		h->epoch = get64(p + 8);
		h->tail = get64(p + 16);
	}
	if (h->tail < WAL_HEAD_BLOCK)
		h->epoch = 0;	/* not a head a writer left */
	return 0;
}

static int
head_write(int fd, const struct wal_head *h)
{
	struct buf	 b;
	ssize_t		 n;

	buf_init(&b);
	buf_add(&b, WAL_HEAD_MAGIC, 4);
	put32(&b, 0);
	put64(&b, h->epoch);
	put64(&b, h->tail);
	n = pwrite(fd, b.data, b.len, 0);
	buf_release(&b);
	if (n != WAL_HEAD_LEN) {
		if (n >= 0)
			errno = ENOSPC;
		return -1;
	}
	return 0;
}

/*
 * Let the file hold end bytes, written with zeros (not fallocate(2)'s
 * unwritten extents, which a write converts, a metadata change): at
 * least twice what it held, so it grows a few times per twin and stays.
 */
static int
make_room(int fd, uint64_t end)
{
	static const char	 zeros[65536];
	struct stat		 st;
	uint64_t		 at, to;
	ssize_t			 n;

	if (fstat(fd, &st) == -1)
		return -1;
	if ((uint64_t)st.st_size >= end)
		return 0;
	to = (uint64_t)st.st_size * 2;
	if (to < WAL_FIRST_SIZE)
		to = WAL_FIRST_SIZE;
	if (to > JOURNAL_WAL_MAX + JOURNAL_WAL_BATCH_MAX)
		to = JOURNAL_WAL_MAX + JOURNAL_WAL_BATCH_MAX;
	if (to < end)
		to = end;
	for (at = (uint64_t)st.st_size; at < to; at += (uint64_t)n) {
		n = pwrite(fd, zeros, to - at < sizeof(zeros) ?
		    (size_t)(to - at) : sizeof(zeros), (off_t)at);
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
	}
	return 0;
}

static uint64_t
new_epoch(void)
{
	uint64_t	 e = 0;

	while (e == 0)
		arc4random_buf(&e, sizeof(e));
	return e;
}

/* Write rec at the log's tail, then the head that ends the log past it. */
static int
put_rec(int fd, struct wal_head *h, const struct buf *rec)
{
	ssize_t	 n;

	if (make_room(fd, h->tail + rec->len) == -1)
		return -1;
	if ((n = pwrite(fd, rec->data, rec->len, (off_t)h->tail)) !=
	    (ssize_t)rec->len) {
		if (n >= 0)
			errno = ENOSPC;	/* a short write: the disk is full */
		return -1;
	}
	h->tail += rec->len;
	return head_write(fd, h) == -1 ? -1 : flush_data(fd);
}

int
wal_log(struct journal *j, uint64_t gen, struct ls_err *err)
{
	struct wal_head	 h;
	struct buf	 rec;
	int		 fd = -1, r;

	buf_init(&rec);
	if ((r = build(j, gen, &rec, err)) != 1)
		goto out;
	r = -1;
	if ((fd = wal_open(j->statedir, O_RDWR | O_CREAT, err)) == -1)
		goto out;
	if (head_read(fd, &h) == -1)
		goto fail;
	/* A long log costs a long replay: past its bound, flush the tree
	 * and start it again, then log this batch. */
	if (h.epoch != 0 && h.tail > JOURNAL_WAL_MAX) {
		if (journal_wal_checkpoint(j->rootfd, j->statedir, err) == -1)
			goto out;
		h.epoch = 0;
	}
	if (h.epoch == 0) {
		h.epoch = new_epoch();
		h.tail = WAL_HEAD_BLOCK;
	}
	seal(&rec, h.epoch);
	if (put_rec(fd, &h, &rec) == -1)
		goto fail;
	r = 1;
	goto out;
fail:
	ls_err_sys(err, "%s/%s", j->statedir, WAL_FILE);
out:
	if (fd != -1)
		close(fd);
	buf_release(&rec);
	return r;
}

int
journal_wal_checkpoint(int rootfd, const char *statedir,
    struct ls_err *err)
{
	struct wal_head	 h;
	char		*gen;
	int		 fd, gfd, r = -1;

	if ((fd = wal_open(statedir, O_RDWR, err)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (head_read(fd, &h) == -1) {
		ls_err_sys(err, "%s/%s", statedir, WAL_FILE);
		goto out;
	}
	if (h.epoch == 0) {
		r = 0;
		goto out;
	}
	/* the tree, then the generation (its state dir may be elsewhere) */
	gen = xasprintf("%s/gen", statedir);
	gfd = open(gen, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	memset(&h, 0, sizeof(h));
	if (flush_fs(rootfd) == -1)
		ls_err_sys(err, "syncfs of the twin's tree");
	else if (gfd != -1 && flush_data(gfd) == -1)
		ls_err_sys(err, "%s", gen);
	else if (head_write(fd, &h) == -1 || flush_data(fd) == -1)
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

off_t
journal_wal_end(const char *statedir, struct ls_err *err)
{
	struct wal_head	 h;
	off_t		 end = 0;
	int		 fd;

	if ((fd = wal_open(statedir, O_RDONLY, err)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (head_read(fd, &h) == -1) {
		ls_err_sys(err, "%s/%s", statedir, WAL_FILE);
		end = -1;
	} else if (h.epoch != 0)
		end = (off_t)h.tail;
	close(fd);
	return end;
}

/*
 * Parse the record at p (len bytes left) of the log's epoch: its
 * length, or 0 where the log ends.
 */
static size_t
parse_rec(const char *p, size_t len, uint64_t epoch, struct wal_rec *h)
{
	unsigned char	 md[DIGEST_SUM_LEN];

	if (len < WAL_REC_LEN + DIGEST_SUM_LEN ||
	    memcmp(p, WAL_MAGIC, 4) != 0)
		return 0;
	h->files = get32(p + 4);
	h->epoch = get64(p + 8);
	h->gen = get64(p + 16);
	h->len = get64(p + 24);
	if (h->epoch != epoch ||
	    h->len > len - WAL_REC_LEN - DIGEST_SUM_LEN)
		return 0;
	digest_mem(p, WAL_REC_LEN + h->len, md);
	if (memcmp(md, p + WAL_REC_LEN + h->len, DIGEST_SUM_LEN) != 0)
		return 0;
	return WAL_REC_LEN + h->len + DIGEST_SUM_LEN;
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
    const struct wal_rec *h, const char *body, struct ls_err *err)
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
	struct wal_head	 head;
	struct wal_rec	 h;
	struct buf	 b;
	char		 why[LS_ERR_LEN];
	size_t		 off, n;
	int		 fd, r = 0;

	if ((fd = wal_open(statedir, O_RDONLY, err)) == -1)
		return errno == ENOENT ? 0 : -1;
	buf_init(&b);
	if (head_read(fd, &head) == -1 || (head.epoch != 0 &&
	    (lseek(fd, 0, SEEK_SET) == -1 || read_fd(fd, &b) == -1))) {
		ls_err_sys(err, "%s/%s", statedir, WAL_FILE);
		r = -1;
	}
	close(fd);
	if (r == -1 || head.epoch == 0 || b.len < WAL_HEAD_BLOCK) {
		buf_release(&b);
		return r;	/* 0: the log is empty */
	}
	for (off = WAL_HEAD_BLOCK; r == 0 && (n = parse_rec(b.data + off,
	    b.len - off, head.epoch, &h)) != 0; off += n) {
		if (replay_one(rootfd, stagefd, statedir, &h,
		    b.data + off + WAL_REC_LEN, err) == -1) {
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
	if (r == 0 && journal_wal_checkpoint(rootfd, statedir, err) == -1)
		r = -1;
	return r;
}
