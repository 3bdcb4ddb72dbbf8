/*
 * test_handover: what a role change keeps. A seeded index holds the
 * tree; the diverged list names every path changed, added or removed
 * since the acknowledged index (each entry of a new or gone subtree),
 * never one that stayed; the list survives a save and load whatever
 * bytes its paths hold, and a corrupt list is refused. The twin lock
 * excludes a second holder. The walk never follows a symlink out.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "handover.h"
#include "index.h"
#include "testmain.h"
#include "testpath.h"

static char	 root[PATH_MAX], outside[PATH_MAX];
static int	 rootfd = -1;

static void
setup(void)
{
	rootfd = test_make_roots("/tmp", root, sizeof(root), outside,
	    sizeof(outside));
	ck_assert_int_eq(mkdir(at(root, "d"), 0755), 0);
	ck_assert_int_eq(mkdir(at(root, "gone"), 0755), 0);
	test_put_file(at(root, "d/keep"), "kept");
	test_put_file(at(root, "d/change"), "old");
	test_put_file(at(root, "gone/x"), "x");
	test_put_file(at(outside, "secret"), "outside");
	ck_assert_int_eq(symlink(outside, at(root, "link")), 0);
}

static void
teardown(void)
{
	close(rootfd);
	test_rm_tree(root);
	test_rm_tree(outside);
}

static int
listed(const struct pathlist *l, const char *path)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], path) == 0)
			return 1;
	return 0;
}

START_TEST(test_seed_holds_the_tree_and_stays_beneath)
{
	struct index	*ix = index_new();
	struct ls_err	 err;

	ck_assert_int_eq(handover_seed(rootfd, ix, &err), 0);
	ck_assert_int_eq(index_count(ix), 6);
	ck_assert_ptr_nonnull(index_get(ix, "d/keep"));
	ck_assert_ptr_nonnull(index_get(ix, "gone/x"));
	ck_assert(S_ISLNK(index_get(ix, "link")->mode));
	ck_assert_ptr_null(index_get(ix, "link/secret"));
	index_free(ix);
}
END_TEST

START_TEST(test_diverged_names_exactly_what_changed)
{
	struct index	*ix = index_new();
	struct pathlist	 l = { NULL, 0 };
	struct ls_err	 err;

	ck_assert_int_eq(handover_seed(rootfd, ix, &err), 0);
	/* After the last acknowledged batch: */
	test_put_file(at(root, "d/change"), "new content");
	ck_assert_int_eq(mkdir(at(root, "new"), 0755), 0);
	test_put_file(at(root, "new/y"), "y");
	ck_assert_int_eq(unlink(at(root, "gone/x")), 0);
	ck_assert_int_eq(rmdir(at(root, "gone")), 0);
	ck_assert_int_eq(handover_diverged(rootfd, ix, &l, &err), 0);
	ck_assert(listed(&l, "d/change"));
	ck_assert(listed(&l, "new"));
	ck_assert(listed(&l, "new/y"));
	ck_assert(listed(&l, "gone"));
	ck_assert(listed(&l, "gone/x"));
	ck_assert(!listed(&l, "d/keep"));
	ck_assert(!listed(&l, "link"));
	/* A file's content changing leaves its directory as it was. */
	ck_assert(!listed(&l, "d"));
	ck_assert_int_eq(l.n, 5);
	pathlist_clear(&l);
	index_free(ix);
}
END_TEST

START_TEST(test_list_survives_save_and_load)
{
	struct pathlist	 l = { NULL, 0 }, back = { NULL, 0 };
	struct ls_err	 err;
	size_t		 i;

	pathlist_add(&l, "a/b");
	pathlist_add(&l, "with\nnewline");
	pathlist_add(&l, "latin1-\xe9");
	ck_assert_int_eq(handover_load(root, &back, &err), 0);	/* none */
	ck_assert_int_eq(handover_save(root, &l, &err), 0);
	ck_assert_int_eq(handover_load(root, &back, &err), 1);
	ck_assert_uint_eq(back.n, l.n);
	for (i = 0; i < l.n; i++)
		ck_assert_str_eq(back.v[i], l.v[i]);
	pathlist_clear(&back);
	/* An empty list is a list: the twin still hands over. */
	pathlist_clear(&l);
	ck_assert_int_eq(handover_save(root, &l, &err), 0);
	ck_assert_int_eq(handover_load(root, &back, &err), 1);
	ck_assert_uint_eq(back.n, 0);
	ck_assert_int_eq(handover_clear(root, &err), 0);
	ck_assert_int_eq(handover_load(root, &back, &err), 0);
}
END_TEST

START_TEST(test_corrupt_list_is_refused)
{
	struct pathlist	 back = { NULL, 0 };
	struct ls_err	 err;
	int		 fd;

	/* Unterminated last path, then a path escaping the tree. */
	test_put_file(at(root, HANDOVER_FILE), "a");
	ck_assert_int_eq(handover_load(root, &back, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "malformed"));
	fd = open(at(root, HANDOVER_FILE), O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, "ok\0../etc/passwd\0", 17), 17);
	close(fd);
	ck_assert_int_eq(handover_load(root, &back, &err), -1);
	ck_assert_uint_eq(back.n, 0);
}
END_TEST

START_TEST(test_twin_lock_excludes_a_second_holder)
{
	struct ls_err	 err;
	int		 fd, other;

	fd = twin_lock(root, &err);
	ck_assert_int_ge(fd, 0);
	other = open(at(root, "lock"), O_RDWR);
	ck_assert_int_ge(other, 0);
	ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), -1);
	close(fd);
	ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
}
END_TEST

int
main(void)
{
	const TTest *const tests[] = {
		test_seed_holds_the_tree_and_stays_beneath,
		test_diverged_names_exactly_what_changed,
		test_list_survives_save_and_load,
		test_corrupt_list_is_refused,
		test_twin_lock_excludes_a_second_holder,
		NULL
	};

	return test_run("handover", tests, setup, teardown);
}
