/*
 * test_prefix_memo: a growing file's digest follows the receiver's own
 * appends, and equals digest_prefix() of the file as it is whatever
 * else happened to it: an append bracketed at the wrong offset, a
 * write the memo did not see, a file replaced, more files than slots.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "prefix_memo.h"
#include "testmain.h"

static char	 top[64];
static int	 rootfd = -1;

static void
setup(void)
{
	strcpy(top, "/var/tmp/test_prefix_memo.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	ck_assert_int_ne(rootfd = open(top, O_RDONLY | O_DIRECTORY), -1);
}

static void
teardown(void)
{
	char	 cmd[128];

	close(rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	ck_assert_int_eq(system(cmd), 0);
}

/* len bytes of a pattern seeded by seed, written at off */
static void
put(const char *name, uint64_t off, size_t len, int seed)
{
	char	*p = malloc(len);
	size_t	 i;
	int	 fd = openat(rootfd, name, O_WRONLY | O_CREAT, 0644);

	ck_assert_int_ne(fd, -1);
	for (i = 0; i < len; i++)
		p[i] = (char)(i * 131 + (size_t)seed * 7 + i / 4093);
	ck_assert_int_eq(pwrite(fd, p, len, (off_t)off), (ssize_t)len);
	close(fd);
	free(p);
}

/* The memo's answer for name at its size equals digest_prefix's. */
static void
check_digest(struct prefix_memo *m, const char *name)
{
	unsigned char	 a[DIGEST_SUM_LEN], b[DIGEST_SUM_LEN];
	struct stat	 st;
	int		 fd = openat(rootfd, name, O_RDONLY);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(prefix_memo_digest(m, name, fd, &st,
	    (uint64_t)st.st_size, a), 0);
	ck_assert_int_eq(digest_prefix(fd, (uint64_t)st.st_size, b), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	close(fd);
}

static uint64_t
size_of(const char *name)
{
	struct stat	 st;

	ck_assert_int_eq(fstatat(rootfd, name, &st, 0), 0);
	return (uint64_t)st.st_size;
}

static uint64_t
size_of_or_zero(const char *name)
{
	struct stat	 st;

	return fstatat(rootfd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}

START_TEST(test_appends_bracketed_extend_the_digest)
{
	struct prefix_memo	*m = prefix_memo_new();
	int			 i;

	put("log", 0, 300000, 1);
	check_digest(m, "log");
	for (i = 0; i < 5; i++) {
		uint64_t	 at = size_of("log");

		prefix_memo_before(m, rootfd, "log", at);
		put("log", at, 70000 + (size_t)i, 2 + i);
		prefix_memo_after(m, rootfd, "log");
		check_digest(m, "log");
	}
	/* a skipped append: the file as it was */
	prefix_memo_before(m, rootfd, "log", size_of("log"));
	prefix_memo_after(m, rootfd, "log");
	check_digest(m, "log");
	prefix_memo_free(m);
}
END_TEST

/*
 * Whatever the memo was not told of is read again: a write inside the
 * summed bytes (a tick later, so that the ctime moves), an append
 * bracketed at an offset inside them, a file replaced by another.
 */
START_TEST(test_changes_it_was_not_told_of_are_read_again)
{
	struct prefix_memo	*m = prefix_memo_new();

	put("log", 0, 200000, 1);
	check_digest(m, "log");
	usleep(20000);
	put("log", 1000, 10, 9);
	check_digest(m, "log");

	prefix_memo_before(m, rootfd, "log", 150000);
	put("log", 150000, 100000, 3);
	prefix_memo_after(m, rootfd, "log");
	check_digest(m, "log");

	prefix_memo_before(m, rootfd, "log", size_of("log"));
	ck_assert_int_eq(unlinkat(rootfd, "log", 0), 0);
	put("log", 0, 250000, 4);
	prefix_memo_after(m, rootfd, "log");
	check_digest(m, "log");
	prefix_memo_free(m);
}
END_TEST

/* More growing files than slots: each answer is still the file's. */
START_TEST(test_more_files_than_slots)
{
	struct prefix_memo	*m = prefix_memo_new();
	char			 name[16];
	int			 i, round;

	for (round = 0; round < 2; round++)
		for (i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "f%d", i);
			put(name, size_of_or_zero(name), 5000, i + round);
			check_digest(m, name);
		}
	prefix_memo_clear(m);
	check_digest(m, "f3");
	prefix_memo_free(m);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_appends_bracketed_extend_the_digest,
		test_changes_it_was_not_told_of_are_read_again,
		test_more_files_than_slots,
		NULL
	};

	return test_run("prefix_memo", tests, setup, teardown);
}
