/*
 * test_mounts: is an overlay mounted on an upperdir? Each test runs in
 * its own mount namespace (Check forks per test), so the overlays and
 * the tmpfs it mounts never show outside it.
 */
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mounts.h"
#include "testmain.h"
#include "testpath.h"

static char	 base[] = "/tmp/ls-test-mounts-XXXXXX";
static char	 upper[PATH_MAX];

/*
 * A private mount namespace with a tmpfs of its own on /tmp, holding
 * lower, upper, work and merged dirs: they go with the namespace, even
 * when an assertion ends the test before its teardown.
 */
static void
setup(void)
{
	static const char *const	 dirs[] = { "l", "u", "w", "m" };
	size_t				 i;

	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m"), 0);
	ck_assert_ptr_nonnull(mkdtemp(base));
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ck_assert_int_eq(mkdir(at(base, dirs[i]), 0755), 0);
	snprintf(upper, sizeof(upper), "%s", at(base, "u"));
}

static void
teardown(void)
{
	umount2(at(base, "m"), MNT_DETACH);
	test_rm_tree(base);
}

static void
mount_overlay(void)
{
	char	 opts[3 * PATH_MAX + 64];

	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s",
	    at(base, "l"), upper, at(base, "w"));
	ck_assert_int_eq(mount("overlay", at(base, "m"), "overlay", 0, opts), 0);
}

START_TEST(test_unmounted_upper_is_not_mounted)
{
	ck_assert_int_eq(overlay_upper_mounted(upper), 0);
}
END_TEST

START_TEST(test_mounted_upper_is_mounted)
{
	mount_overlay();
	ck_assert_int_eq(overlay_upper_mounted(upper), 1);
}
END_TEST

/* A prefix of the upperdir is another directory, not a mounted one. */
START_TEST(test_prefix_of_upper_is_not_mounted)
{
	char	 shorter[PATH_MAX];

	mount_overlay();
	snprintf(shorter, sizeof(shorter), "%.*s", (int)strlen(upper) - 1,
	    upper);
	ck_assert_int_eq(overlay_upper_mounted(shorter), 0);
	ck_assert_int_eq(overlay_upper_mounted(base), 0);
}
END_TEST

/* Kept open, the table is read again once a mount or unmount changed it:
 * the answer follows the twin starting and stopping. */
START_TEST(test_kept_table_follows_mounts)
{
	struct mounts	*m = mounts_new();
	int		 i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(mounts_overlay_upper(m, upper), 0);
		mount_overlay();
		ck_assert_int_eq(mounts_overlay_upper(m, upper), 1);
		ck_assert_int_eq(mounts_overlay_upper(m, upper), 1);
		ck_assert_int_eq(umount(at(base, "m")), 0);
		ck_assert_int_eq(mounts_overlay_upper(m, upper), 0);
	}
	mounts_free(m);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_unmounted_upper_is_not_mounted,
		test_mounted_upper_is_mounted,
		test_prefix_of_upper_is_not_mounted,
		test_kept_table_follows_mounts,
		NULL
	};

	return test_run("mounts", tests, setup, teardown);
}
