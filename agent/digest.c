/*
 * digest: see digest.h. libxxhash's XXH3-128, fed by pread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "digest.h"

#define DIGEST_CHUNK	(256 * 1024)

/* A sum as it travels: the library's canonical form, high half first. */
static void
put_sum(unsigned char *p, XXH128_hash_t h)
{
	XXH128_canonical_t	 c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(p, c.digest, DIGEST_SUM_LEN);
}

/* pread all of len bytes at off; EIO if the file ends first */
static int
read_full(int fd, char *p, size_t len, uint64_t off)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = pread(fd, p, len, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;	/* shorter than it said */
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* The state is the library's to lay out: made by it, not on our stack. */
static XXH3_state_t *
state_new(void)
{
	XXH3_state_t	*st;

	if ((st = XXH3_createState()) == NULL)
		errno = ENOMEM;
	return st;
}

/* Feed len bytes of fd, from off, to st: a chunk at a time. */
static int
update_span(XXH3_state_t *st, int fd, uint64_t off, uint64_t len)
{
	static char	 chunk[DIGEST_CHUNK];	/* one thread reads here */
	size_t		 n;

	for (; len > 0; off += n, len -= n) {
		n = len < sizeof(chunk) ? (size_t)len : sizeof(chunk);
		if (read_full(fd, chunk, n, off) == -1)
			return -1;
		(void)XXH3_128bits_update(st, chunk, n);
	}
	return 0;
}

struct digest_run {
	XXH3_state_t	*st;
	uint64_t	 len;
};

struct digest_run *
digest_run_new(void)
{
	struct digest_run	*run;

	if ((run = calloc(1, sizeof(*run))) == NULL)
		return NULL;
	if ((run->st = state_new()) == NULL) {
		free(run);
		return NULL;
	}
	digest_run_reset(run);
	return run;
}

void
digest_run_free(struct digest_run *run)
{
	if (run == NULL)
		return;
	XXH3_freeState(run->st);
	free(run);
}

void
digest_run_reset(struct digest_run *run)
{
	(void)XXH3_128bits_reset(run->st);
	run->len = 0;
}

int
digest_run_extend(struct digest_run *run, int fd, uint64_t len)
{
	if (len < run->len) {
		errno = EINVAL;
		return -1;
	}
	if (update_span(run->st, fd, run->len, len - run->len) == -1) {
		digest_run_reset(run);
		return -1;
	}
	run->len = len;
	return 0;
}

uint64_t
digest_run_len(const struct digest_run *run)
{
	return run->len;
}

void
digest_run_sum(const struct digest_run *run, unsigned char *md)
{
	put_sum(md, XXH3_128bits_digest(run->st));
}

int
digest_ranges(int fd, const struct frame_range *rg, size_t nrg,
    unsigned char *md)
{
	XXH3_state_t	*st;
	size_t		 i;
	int		 r = -1;

	if ((st = state_new()) == NULL)
		return -1;
	(void)XXH3_128bits_reset(st);
	for (i = 0; i < nrg; i++)
		if (update_span(st, fd, rg[i].off, rg[i].len) == -1)
			goto out;
	put_sum(md, XXH3_128bits_digest(st));
	r = 0;
out:
	XXH3_freeState(st);
	return r;
}

void
digest_mem(const void *p, size_t len, unsigned char *md)
{
	put_sum(md, XXH3_128bits(p, len));
}

int
digest_prefix(int fd, uint64_t len, unsigned char *md)
{
	struct frame_range	 all = { 0, len };

	return digest_ranges(fd, &all, 1, md);
}

uint32_t
digest_block_len(uint64_t size)
{
	uint64_t	 b;

	for (b = FRAME_BLOCK_MIN; b <= FRAME_BLOCK_MAX; b *= 2)
		if (frame_block_len_ok(size, b))
			return (uint32_t)b;
	return 0;
}

int
digest_blocks(int fd, uint64_t size, uint32_t block_len, struct buf *out)
{
	unsigned char	 sum[DIGEST_SUM_LEN];
	XXH3_state_t	*st;
	uint64_t	 off, len;
	int		 r = -1;

	if (!frame_block_len_ok(size, block_len)) {
		errno = EINVAL;
		return -1;
	}
	if ((st = state_new()) == NULL)
		return -1;
	frame_be_put(out, size, 8);
	frame_be_put(out, block_len, 4);
	for (off = 0; off < size; off += len) {
		len = size - off < block_len ? size - off : block_len;
		(void)XXH3_128bits_reset(st);
		if (update_span(st, fd, off, len) == -1)
			goto out;
		put_sum(sum, XXH3_128bits_digest(st));
		buf_add(out, sum, sizeof(sum));
	}
	r = 0;
out:
	XXH3_freeState(st);
	return r;
}

int
digest_sums_valid(const void *p, size_t len, uint64_t size,
    uint32_t block_len)
{
	const unsigned char	*c = p;
	uint64_t		 n;

	if (len < DIGEST_SUMS_HEADER || frame_be_get(c, 8) != size ||
	    frame_be_get(c + 8, 4) != block_len ||
	    !frame_block_len_ok(size, block_len))
		return 0;
	n = size / block_len + (size % block_len != 0);
	return len - DIGEST_SUMS_HEADER == n * DIGEST_SUM_LEN;
}
