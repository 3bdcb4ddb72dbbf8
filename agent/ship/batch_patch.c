/*
 * batch_patch: files rewritten in place ship as the blocks that changed
 * (see batch.h). The peer's signature says, block by block, what its
 * copy holds; we sign our file with the same block and sum lengths and
 * compare the entries at the same offsets. A block whose entry differs
 * (or that the peer does not have) is a range to send; the others are
 * already there, at the same place. When bytes moved (an insertion near
 * the start), most blocks differ and the file goes as a librsync delta
 * instead, which finds blocks wherever they are.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch_int.h"
#include "beneath.h"
#include "delta.h"
#include "log.h"
#include "xmalloc.h"

/* Bytes signed for patches per batch: the loop must keep answering
 * `check` within keepalived's 2 s (librsync signs about 0.6 GB/s here,
 * so about 0.45 s; appends hash their own budget, at 1.5 GB/s). */
#define PATCH_HASH_MAX		(256ULL * 1024 * 1024)
/* A kept signature, at most: 8 MiB covers files of several GB. */
#define PATCH_SIG_MAX		(8 * 1024 * 1024)

/* A SIG frame of request k's answer: keep its bytes for a patch. */
void
batch_delta_sig_bytes(struct batch *b, size_t k, const void *p, size_t len)
{
	struct batch_plan	*pl = &b->plan[b->asked[k]];

	if (!pl->sig_kept)
		return;
	if (pl->sigbytes.len + len > PATCH_SIG_MAX) {
		pl->sig_kept = 0;
		buf_release(&pl->sigbytes);
		buf_init(&pl->sigbytes);
		return;
	}
	buf_add(&pl->sigbytes, p, len);
}

/* The block at off differs: into the ranges, joined to the last. */
static void
add_block(struct frame_range **r, size_t *n, size_t *cap, uint64_t off,
    uint64_t len)
{
	if (*n > 0 && (*r)[*n - 1].off + (*r)[*n - 1].len == off) {
		(*r)[*n - 1].len += len;
		return;
	}
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*r = xreallocarray(*r, *cap, sizeof(**r));
	}
	(*r)[(*n)++] = (struct frame_range){ off, len };
}

/*
 * At most FRAME_MAX_RANGES: close the gaps up to gap bytes, doubling
 * gap until few enough are left. The bytes in a closed gap are sent
 * too; they are the new file's, so the result is the same.
 */
static size_t
coalesce(struct frame_range *r, size_t n, uint64_t gap)
{
	size_t	 i, k;

	while (n > FRAME_MAX_RANGES) {
		for (i = 1, k = 0; i < n; i++) {
			if (r[i].off - (r[k].off + r[k].len) <= gap)
				r[k].len = r[i].off + r[i].len - r[k].off;
			else
				r[++k] = r[i];
		}
		n = k + 1;
		gap *= 2;
	}
	return n;
}

/* Sign fd's first size bytes into sig, like l. -1: short or failed. */
static int
sign_file(int fd, off_t size, const struct delta_sig_layout *l,
    struct buf *sig)
{
	char			 chunk[FRAME_MAX_DATA];
	struct delta_job	*job = delta_sig_like_new(l);
	struct ls_err		 err;
	off_t			 off = 0;
	ssize_t			 got;
	int			 done = 0;

	while (done == 0) {
		got = 0;
		if (off < size && (got = pread(fd, chunk,
		    (size_t)(size - off) < sizeof(chunk) ?
		    (size_t)(size - off) : sizeof(chunk), off)) <= 0)
			done = -1;	/* gone or shrunk: the delta copes */
		else {
			off += got;
			done = delta_feed(job, chunk, (size_t)got, got == 0,
			    sig, &err);
		}
	}
	delta_job_free(job);
	return done == 1 ? 0 : -1;
}

/* The blocks of a file of size bytes whose entries in ours and the
 * peer's signatures (layout l) differ, as ranges. */
static void
compare_sigs(const struct buf *ours, const unsigned char *peer,
    const struct delta_sig_layout *l, off_t size, struct frame_range **r,
    size_t *n)
{
	size_t		 esz = 4 + l->strong_len, cap = 0, at, blk = 0;
	uint64_t	 boff, blen;

	for (at = DELTA_SIG_HEADER; at + esz <= ours->len; at += esz, blk++) {
		if (blk < l->nblocks && memcmp(ours->data + at,
		    peer + DELTA_SIG_HEADER + blk * esz, esz) == 0)
			continue;
		boff = (uint64_t)blk * l->block_len;
		blen = (uint64_t)size - boff < l->block_len ?
		    (uint64_t)size - boff : l->block_len;
		add_block(r, n, &cap, boff, blen);
	}
}

