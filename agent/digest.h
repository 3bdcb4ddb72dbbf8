/*
 * digest: what both ends of a replication compare to learn which bytes
 * the twin already holds, without sending them: XXH3-128 of a file's
 * first bytes (PREFIX, before an APPEND) and of each of its blocks
 * (SUMS, before a PATCH). The standby's journal also sums a staged
 * tail or patch with it, to tell whole from torn after a crash.
 *
 * XXH3 is not a cryptographic hash, and need not be: it compares a
 * container's file with the copy of that same file its twin holds, so
 * a collision crafted by the container can only leave its own replica
 * different from its own data, which it may write as it likes anyway.
 * rsync (3.2 and later) compares blocks and whole files with xxh3 and
 * xxh128 for the same reason. What it buys: about 10 GB/s here, where
 * SHA-256 ran at 1.2 and librsync signs at 0.6, and both ends read
 * every byte of each file they compare.
 *
 * Block sums, as they travel (SIG frames answering a BLOCKREQ):
 *	u64 size	the file's size
 *	u32 block_len	see frame_block_len_ok()
 *	n * 16 bytes	XXH3-128 (high half first) of each block, the last
 *			one short; n = size / block_len, rounded up, at
 *			most FRAME_MAX_BLOCKS
 */
#ifndef LS_DIGEST_H
#define LS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "frame.h"	/* FRAME_DIGEST_LEN */

#define DIGEST_SUM_LEN		16
#define DIGEST_SUMS_HEADER	12

/* Digest of fd's first len bytes (read with pread) into md. 0, or -1
 * with errno: EIO if fd holds fewer bytes. */
int		 digest_prefix(int fd, uint64_t len, unsigned char *md);

/* Digest of len bytes at p into md. */
void		 digest_mem(const void *p, size_t len, unsigned char *md);

/* Digest of the bytes of fd's ranges, one after the other, into md
 * (DIGEST_SUM_LEN bytes); errors as digest_prefix(). */
int		 digest_ranges(int fd, const struct frame_range *, size_t,
		    unsigned char *md);

/*
 * A prefix digest that grows with its file: the digest of the first
 * len bytes, extended by the bytes that follow without reading the
 * first ones again. What digest_prefix() gives for the same bytes.
 */
struct digest_run;

struct digest_run *digest_run_new(void);	/* NULL, errno ENOMEM */
void		 digest_run_free(struct digest_run *);
/* Start again from no bytes. */
void		 digest_run_reset(struct digest_run *);
/* Feed fd's bytes from run's length up to len; errors as digest_prefix(),
 * the run then reset. */
int		 digest_run_extend(struct digest_run *, int fd, uint64_t len);
uint64_t	 digest_run_len(const struct digest_run *);
void		 digest_run_sum(const struct digest_run *, unsigned char *md);

/* The smallest block length that cuts size bytes into at most
 * FRAME_MAX_BLOCKS blocks; 0 if none can. */
uint32_t	 digest_block_len(uint64_t size);

/* Append the block sums of fd's first size bytes to out. 0, or -1 with
 * errno (EIO: fd holds fewer bytes; EINVAL: a bad block_len), out then
 * holding a part. */
int		 digest_blocks(int fd, uint64_t size, uint32_t block_len,
		    struct buf *out);

/* Are p, len well-formed sums of size bytes in block_len blocks? */
int		 digest_sums_valid(const void *p, size_t len, uint64_t size,
		    uint32_t block_len);

#endif
