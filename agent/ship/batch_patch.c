/*
 * batch_patch: files rewritten in place ship as the blocks that changed
 * (see batch.h). The peer's block sums say, block by block, what its
 * copy holds; we sum our file in the same blocks and compare the sums
 * at the same offsets. A block whose sum differs (or that the peer
 * does not have) is a range to send; the others are already there, at
 * the same place. When bytes moved (an insertion near the start), most
 * blocks differ and the plan asks for a signature instead: a librsync
 * delta finds blocks wherever they are.
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
#include "digest.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

/* Bytes summed for patches per batch: the loop must keep answering
 * `check` within keepalived's 2 s (about 3 GB/s with the reads from
 * the page cache, so about 0.7 s), and a checkpoint's pages file of a
 * 1 GiB service must fit. Past that budget, files go as deltas, which
 * read a slice at a time. */
#define PATCH_HASH_MAX		(2048ULL * 1024 * 1024)
/* The most a peer's sums can hold (frame.h, BLOCKREQ). */
#define PATCH_SUMS_MAX		(DIGEST_SUMS_HEADER + \
				    (size_t)FRAME_MAX_BLOCKS * DIGEST_SUM_LEN)

/* A SIG frame of request k's answer, block sums: keep them. */
void
batch_delta_sums(struct batch *b, size_t k, const void *p, size_t len)
{
	struct batch_plan	*pl = &b->plan[b->asked[k]];

	if (pl->sums_in == -1)
		return;
	if (pl->sums.len + len > PATCH_SUMS_MAX) {
		pl->sums_in = -1;
		return;
	}
	buf_add(&pl->sums, p, len);
}

/*
 * The SIGEND of request k, block sums (ok 0: the peer holds no such
 * file). -1 if what came cannot be sums of the size asked about: the
 * peer broke the protocol.
 */