/* Do two stats say the same file, unchanged? */
static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int
at_or_under(const char *path, const char *dir)
{
	size_t	 n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

/* Is path, or a directory above it, a rename's source or target in b? */
static int
renamed_around(const struct batch *b, const char *path)
{
	size_t	 i;

	for (i = 0; i < b->nrenames; i++)
		if (at_or_under(path, b->items[i].path) ||
		    at_or_under(path, b->items[i].to))
			return 1;
	return 0;
}

/*
 * Can plan p's file ship as a PATCH? The peer's copy must be the file at
 * this very name (no rename in this batch moves it or a directory above
 * it: the journal renames before it patches), and the journal will
 * rewrite it in place, so it must fit as the twin's op wants (one link,
 * the acknowledged owner and mode, no xattrs: st_fits(), and the
 * entry's own xattrs).
 */
static int
patchable(const struct batch *b, const struct batch_plan *p,
    const struct index_stat *acked)
{
	return acked != NULL && (p->append_at == 0 || p->replanned) &&
	    strcmp(p->basis, p->path) == 0 && !renamed_around(b, p->path);
}

static int
st_fits(const struct stat *st, const struct index_stat *acked)
{
	return S_ISREG(st->st_mode) && st->st_nlink == 1 &&
	    st->st_mode == acked->mode && st->st_uid == acked->uid &&
	    st->st_gid == acked->gid;
}

/*
 * While the peer signs its copies (the SIGREQs are out), sign ours with
 * the layout it will use, which depends only on the size it holds: the
 * two signings overlap instead of following each other. A file that
 * changes before it ships is signed again then.
 */
void
batch_presign(struct batch *b)
{
	const struct index_stat	*acked;
	struct delta_sig_layout	 l;
	struct batch_plan	*p;
	struct ls_err		 err;
	struct stat		 st;
	size_t			 i;
	int			 fd;

	for (i = 0; i < b->nplan; i++) {
		p = &b->plan[i];
		if (!patchable(b, p, acked = batch_acked(b, p->path)))
			continue;
		/* the container's tree: never open a FIFO or a device */
		if ((fd = beneath_open_reg(b->rootfd, p->path, O_RDONLY, &st,
		    &err)) == -1)
			continue;
		if (st_fits(&st, acked) &&
		    (uint64_t)st.st_size <= PATCH_HASH_MAX - b->patch_hashed) {
			b->patch_hashed += (uint64_t)st.st_size;
			delta_sig_layout_for((off_t)acked->size, &l);
			if (sign_file(fd, st.st_size, &l, &p->oursig) == 0) {
				p->presigned = 1;
				p->presign_st = st;
			} else
				buf_reset(&p->oursig);
		}
		close(fd);
	}
}

/*
 * Does se, planned as delta d, ship as a PATCH? 1 with b's ranges set
 * (and b->patching), 0 to send it as a delta.
 */
int
batch_patch_plan(struct batch *b, size_t d, const struct source_entry *se,
    const struct index_stat *acked)
{
	struct batch_plan	*p = &b->plan[d];
	struct delta_sig_layout	 l;
	struct frame_range	*r = NULL;
	uint64_t		 changed = 0;
	size_t			 n = 0, i;
	int			 ahead = 1;

	if (!p->sig_kept || !patchable(b, p, acked) || se->nxattr != 0 ||
	    !st_fits(&se->st, acked) ||
	    delta_sig_layout(p->sigbytes.data, p->sigbytes.len, &l) == -1)
		return 0;
	/* Our signature from batch_presign(), if it is still of this file
	 * as it is, in the peer's layout; else made now. */
	if (!p->presigned || !same_file(&p->presign_st, &se->st) ||
	    p->oursig.len < DELTA_SIG_HEADER || memcmp(p->oursig.data,
	    p->sigbytes.data, DELTA_SIG_HEADER) != 0) {
		buf_reset(&p->oursig);
		ahead = 0;
		if ((uint64_t)se->st.st_size > PATCH_HASH_MAX - b->patch_hashed)
			return 0;
		b->patch_hashed += (uint64_t)se->st.st_size;
		if (sign_file(se->fd, se->st.st_size, &l, &p->oursig) == -1)
			return 0;
	}
	compare_sigs(&p->oursig, (const unsigned char *)p->sigbytes.data, &l,
	    se->st.st_size, &r, &n);
	for (i = 0; i < n; i++)
		changed += r[i].len;
	log_debug("batch %" PRIu64 ": %s: %" PRIu64 " of %lld bytes differ "
	    "in place (signed %s)", b->gen, p->path, changed,
	    (long long)se->st.st_size, ahead ? "ahead" : "now");
	/* Most of it differs: bytes moved, and a delta finds them. */
	if (changed > (uint64_t)se->st.st_size / 2) {
		free(r);
		return 0;
	}
	n = coalesce(r, n, l.block_len);
	if (n > 0)	/* r is NULL when nothing differs */
		memcpy(b->ranges, r, n * sizeof(*r));
	free(r);
	b->nranges = n;
	b->range_at = 0;
	b->patching = 1;
	return 1;
}
