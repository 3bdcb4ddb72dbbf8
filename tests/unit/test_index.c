/* test_index: the acknowledged-state table, its renames and its file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index.h"
#include "testmain.h"

static struct index_stat
st_of(uint64_t size)
{
	struct index_stat	 st;

	memset(&st, 0, sizeof(st));
	st.mode = 0100644;
	st.size = size;
	st.mtime_sec = 1700000000;
	st.mtime_nsec = 123;
	return st;
}

START_TEST(test_set_get_and_delete)
{
	struct index		*ix = index_new();
	struct index_stat	 a = st_of(1), b = st_of(2);
	char			 name[32];
	int			 i;

	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "d%d/f%d", i % 7, i);
		index_set(ix, name, &a);
	}
	ck_assert_uint_eq(index_count(ix), 5000);
	index_set(ix, "d3/f3", &b);
	ck_assert_uint_eq(index_count(ix), 5000);
	ck_assert_uint_eq(index_get(ix, "d3/f3")->size, 2);
	ck_assert_ptr_null(index_get(ix, "d3/f4"));
	index_del(ix, "d3/f3");
	ck_assert_ptr_null(index_get(ix, "d3/f3"));
	ck_assert_uint_eq(index_count(ix), 4999);
	index_free(ix);
}
END_TEST

START_TEST(test_tree_operations_respect_component_boundaries)
{
	struct index		*ix = index_new();
	struct index_stat	 a = st_of(1);

	index_set(ix, "a", &a);
	index_set(ix, "a/x", &a);
	index_set(ix, "a/y/z", &a);
	index_set(ix, "ab", &a);
	index_set(ix, "ab/x", &a);
	index_rename(ix, "a", "c");
	ck_assert_ptr_nonnull(index_get(ix, "c"));
	ck_assert_ptr_nonnull(index_get(ix, "c/x"));
	ck_assert_ptr_nonnull(index_get(ix, "c/y/z"));
	ck_assert_ptr_null(index_get(ix, "a/x"));
	ck_assert_ptr_nonnull(index_get(ix, "ab/x"));
	index_del_tree(ix, "c");
	ck_assert_uint_eq(index_count(ix), 2);
	ck_assert_ptr_nonnull(index_get(ix, "ab"));
	index_free(ix);
}
END_TEST

START_TEST(test_save_and_load_round_trip)
{
	char			 path[] = "/tmp/test_index.XXXXXX";
	struct index		*ix = index_new(), *back;
	struct index_stat	 a = st_of(7);
	struct ls_err		 err;
	uint64_t		 gen = 0;
	int			 fd = mkstemp(path);

	close(fd);
	a.ctime_sec = -3;
	a.rdev = 0x0102;
	a.ino = 987654321;
	a.nlink = 3;
	index_set(ix, "plain", &a);
	index_set(ix, "with\nnewline\\and backslash", &a);
	index_set(ix, "sp ace", &a);
	ck_assert_int_eq(index_save(ix, 42, path, &err), 0);
	back = index_load(path, &gen, &err);
	ck_assert_msg(back != NULL, "%s", err.msg);
	ck_assert_uint_eq(gen, 42);
	ck_assert_uint_eq(index_count(back), 3);
	ck_assert(index_stat_same(index_get(back,
	    "with\nnewline\\and backslash"), &a));
	ck_assert(index_stat_same(index_get(back, "sp ace"), &a));
	index_free(back);
	index_free(ix);
	unlink(path);
}
END_TEST

START_TEST(test_corrupt_file_is_refused)
{
	char		 path[] = "/tmp/test_index.XXXXXX";
	struct ls_err	 err;
	uint64_t	 gen;
	int		 fd = mkstemp(path);

	dprintf(fd, "layersync-index 2 5\n1 2 3 4 5 6 7 8 9 10 11 ok\n1 2 x\n");
	close(fd);
	ck_assert_ptr_null(index_load(path, &gen, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, ":3: malformed entry"));
	unlink(path);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_set_get_and_delete,
		test_tree_operations_respect_component_boundaries,
		test_save_and_load_round_trip,
		test_corrupt_file_is_refused,
		NULL
	};

	return test_run("index", tests, NULL, NULL);
}