int
batch_delta_sums_end(struct batch *b, size_t k, int ok)
{
	struct batch_plan	*p = &b->plan[b->asked[k]];

	if (!ok) {
		p->sums_in = 0;
		return 0;
	}
	if (p->sums_in == -1 || !digest_sums_valid(p->sums.data,
	    p->sums.len, p->sum_size, p->block_len))
		return -1;
	p->sums_in = 1;
	return 0;
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

/* The blocks of our file (size bytes) whose sums in ours and the
 * peer's differ, as ranges. */
static void
compare_sums(const struct buf *ours, const struct buf *peer,
    uint32_t block_len, uint64_t size, struct frame_range **r, size_t *n)
{
	size_t		 nours, npeer, i, cap = 0;
	const char	*a, *b;
	uint64_t	 boff;

	nours = (ours->len - DIGEST_SUMS_HEADER) / DIGEST_SUM_LEN;
	npeer = (peer->len - DIGEST_SUMS_HEADER) / DIGEST_SUM_LEN;
	a = ours->data + DIGEST_SUMS_HEADER;
	b = peer->data + DIGEST_SUMS_HEADER;
	for (i = 0; i < nours; i++) {
		if (i < npeer && memcmp(a + i * DIGEST_SUM_LEN,
		    b + i * DIGEST_SUM_LEN, DIGEST_SUM_LEN) == 0)
			continue;
		boff = (uint64_t)i * block_len;
		add_block(r, n, &cap, boff, size - boff < block_len ?
		    size - boff : block_len);
	}
}

/* How many bytes the ranges cover. */
static uint64_t
ranges_bytes(const struct frame_range *r, size_t n)
{
	uint64_t	 t = 0;
	size_t		 i;

	for (i = 0; i < n; i++)
		t += r[i].len;
	return t;
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
int
batch_patch_wanted(const struct batch *b, const struct batch_plan *p,
    const struct index_stat *acked)
{
	return acked != NULL && strcmp(p->basis, p->path) == 0 &&
	    !renamed_around(b, p->path);
}

static int
st_fits(const struct stat *st, const struct index_stat *acked)
{
	return S_ISREG(st->st_mode) && st->st_nlink == 1 &&
	    st->st_mode == acked->mode && st->st_uid == acked->uid &&
	    st->st_gid == acked->gid;
}

/* Sum our file (fd, as st) in the peer's blocks, within the budget. */
static int
sum_ours(struct batch *b, struct batch_plan *p, int fd, const struct stat *st)
{
	buf_reset(&p->oursums);
	if ((uint64_t)st->st_size > PATCH_HASH_MAX - b->patch_hashed)
		return -1;
	b->patch_hashed += (uint64_t)st->st_size;
	if (digest_blocks(fd, (uint64_t)st->st_size, p->block_len,
	    &p->oursums) == -1) {
		buf_reset(&p->oursums);
		return -1;
	}
	return 0;
}

/*
 * While the peer hashes its copies (the requests are out), hash ours:
 * the digests of the appends' prefixes, the sums of the patches' files
 * (in the blocks the peer will use, which the request chose). The two
 * sides' hashing overlaps instead of following each other. A file that
 * changes before it ships is hashed again then. Each plan is hashed
 * once per request.
 */
void
batch_hash_ahead(struct batch *b)
{
	const struct index_stat	*acked;
	struct batch_plan	*p;
	struct ls_err		 err;
	struct stat		 st;
	size_t			 i;
	int			 fd;

	for (i = 0; i < b->nplan; i++) {
		p = &b->plan[i];
		if (p->ahead_done || p->ask == BATCH_ASK_SIG)
			continue;
		p->ahead_done = 1;
		acked = batch_acked(b, p->path);
		/* the container's tree: never open a FIFO or a device */
		if ((fd = beneath_open_reg(b->rootfd, p->path, O_RDONLY, &st,
		    &err)) == -1)
			continue;
		if (p->ask == BATCH_ASK_PREFIX)
			batch_hash_prefix(p, fd, &st);
		else if (acked != NULL && st_fits(&st, acked) &&
		    sum_ours(b, p, fd, &st) == 0) {
			p->summed = 1;
			p->summed_st = st;
		}
		close(fd);
	}
}

/*
 * Once every answer is in: why patch plan p asks for a signature
 * instead, or NULL. The peer does not hold the file as acknowledged,
 * we could not sum ours, or most of its blocks differ (bytes moved).
 */
const char *
batch_patch_replan(const struct batch_plan *p)
{
	struct frame_range	*r = NULL;
	size_t			 n = 0;
	uint64_t		 changed;

	if (p->sums_in != 1)
		return "is not on the peer as acknowledged";
	if (!p->summed)
		return "could not be summed here";
	compare_sums(&p->oursums, &p->sums, p->block_len,
	    (uint64_t)p->summed_st.st_size, &r, &n);
	changed = ranges_bytes(r, n);
	free(r);
	return changed > (uint64_t)p->summed_st.st_size / 2 ?
	    "differs in most blocks" : NULL;
}

/*
 * Does se, planned as patch d, ship as a PATCH? 1 with b's ranges set
 * (and b->patching), 0 to send it otherwise.
 */
int
batch_patch_plan(struct batch *b, size_t d, const struct source_entry *se,
    const struct index_stat *acked)
{
	struct batch_plan	*p = &b->plan[d];
	struct frame_range	*r = NULL;
	uint64_t		 changed;
	size_t			 n = 0;
	int			 ahead = 1;

	if (p->ask != BATCH_ASK_SUMS || p->sums_in != 1 ||
	    !batch_patch_wanted(b, p, acked) || se->nxattr != 0 ||
	    !st_fits(&se->st, acked))
		return 0;
	/* Our sums from batch_hash_ahead(), if they are still of this
	 * file as it is; else made now. */
	if (!p->summed || !stat_unchanged(&p->summed_st, &se->st)) {
		ahead = 0;
		if (sum_ours(b, p, se->fd, &se->st) == -1)
			return 0;
	}
	compare_sums(&p->oursums, &p->sums, p->block_len,
	    (uint64_t)se->st.st_size, &r, &n);
	changed = ranges_bytes(r, n);
	log_debug("batch %" PRIu64 ": %s: %" PRIu64 " of %lld bytes differ "
	    "in place (summed %s)", b->gen, p->path, changed,
	    (long long)se->st.st_size, ahead ? "ahead" : "now");
	/* Most of it differs now: bytes moved, and it goes whole. */
	if (changed > (uint64_t)se->st.st_size / 2) {
		free(r);
		return 0;
	}
	n = coalesce(r, n, p->block_len);
	if (n > 0)	/* r is NULL when nothing differs */
		memcpy(b->ranges, r, n * sizeof(*r));
	free(r);
	b->nranges = n;
	b->range_at = 0;
	b->patching = 1;
	return 1;
}
