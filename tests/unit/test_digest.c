/*
 * test_digest: the digests and block sums both ends compare are made
 * alike from the same bytes, change with any byte, say which block
 * changed, and refuse what cannot be sums of the size asked about.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "testmain.h"

static char	 path[64];
static int	 fd = -1;

static void
setup(void)
{
	strcpy(path, "/var/tmp/test_digest.XXXXXX");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	unlink(path);
}

static void
teardown(void)
{
	close(fd);
}

/* size bytes of a pattern that differs in every block */
static void
fill(size_t size)
{
	char	*p = malloc(size + 1);
	size_t	 i;

	for (i = 0; i < size; i++)
		p[i] = (char)(i * 131 + i / 4093);
	ck_assert_int_eq(pwrite(fd, p, size, 0), (ssize_t)size);
	free(p);
}

static const unsigned char *
sum_at(const struct buf *b, size_t i)
{
	return (const unsigned char *)b->data + DIGEST_SUMS_HEADER +
	    i * DIGEST_SUM_LEN;
}

START_TEST(test_prefix_digest_sees_every_byte_and_no_more)
{
	unsigned char	 a[FRAME_DIGEST_LEN], b[FRAME_DIGEST_LEN];

	fill(300000);
	ck_assert_int_eq(digest_prefix(fd, 262145, a), 0);
	ck_assert_int_eq(digest_prefix(fd, 262145, b), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	/* a byte past the prefix changes nothing; one inside does */
	ck_assert_int_eq(pwrite(fd, "x", 1, 262145), 1);
	ck_assert_int_eq(digest_prefix(fd, 262145, b), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert_int_eq(pwrite(fd, "x", 1, 262144), 1);
	ck_assert_int_eq(digest_prefix(fd, 262145, b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	/* asking past the end is EIO, not a digest of fewer bytes */
	ck_assert_int_eq(digest_prefix(fd, 300001, b), -1);
	ck_assert_int_eq(errno, EIO);
}
END_TEST

START_TEST(test_block_sums_say_which_block_changed)
{
	struct buf	 a, b;
	size_t		 size = 10 * 4096 + 100, i;

	buf_init(&a);
	buf_init(&b);
	fill(size);
	ck_assert_int_eq(digest_blocks(fd, size, 4096, &a), 0);
	ck_assert_uint_eq(a.len, DIGEST_SUMS_HEADER + 11 * DIGEST_SUM_LEN);
	ck_assert(digest_sums_valid(a.data, a.len, size, 4096));
	ck_assert_int_eq(pwrite(fd, "y", 1, 3 * 4096 + 7), 1);
	ck_assert_int_eq(pwrite(fd, "z", 1, size - 1), 1);
	ck_assert_int_eq(digest_blocks(fd, size, 4096, &b), 0);
	for (i = 0; i < 11; i++)
		ck_assert_msg((memcmp(sum_at(&a, i), sum_at(&b, i),
		    DIGEST_SUM_LEN) != 0) == (i == 3 || i == 10),
		    "block %zu", i);
	/* EIO when the file is shorter than said; EINVAL for a bad length */
	buf_reset(&b);
	ck_assert_int_eq(digest_blocks(fd, size + 1, 4096, &b), -1);
	ck_assert_int_eq(errno, EIO);
	buf_reset(&b);
	ck_assert_int_eq(digest_blocks(fd, size, 1000, &b), -1);
	ck_assert_int_eq(errno, EINVAL);
	buf_release(&a);
	buf_release(&b);
}
END_TEST

/* A block bigger than the read chunk is summed across chunks, alike. */
START_TEST(test_big_blocks_are_summed_across_reads)
{
	struct buf	 a, b;
	size_t		 size = 3 << 20;

	buf_init(&a);
	buf_init(&b);
	fill(size);
	ck_assert_int_eq(digest_blocks(fd, size, 1 << 20, &a), 0);
	ck_assert_int_eq(digest_blocks(fd, size, 1 << 20, &b), 0);
	ck_assert_uint_eq(a.len, DIGEST_SUMS_HEADER + 3 * DIGEST_SUM_LEN);
	ck_assert_mem_eq(a.data, b.data, a.len);
	ck_assert(memcmp(sum_at(&a, 0), sum_at(&a, 1), DIGEST_SUM_LEN) != 0);
	buf_release(&a);
	buf_release(&b);
}
END_TEST

START_TEST(test_sums_that_do_not_fit_are_refused)
{
	struct buf	 a;
	size_t		 size = 5 * 4096;

	buf_init(&a);
	fill(size);
	ck_assert_int_eq(digest_blocks(fd, size, 4096, &a), 0);
	ck_assert(digest_sums_valid(a.data, a.len, size, 4096));
	ck_assert(!digest_sums_valid(a.data, a.len - 1, size, 4096));
	ck_assert(!digest_sums_valid(a.data, a.len, size + 1, 4096));
	ck_assert(!digest_sums_valid(a.data, a.len, size, 8192));
	ck_assert(!digest_sums_valid(a.data, 5, size, 4096));
	buf_add(&a, "0123456789abcdef", DIGEST_SUM_LEN);
	ck_assert(!digest_sums_valid(a.data, a.len, size, 4096));
	buf_release(&a);
}
END_TEST

START_TEST(test_block_len_grows_with_the_file)
{
	ck_assert_uint_eq(digest_block_len(0), 4096);
	ck_assert_uint_eq(digest_block_len(256ULL << 20), 4096);
	ck_assert_uint_eq(digest_block_len((256ULL << 20) + 1), 8192);
	ck_assert_uint_eq(digest_block_len(1ULL << 30), 16384);
	ck_assert_uint_eq(digest_block_len(UINT64_MAX), 0);
}
END_TEST

/* A run extended in steps sums what digest_prefix() sums at each length. */
START_TEST(test_a_run_extended_equals_the_prefix_digest)
{
	static const uint64_t	 steps[] = { 0, 1, 4096, 262144, 262145,
					    700001, 1000000 };
	unsigned char		 a[FRAME_DIGEST_LEN], b[FRAME_DIGEST_LEN];
	struct digest_run	*run = digest_run_new();
	size_t			 i;

	ck_assert_ptr_nonnull(run);
	fill(1000000);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		ck_assert_int_eq(digest_run_extend(run, fd, steps[i]), 0);
		ck_assert_uint_eq(digest_run_len(run), steps[i]);
		digest_run_sum(run, a);
		ck_assert_int_eq(digest_prefix(fd, steps[i], b), 0);
		ck_assert_mem_eq(a, b, sizeof(a));
	}
	/* shorter than the run: refused; past the end: EIO, run reset */
	ck_assert_int_eq(digest_run_extend(run, fd, 10), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(digest_run_extend(run, fd, 1000001), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_uint_eq(digest_run_len(run), 0);
	digest_run_free(run);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_prefix_digest_sees_every_byte_and_no_more,
		test_block_sums_say_which_block_changed,
		test_big_blocks_are_summed_across_reads,
		test_sums_that_do_not_fit_are_refused,
		test_block_len_grows_with_the_file,
		test_a_run_extended_equals_the_prefix_digest,
		NULL
	};

	return test_run("digest", tests, setup, teardown);
}
