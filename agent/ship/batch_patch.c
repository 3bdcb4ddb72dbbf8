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
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_int.h"
#include "delta.h"
#include "xmalloc.h"

/* Bytes signed for patches per batch: the loop must keep answering
 * `check` within keepalived's 2 s (librsync signs about 1 GB/s here). */
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

/* Sign fd's size bytes like l; compare each entry with the peer's. */
static int
compare_blocks(int fd, off_t size, const struct delta_sig_layout *l,
    const unsigned char *peer, struct frame_range **r, size_t *n)
{
	char			 chunk[FRAME_MAX_DATA];
	struct delta_job	*job = delta_sig_like_new(l);
	struct buf		 sig;
	struct ls_err		 err;
	size_t			 esz = 4 + l->strong_len, cap = 0, at, blk = 0;
	uint64_t		 boff, blen;
	off_t			 off = 0;
	ssize_t			 got;
	int			 done = 0, rc = 0;

	buf_init(&sig);
	while (!done) {
		got = 0;
		if (off < size && (got = pread(fd, chunk,
		    (size_t)(size - off) < sizeof(chunk) ?
		    (size_t)(size - off) : sizeof(chunk), off)) <= 0) {
			rc = -1;	/* gone or shrunk: the delta copes */
			break;
		}
		off += got;
		if ((done = delta_feed(job, chunk, (size_t)got, got == 0,
		    &sig, &err)) == -1) {
			rc = -1;	/* the delta will say what */
			break;
		}
		/* Whole entries past the header, as they come out. */
		for (at = DELTA_SIG_HEADER + blk * esz; at + esz <= sig.len;
		    at += esz, blk++) {
			if (blk < l->nblocks && memcmp(sig.data + at,
			    peer + DELTA_SIG_HEADER + blk * esz, esz) == 0)
				continue;
			boff = (uint64_t)blk * l->block_len;
			blen = (uint64_t)size - boff < l->block_len ?
			    (uint64_t)size - boff : l->block_len;
			add_block(r, n, &cap, boff, blen);
		}
	}
	buf_release(&sig);
	delta_job_free(job);
	return rc;
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
 * Does se, planned as delta d, ship as a PATCH? 1 with b's ranges set
 * (and b->patching), 0 to send it as a delta. The peer's copy must be
 * the file at this very name (no rename in this batch moves it or a
 * directory above it: the journal renames before it patches), which the
 * journal will rewrite in place, so it must fit as the twin's op wants
 * (one link, the acknowledged owner and mode, no xattrs).
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
	int			 ok = 0;

	if (!p->sig_kept || strcmp(p->basis, p->path) != 0 ||
	    renamed_around(b, p->path) ||
	    acked == NULL || se->nxattr != 0 || se->st.st_nlink != 1 ||
	    se->st.st_mode != acked->mode || se->st.st_uid != acked->uid ||
	    se->st.st_gid != acked->gid ||
	    (uint64_t)se->st.st_size > PATCH_HASH_MAX - b->patch_hashed ||
	    delta_sig_layout(p->sigbytes.data, p->sigbytes.len, &l) == -1)
		return 0;
	b->patch_hashed += (uint64_t)se->st.st_size;
	if (compare_blocks(se->fd, se->st.st_size, &l,
	    (const unsigned char *)p->sigbytes.data, &r, &n) == 0) {
		for (i = 0; i < n; i++)
			changed += r[i].len;
		/* Most of it differs: bytes moved, and a delta finds them. */
		if (changed <= (uint64_t)se->st.st_size / 2) {
			n = coalesce(r, n, l.block_len);
			memcpy(b->ranges, r, n * sizeof(*r));
			b->nranges = n;
			b->range_at = 0;
			b->patching = 1;
			ok = 1;
		}
	}
	free(r);
	return ok;
}
