/*
 * test_beneath: wire paths are checked, and every open stays beneath
 * the root, whatever symlinks, "..", or mount points the tree holds.
 * Runs against real directories in /var/tmp; the mount test needs root.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "err.h"
#include "testpath.h"

static char	 base[64], root[PATH_MAX], outside[PATH_MAX];
static int	 rootfd = -1, fds_before;

static void
setup(void)
{
	fds_before = test_fd_count();
	rootfd = test_make_roots(base, root, sizeof(root), outside,
	    sizeof(outside));
}

static void
teardown(void)
{
	close(rootfd);
	test_rm_tree(root);
	test_rm_tree(outside);
	ck_assert_int_eq(test_fd_count(), fds_before);
}

static int
exists(const char *path)
{
	struct stat	 st;

	return lstat(path, &st) == 0;
}

static void
assert_invalid(const char *rel, const char *why)
{
	struct ls_err	 err;

	memset(&err, 0, sizeof(err));
	errno = 0;
	ck_assert_int_eq(path_valid(rel, &err), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(err.msg, why) != NULL, "\"%s\" lacks \"%s\"",
	    err.msg, why);
	if (rel != NULL && strlen(rel) < 100)
		ck_assert_msg(strstr(err.msg, rel) != NULL,
		    "\"%s\" does not name the path", err.msg);
}

START_TEST(test_valid_paths_are_accepted)
{
	char	 name[NAME_MAX + 1], longp[BENEATH_PATH_MAX + 1];
	size_t	 i;

	ck_assert_int_eq(path_valid("a", NULL), 0);
	ck_assert_int_eq(path_valid("a/b/c", NULL), 0);
	ck_assert_int_eq(path_valid(".hidden/..x/a..b/...", NULL), 0);
	ck_assert_int_eq(path_valid("with space/new\nline", NULL), 0);
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	ck_assert_int_eq(path_valid(name, NULL), 0);
	/* 4095 bytes: "x/x/.../x" */
	for (i = 0; i < BENEATH_PATH_MAX; i++)
		longp[i] = i % 2 ? '/' : 'x';
	longp[BENEATH_PATH_MAX] = '\0';
	ck_assert_int_eq(path_valid(longp, NULL), 0);
}
END_TEST

START_TEST(test_empty_path_names_the_root)
{
	struct stat	 a, b;
	int		 fd;

	ck_assert_int_eq(path_valid("", NULL), 0);
	fd = beneath_open(rootfd, "", O_RDONLY | O_DIRECTORY, 0, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &a), 0);
	ck_assert_int_eq(fstat(rootfd, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(fd);
}
END_TEST

START_TEST(test_absolute_paths_are_rejected)
{
	assert_invalid("/etc/passwd", "absolute");
	assert_invalid("/", "absolute");
}
END_TEST

START_TEST(test_dot_components_are_rejected)
{
	assert_invalid(".", "\".\" component");
	assert_invalid("a/./b", "\".\" component");
	assert_invalid("a/.", "\".\" component");
}
END_TEST

START_TEST(test_dotdot_components_are_rejected)
{
	assert_invalid("..", "\"..\" component");
	assert_invalid("../etc", "\"..\" component");
	assert_invalid("a/../../b", "\"..\" component");
	assert_invalid("a/..", "\"..\" component");
}
END_TEST

START_TEST(test_empty_components_are_rejected)
{
	assert_invalid("a//b", "empty component");
}
END_TEST

START_TEST(test_trailing_slash_is_rejected)
{
	assert_invalid("a/", "trailing '/'");
	assert_invalid("a/b//", "empty component");
}
END_TEST

START_TEST(test_overlong_path_is_rejected)
{
	char	 p[BENEATH_PATH_MAX + 2];
	size_t	 i;

	for (i = 0; i < sizeof(p) - 1; i++)
		p[i] = i % 2 ? '/' : 'x';
	p[sizeof(p) - 1] = '\0';
	assert_invalid(p, "longer than 4095 bytes");
}
END_TEST

START_TEST(test_overlong_component_is_rejected)
{
	char	 p[NAME_MAX + 4];

	memcpy(p, "a/", 2);
	memset(p + 2, 'n', NAME_MAX + 1);
	p[NAME_MAX + 3] = '\0';
	assert_invalid(p, "component longer than NAME_MAX");
}
END_TEST

START_TEST(test_reserved_temp_names_are_rejected)
{
	assert_invalid(".layersync.tmp.0123456789abcdef", "reserved");
	assert_invalid("a/.layersync.tmp.x/b", "reserved");
	ck_assert_int_eq(path_valid("a/.layersync.tmpx", NULL), 0);
}
END_TEST

START_TEST(test_null_path_is_rejected)
{
	assert_invalid(NULL, "missing");
}
END_TEST

START_TEST(test_messages_escape_control_bytes)
{
	struct ls_err	 err;

	ck_assert_int_eq(path_valid("evil\n/../x", &err), -1);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	ck_assert_ptr_nonnull(strstr(err.msg, "evil\\012/../x"));
}
END_TEST

START_TEST(test_open_reads_a_file_beneath_root)
{
	char	 buf[16] = "";
	int	 fd;

	ck_assert_int_eq(mkdir(at(root, "a"), 0755), 0);
	test_put_file(at(root, "a/f"), "inside");
	fd = beneath_open(rootfd, "a/f", O_RDONLY, 0, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 6);
	ck_assert_str_eq(buf, "inside");
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(fd);
}
END_TEST

START_TEST(test_create_beneath_root_works)
{
	int	 fd;

	fd = beneath_open(rootfd, "new", O_WRONLY | O_CREAT | O_EXCL, 0600,
	    NULL);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert(exists(at(root, "new")));
}
END_TEST

START_TEST(test_symlinked_parent_to_outside_is_refused)
{
	struct ls_err	 err;
	const char	*leaf = NULL;
	int		 fd;

	ck_assert_int_eq(symlink(outside, at(root, "link")), 0);
	errno = 0;
	fd = beneath_open(rootfd, "link/new", O_WRONLY | O_CREAT, 0644, &err);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
	ck_assert_ptr_nonnull(strstr(err.msg, "link/new"));
	errno = 0;
	ck_assert_int_eq(beneath_parent(rootfd, "link/new", &leaf, &err), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
	ck_assert(!exists(at(outside, "new")));
}
END_TEST

START_TEST(test_symlink_deep_in_path_is_refused)
{
	const char	*leaf;

	ck_assert_int_eq(mkdir(at(root, "a"), 0755), 0);
	ck_assert_int_eq(mkdir(at(outside, "c"), 0755), 0);
	ck_assert_int_eq(symlink(outside, at(root, "a/b")), 0);
	ck_assert_int_eq(beneath_open(rootfd, "a/b/c/new",
	    O_WRONLY | O_CREAT, 0644, NULL), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(beneath_parent(rootfd, "a/b/c/new", &leaf, NULL),
	    -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert(!exists(at(outside, "c/new")));
}
END_TEST

START_TEST(test_relative_symlink_inside_root_is_refused_too)
{
	/* even a harmless link is refused: no symlink is ever walked */
	ck_assert_int_eq(mkdir(at(root, "real"), 0755), 0);
	ck_assert_int_eq(symlink("real", at(root, "alias")), 0);
	ck_assert_int_eq(beneath_open(rootfd, "alias", O_RDONLY, 0, NULL),
	    -1);
	ck_assert_int_eq(errno, ELOOP);
}
END_TEST

START_TEST(test_absolute_symlink_is_refused)
{
	ck_assert_int_eq(symlink("/", at(root, "abs")), 0);
	ck_assert_int_eq(beneath_open(rootfd, "abs/etc/passwd", O_RDONLY, 0,
	    NULL), -1);
	ck_assert_int_eq(errno, ELOOP);
}
END_TEST

START_TEST(test_final_symlink_is_not_followed)
{
	struct stat	 st;
	char		 buf[16] = "";
	int		 fd, in;

	test_put_file(at(outside, "victim"), "outside");
	ck_assert_int_eq(symlink(at(outside, "victim"), at(root, "l")), 0);
	ck_assert_int_eq(beneath_open(rootfd, "l", O_RDONLY, 0, NULL), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(beneath_open(rootfd, "l", O_WRONLY | O_TRUNC, 0,
	    NULL), -1);
	ck_assert_int_eq(beneath_open(rootfd, "l", O_WRONLY | O_CREAT, 0644,
	    NULL), -1);
	/* O_PATH | O_NOFOLLOW names the link itself */
	fd = beneath_open(rootfd, "l", O_PATH, 0, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstatat(fd, "", &st, AT_EMPTY_PATH), 0);
	ck_assert(S_ISLNK(st.st_mode));
	close(fd);
	in = open(at(outside, "victim"), O_RDONLY);
	ck_assert_int_eq(read(in, buf, sizeof(buf) - 1), 7);
	ck_assert_str_eq(buf, "outside");
	close(in);
}
END_TEST

START_TEST(test_dotdot_cannot_escape_even_unvalidated)
{
	struct ls_err	 err;

	ck_assert_int_eq(beneath_open(rootfd, "../x", O_RDONLY, 0, &err), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* the kernel refuses what path_valid would have */
	ck_assert_int_eq(beneath_openat(rootfd, "..", O_RDONLY, &err), -1);
	ck_assert_int_eq(errno, EXDEV);
	ck_assert_ptr_nonnull(strstr(err.msg, "leaves the root"));
	ck_assert_int_eq(mkdir(at(root, "a"), 0755), 0);
	ck_assert_int_eq(beneath_openat(rootfd, "a/../../x", O_RDONLY, NULL),
	    -1);
	ck_assert_int_eq(errno, EXDEV);
	ck_assert_int_eq(beneath_openat(rootfd, "/etc/passwd", O_RDONLY,
	    NULL), -1);
	ck_assert_int_eq(errno, EXDEV);
}
END_TEST

START_TEST(test_parent_opens_the_directory_and_points_at_leaf)
{
	struct stat	 st, want;
	const char	*leaf = NULL;
	int		 fd;

	ck_assert_int_eq(mkdir(at(root, "a"), 0755), 0);
	ck_assert_int_eq(mkdir(at(root, "a/b"), 0755), 0);
	fd = beneath_parent(rootfd, "a/b/c", &leaf, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(leaf, "c");
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(stat(at(root, "a/b"), &want), 0);
	ck_assert(st.st_ino == want.st_ino);
	ck_assert_int_eq(fsync(fd), 0);	/* not O_PATH */
	close(fd);
	fd = beneath_parent(rootfd, "top", &leaf, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(leaf, "top");
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(fstat(rootfd, &want), 0);
	ck_assert(st.st_ino == want.st_ino);
	close(fd);
}
END_TEST

START_TEST(test_parent_of_the_root_is_refused)
{
	struct ls_err	 err;
	const char	*leaf;

	ck_assert_int_eq(beneath_parent(rootfd, "", &leaf, &err), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "no parent"));
}
END_TEST

START_TEST(test_parent_that_is_a_file_fails)
{
	const char	*leaf;

	test_put_file(at(root, "f"), "x");
	ck_assert_int_eq(beneath_parent(rootfd, "f/x", &leaf, NULL), -1);
	ck_assert_int_eq(errno, ENOTDIR);
}
END_TEST

START_TEST(test_mount_point_is_not_crossed)
{
	struct ls_err	 err;
	const char	*leaf;
	int		 fd, r1, e1, r2, e2;

	ck_assert_int_eq(mkdir(at(root, "mnt"), 0755), 0);
	/* a private mount namespace: a crash here leaves no mount behind */
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("none", at(root, "mnt"), "tmpfs", 0, "size=1m") == -1) {
		fprintf(stderr, "mount: %s, mount test skipped\n",
		    strerror(errno));
		return;
	}
	test_put_file(at(root, "mnt/f"), "x");
	/* rootfd belongs to the old namespace, which has no such mount */
	fd = open(root, O_RDONLY | O_DIRECTORY);
	r1 = beneath_open(fd, "mnt/f", O_RDONLY, 0, &err);
	e1 = errno;
	r2 = beneath_parent(fd, "mnt/g", &leaf, NULL);
	e2 = errno;
	close(fd);
	umount2(at(root, "mnt"), MNT_DETACH);
	ck_assert_int_eq(r1, -1);
	ck_assert_int_eq(e1, EXDEV);
	ck_assert_ptr_nonnull(strstr(err.msg, "mount point"));
	ck_assert_int_eq(r2, -1);
	ck_assert_int_eq(e2, EXDEV);
}
END_TEST

START_TEST(test_rmtree_never_follows_symlinks)
{
	ck_assert_int_eq(mkdir(at(outside, "keep"), 0755), 0);
	test_put_file(at(outside, "keep/file"), "x");
	ck_assert_int_eq(mkdir(at(root, "t"), 0755), 0);
	ck_assert_int_eq(mkdir(at(root, "t/a"), 0755), 0);
	test_put_file(at(root, "t/a/f"), "x");
	ck_assert_int_eq(symlink(outside, at(root, "t/out")), 0);
	ck_assert_int_eq(symlink(at(outside, "keep"), at(root, "t/a/k")), 0);
	ck_assert_int_eq(beneath_rmtree(rootfd, "t", NULL), 0);
	ck_assert(!exists(at(root, "t")));
	ck_assert(exists(at(outside, "keep/file")));
	ck_assert_int_eq(beneath_rmtree(rootfd, "t", NULL), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_rmtree_of_deep_tree_holds_few_fds)
{
	struct rlimit	 old, low;
	int		 fd, next, i;

	/* deeper than the fd limit: one fd per level would fail */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	fd = dup(rootfd);
	for (i = 0; i < 300; i++) {
		ck_assert_int_eq(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
	}
	close(fd);
	low = old;
	low.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	i = beneath_rmtree(rootfd, "d", NULL);
	setrlimit(RLIMIT_NOFILE, &old);
	ck_assert_int_eq(i, 0);
	ck_assert(!exists(at(root, "d")));
}
END_TEST

START_TEST(test_sweep_removes_only_temp_names)
{
	ck_assert_int_eq(mkdir(at(root, "a"), 0755), 0);
	ck_assert_int_eq(mkdir(at(root, "a/b"), 0755), 0);
	test_put_file(at(root, ".layersync.tmp.0000000000000001"), "x");
	test_put_file(at(root, "a/b/.layersync.tmp.0000000000000002"), "x");
	ck_assert_int_eq(mkdir(at(root, "a/.layersync.tmp.dir"), 0755), 0);
	test_put_file(at(root, "a/.layersync.tmp.dir/inner"), "x");
	test_put_file(at(root, "a/b/keep"), "x");
	test_put_file(at(root, "a/.layersync.tmpkeep"), "x");
	ck_assert_int_eq(symlink(outside, at(root, "a/out")), 0);
	test_put_file(at(outside, ".layersync.tmp.outside"), "x");
	ck_assert_int_eq(beneath_sweep(rootfd, NULL), 0);
	ck_assert(!exists(at(root, ".layersync.tmp.0000000000000001")));
	ck_assert(!exists(at(root, "a/b/.layersync.tmp.0000000000000002")));
	ck_assert(!exists(at(root, "a/.layersync.tmp.dir")));
	ck_assert(exists(at(root, "a/b/keep")));
	ck_assert(exists(at(root, "a/.layersync.tmpkeep")));
	ck_assert(exists(at(outside, ".layersync.tmp.outside")));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("beneath");
	TCase	*tv = tcase_create("path_valid");
	TCase	*tc = tcase_create("resolve");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tv, test_valid_paths_are_accepted);
	tcase_add_test(tv, test_absolute_paths_are_rejected);
	tcase_add_test(tv, test_dot_components_are_rejected);
	tcase_add_test(tv, test_dotdot_components_are_rejected);
	tcase_add_test(tv, test_empty_components_are_rejected);
	tcase_add_test(tv, test_trailing_slash_is_rejected);
	tcase_add_test(tv, test_overlong_path_is_rejected);
	tcase_add_test(tv, test_overlong_component_is_rejected);
	tcase_add_test(tv, test_reserved_temp_names_are_rejected);
	tcase_add_test(tv, test_null_path_is_rejected);
	tcase_add_test(tv, test_messages_escape_control_bytes);
	suite_add_tcase(s, tv);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty_path_names_the_root);
	tcase_add_test(tc, test_open_reads_a_file_beneath_root);
	tcase_add_test(tc, test_create_beneath_root_works);
	tcase_add_test(tc, test_symlinked_parent_to_outside_is_refused);
	tcase_add_test(tc, test_symlink_deep_in_path_is_refused);
	tcase_add_test(tc, test_relative_symlink_inside_root_is_refused_too);
	tcase_add_test(tc, test_absolute_symlink_is_refused);
	tcase_add_test(tc, test_final_symlink_is_not_followed);
	tcase_add_test(tc, test_dotdot_cannot_escape_even_unvalidated);
	tcase_add_test(tc, test_parent_opens_the_directory_and_points_at_leaf);
	tcase_add_test(tc, test_parent_of_the_root_is_refused);
	tcase_add_test(tc, test_parent_that_is_a_file_fails);
	tcase_add_test(tc, test_mount_point_is_not_crossed);
	tcase_add_test(tc, test_rmtree_never_follows_symlinks);
	tcase_add_test(tc, test_rmtree_of_deep_tree_holds_few_fds);
	tcase_add_test(tc, test_sweep_removes_only_temp_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* one base per run: a failed test skips its teardown */
	strcpy(base, "/var/tmp/test_beneath.XXXXXX");
	if (mkdtemp(base) == NULL)
		return 1;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	test_rm_tree(base);
	return failed == 0 ? 0 : 1;
}
