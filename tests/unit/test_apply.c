/*
 * test_apply: entries land atomically with their content, owner, mode,
 * mtime and xattrs, never through a symlink, and a crash leaves only
 * temporaries that the sweep removes. Runs as root (chown, mknod,
 * trusted.* xattrs) against real directories in /var/tmp.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <linux/capability.h>

#include "apply.h"
#include "beneath.h"
#include "err.h"
#include "testpath.h"

static char		 base[64], root[PATH_MAX], outside[PATH_MAX];
static int		 rootfd = -1, fds_before;
static struct apply	*ap;
static struct ls_err	 err;

static void
setup(void)
{
	fds_before = test_fd_count();
	rootfd = test_make_roots(base, root, sizeof(root), outside,
	    sizeof(outside));
	ap = apply_new(rootfd, &err);
	ck_assert_ptr_nonnull(ap);
	memset(&err, 0, sizeof(err));
}

static void
teardown(void)
{
	apply_free(ap);
	close(rootfd);
	test_rm_tree(root);
	test_rm_tree(outside);
	ck_assert_int_eq(test_fd_count(), fds_before);
}


/* The file's content as a string; the caller frees it. */
static char *
slurp(const char *path)
{
	char	*buf = calloc(1, 65536);
	int	 fd = open(path, O_RDONLY | O_NOFOLLOW);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(read(fd, buf, 65535), 0);
	close(fd);
	return buf;
}

static int
exists(const char *path)
{
	struct stat	 st;

	return lstat(path, &st) == 0;
}

static int
count_temps(const char *dir)
{
	struct dirent	*de;
	DIR		*d = opendir(dir);
	int		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += beneath_is_tmp(de->d_name);
	closedir(d);
	return n;
}

static struct apply_entry
entry(const char *path, enum entry_kind kind, mode_t mode)
{
	struct apply_entry	 e;

	memset(&e, 0, sizeof(e));
	e.path = path;
	e.kind = kind;
	e.mode = mode;
	e.mtime.tv_sec = 1600000000;
	e.mtime.tv_nsec = 123456789;
	return e;
}

static int
apply_reg_in(struct apply *a, struct apply_entry *e, const char *content)
{
	struct apply_file	*f;

	e->size = strlen(content);
	if ((f = apply_file_open(a, e, &err)) == NULL)
		return -1;
	if (apply_file_write(f, 0, content, e->size, &err) == -1) {
		apply_file_abort(f);
		return -1;
	}
	return apply_file_commit(f, &err);
}

static int
apply_reg(struct apply_entry *e, const char *content)
{
	return apply_reg_in(ap, e, content);
}

static void
assert_meta(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	struct stat	 st;

	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, uid);
	ck_assert_uint_eq(st.st_gid, gid);
	ck_assert_uint_eq(st.st_mode & 07777, mode);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1600000000);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 123456789);
}

static char *
xattr_of(const char *path, const char *name)
{
	static char	 buf[256];
	ssize_t		 n;

	if ((n = lgetxattr(path, name, buf, sizeof(buf) - 1)) == -1)
		return NULL;
	buf[n] = '\0';
	return buf;
}

START_TEST(test_file_gets_content_owner_mode_mtime_xattrs)
{
	struct vfs_cap_data	 cap, got;
	struct apply_xattr	 x[2];
	struct apply_entry	 e = entry("f", ENTRY_REG, 04755);
	char			*s;

	memset(&cap, 0, sizeof(cap));
	cap.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
	cap.data[0].permitted = 1U << CAP_NET_BIND_SERVICE;
	x[0] = (struct apply_xattr){ "user.test", "hello", 5 };
	x[1] = (struct apply_xattr){ "security.capability", &cap,
	    XATTR_CAPS_SZ_2 };
	e.uid = 1234;
	e.gid = 5678;
	e.xattrs = x;
	e.nxattr = 2;
	ck_assert_msg(apply_reg(&e, "content\n") == 0, "%s", err.msg);
	ck_assert_str_eq(s = slurp(at(root, "f")), "content\n");
	free(s);
	/* setuid survives: chmod came after chown */
	assert_meta(at(root, "f"), 1234, 5678, 04755);
	ck_assert_str_eq(xattr_of(at(root, "f"), "user.test"), "hello");
	ck_assert_int_eq(lgetxattr(at(root, "f"), "security.capability",
	    &got, sizeof(got)), XATTR_CAPS_SZ_2);
	ck_assert_uint_eq(got.data[0].permitted, 1U << CAP_NET_BIND_SERVICE);
	ck_assert_int_eq(count_temps(root), 0);
	ck_assert_int_eq(apply_sync(ap, &err), 0);
}
END_TEST

START_TEST(test_setuid_and_setgid_survive_an_owner_change)
{
	struct apply_entry	 e = entry("f", ENTRY_REG, 0644);

	ck_assert_int_eq(apply_reg(&e, "old"), 0);
	e = entry("f", ENTRY_REG, 06755);
	e.uid = 1000;
	e.gid = 1000;
	ck_assert_int_eq(apply_reg(&e, "new"), 0);
	assert_meta(at(root, "f"), 1000, 1000, 06755);
}
END_TEST

START_TEST(test_file_replaces_old_version_atomically_by_rename)
{
	struct apply_entry	 e = entry("f", ENTRY_REG, 0644);
	struct stat		 before, after;
	char			*s;
	int			 fd;

	ck_assert_int_eq(apply_reg(&e, "old content"), 0);
	ck_assert_int_eq(stat(at(root, "f"), &before), 0);
	/* a reader holding the old file keeps the old bytes */
	fd = open(at(root, "f"), O_RDONLY);
	ck_assert_int_eq(apply_reg(&e, "new"), 0);
	ck_assert_int_eq(stat(at(root, "f"), &after), 0);
	ck_assert(before.st_ino != after.st_ino);
	ck_assert_str_eq(s = slurp(at(root, "f")), "new");
	free(s);
	close(fd);
}
END_TEST

START_TEST(test_file_in_missing_parent_fails)
{
	struct apply_entry	 e = entry("no/such/f", ENTRY_REG, 0644);

	ck_assert_int_eq(apply_reg(&e, "x"), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "no/such/f"));
}
END_TEST

START_TEST(test_final_symlink_is_replaced_not_written_through)
{
	struct apply_entry	 e = entry("f", ENTRY_REG, 0600);
	struct stat		 st;
	char			*s;

	test_put_file(at(outside, "victim"), "outside");
	ck_assert_int_eq(symlink(at(outside, "victim"), at(root, "f")), 0);
	ck_assert_int_eq(apply_reg(&e, "mine"), 0);
	ck_assert_int_eq(lstat(at(root, "f"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_str_eq(s = slurp(at(root, "f")), "mine");
	free(s);
	ck_assert_str_eq(s = slurp(at(outside, "victim")), "outside");
	free(s);
}
END_TEST

START_TEST(test_symlinked_parent_makes_every_operation_fail)
{
	struct apply_entry	 e = entry("p/x", ENTRY_REG, 0644);

	test_put_file(at(outside, "victim"), "outside");
	ck_assert_int_eq(symlink(outside, at(root, "p")), 0);
	ck_assert_int_eq(apply_reg(&e, "x"), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
	e = entry("p/d", ENTRY_DIR, 0755);
	ck_assert_int_eq(apply_node(ap, &e, &err), -1);
	e = entry("p/fifo", ENTRY_FIFO, 0644);
	ck_assert_int_eq(apply_node(ap, &e, &err), -1);
	e = entry("p/w", ENTRY_WHITEOUT, 0);
	ck_assert_int_eq(apply_node(ap, &e, &err), -1);
	e = entry("hl", ENTRY_HARDLINK, 0);
	e.target = "p/victim";
	ck_assert_int_eq(apply_node(ap, &e, &err), -1);
	ck_assert_int_eq(apply_remove(ap, "p/victim", &err), -1);
	ck_assert_int_eq(apply_rename(ap, "p/victim", "stolen", &err), -1);
	ck_assert_int_eq(apply_rename(ap, "p", "p/../x", &err), -1);
	ck_assert(!exists(at(outside, "x")));
	ck_assert(!exists(at(outside, "d")));
	ck_assert(!exists(at(outside, "fifo")));
	ck_assert(!exists(at(outside, "w")));
	ck_assert(!exists(at(root, "hl")));
	ck_assert(!exists(at(root, "stolen")));
	ck_assert(exists(at(outside, "victim")));
	ck_assert_int_eq(count_temps(outside), 0);
}
END_TEST

START_TEST(test_dotdot_paths_are_refused)
{
	struct apply_entry	 e = entry("../escape", ENTRY_REG, 0644);

	ck_assert_int_eq(apply_reg(&e, "x"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "\"..\" component"));
	ck_assert_int_eq(apply_remove(ap, "a/../..", &err), -1);
}
END_TEST

START_TEST(test_dir_gets_opaque_xattr_and_metadata)
{
	struct apply_xattr	 x = { "trusted.overlay.opaque", "y", 1 };
	struct apply_entry	 e = entry("d", ENTRY_DIR, 01777);

	e.uid = 1234;
	e.gid = 5678;
	e.xattrs = &x;
	e.nxattr = 1;
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	assert_meta(at(root, "d"), 1234, 5678, 01777);
	ck_assert_str_eq(xattr_of(at(root, "d"), "trusted.overlay.opaque"),
	    "y");
	ck_assert_int_eq(count_temps(root), 0);
}
END_TEST

START_TEST(test_existing_dir_keeps_contents_and_loses_opaque)
{
	struct apply_xattr	 x = { "user.keep", "1", 1 };
	struct apply_entry	 e = entry("d", ENTRY_DIR, 0750);
	struct stat		 before, after;

	ck_assert_int_eq(mkdir(at(root, "d"), 0700), 0);
	test_put_file(at(root, "d/child"), "x");
	ck_assert_int_eq(setxattr(at(root, "d"), "trusted.overlay.opaque",
	    "y", 1, 0), 0);
	ck_assert_int_eq(setxattr(at(root, "d"), "user.stale", "s", 1, 0), 0);
	ck_assert_int_eq(setxattr(at(root, "d"), "trusted.overlay.origin",
	    "ORIG", 4, 0), 0);
	ck_assert_int_eq(stat(at(root, "d"), &before), 0);
	e.xattrs = &x;
	e.nxattr = 1;
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(stat(at(root, "d"), &after), 0);
	ck_assert(before.st_ino == after.st_ino);
	ck_assert(exists(at(root, "d/child")));
	ck_assert_ptr_null(xattr_of(at(root, "d"), "trusted.overlay.opaque"));
	ck_assert_ptr_null(xattr_of(at(root, "d"), "user.stale"));
	ck_assert_str_eq(xattr_of(at(root, "d"), "user.keep"), "1");
	/* per-mount state is never touched */
	ck_assert_str_eq(xattr_of(at(root, "d"), "trusted.overlay.origin"),
	    "ORIG");
	assert_meta(at(root, "d"), 0, 0, 0750);
}
END_TEST

START_TEST(test_per_mount_xattrs_are_never_copied)
{
	struct apply_xattr	 x[4] = {
		{ "trusted.overlay.origin", "EVIL", 4 },
		{ "trusted.overlay.impure", "y", 1 },
		{ "trusted.overlay.nlink", "U+1", 3 },
		{ "trusted.overlay.redirect", "/lower/d", 8 },
	};
	struct apply_entry	 e = entry("d", ENTRY_DIR, 0755);

	ck_assert_int_eq(mkdir(at(root, "d"), 0755), 0);
	ck_assert_int_eq(setxattr(at(root, "d"), "trusted.overlay.origin",
	    "ORIG", 4, 0), 0);
	e.xattrs = x;
	e.nxattr = 4;
	ck_assert_int_eq(apply_node(ap, &e, &err), 0);
	ck_assert_str_eq(xattr_of(at(root, "d"), "trusted.overlay.origin"),
	    "ORIG");
	ck_assert_ptr_null(xattr_of(at(root, "d"), "trusted.overlay.impure"));
	ck_assert_ptr_null(xattr_of(at(root, "d"), "trusted.overlay.nlink"));
	ck_assert_str_eq(xattr_of(at(root, "d"), "trusted.overlay.redirect"),
	    "/lower/d");
	e = entry("f", ENTRY_REG, 0644);
	e.xattrs = x;
	e.nxattr = 1;
	ck_assert_int_eq(apply_reg(&e, "x"), 0);
	ck_assert_ptr_null(xattr_of(at(root, "f"), "trusted.overlay.origin"));
}
END_TEST

START_TEST(test_xattr_copyable_rule)
{
	ck_assert(xattr_copyable("trusted.overlay.opaque"));
	ck_assert(xattr_copyable("trusted.overlay.redirect"));
	ck_assert(xattr_copyable("trusted.overlay.metacopy"));
	ck_assert(xattr_copyable("security.capability"));
	ck_assert(xattr_copyable("user.anything"));
	ck_assert(xattr_copyable("system.posix_acl_access"));
	ck_assert(xattr_copyable("trusted.overlay.overlay.origin"));
	ck_assert(!xattr_copyable("trusted.overlay.origin"));
	ck_assert(!xattr_copyable("trusted.overlay.impure"));
	ck_assert(!xattr_copyable("trusted.overlay.nlink"));
	ck_assert(!xattr_copyable("trusted.overlay.uuid"));
	ck_assert(!xattr_copyable("trusted.overlay.upper"));
	ck_assert(!xattr_copyable("user.overlay.origin"));
	ck_assert(!xattr_copyable("security.selinux"));
}
END_TEST

START_TEST(test_root_metadata_is_set_through_the_empty_path)
{
	struct apply_entry	 e = entry("", ENTRY_DIR, 0751);

	e.uid = 1234;
	e.gid = 5678;
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	assert_meta(root, 1234, 5678, 0751);
	ck_assert_int_eq(apply_remove(ap, "", &err), -1);
	ck_assert_int_eq(errno, EINVAL);
	e = entry("", ENTRY_FIFO, 0644);
	ck_assert_int_eq(apply_node(ap, &e, &err), -1);
	ck_assert_int_eq(apply_rename(ap, "", "x", &err), -1);
}
END_TEST

START_TEST(test_whiteout_becomes_char_device_0_0)
{
	struct apply_entry	 e = entry("gone", ENTRY_WHITEOUT, 0);
	struct stat		 st;

	test_put_file(at(root, "gone"), "was a file");
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "gone"), &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert_uint_eq(major(st.st_rdev), 0);
	ck_assert_uint_eq(minor(st.st_rdev), 0);
	assert_meta(at(root, "gone"), 0, 0, 0);
	ck_assert_int_eq(count_temps(root), 0);
}
END_TEST

START_TEST(test_whiteout_replaces_a_directory_tree)
{
	struct apply_entry	 e = entry("d", ENTRY_WHITEOUT, 0);
	struct stat		 st;

	ck_assert_int_eq(mkdir(at(root, "d"), 0755), 0);
	ck_assert_int_eq(mkdir(at(root, "d/sub"), 0755), 0);
	test_put_file(at(root, "d/sub/f"), "x");
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "d"), &st), 0);
	ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == 0);
	ck_assert_int_eq(count_temps(root), 0);
}
END_TEST

START_TEST(test_fifo_is_created_with_mode_and_owner)
{
	struct apply_entry	 e = entry("fifo", ENTRY_FIFO, 0620);
	struct stat		 st;

	e.uid = 42;
	e.gid = 43;
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "fifo"), &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	assert_meta(at(root, "fifo"), 42, 43, 0620);
	/* a file over a FIFO must not open it (that would block) */
	e = entry("fifo", ENTRY_REG, 0644);
	ck_assert_int_eq(apply_reg(&e, "file"), 0);
	ck_assert_int_eq(lstat(at(root, "fifo"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
}
END_TEST

START_TEST(test_devices_keep_their_numbers)
{
	struct apply_entry	 e = entry("null", ENTRY_CHR, 0666);
	struct stat		 st;

	e.rdev = makedev(1, 3);
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "null"), &st), 0);
	ck_assert(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	assert_meta(at(root, "null"), 0, 0, 0666);
	e = entry("loop", ENTRY_BLK, 0660);
	e.rdev = makedev(7, 0);
	e.gid = 6;
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "loop"), &st), 0);
	ck_assert(S_ISBLK(st.st_mode) && st.st_rdev == makedev(7, 0));
	assert_meta(at(root, "loop"), 0, 6, 0660);
}
END_TEST

START_TEST(test_symlink_gets_target_owner_and_mtime)
{
	struct apply_entry	 e = entry("l", ENTRY_SYMLINK, 0777);
	char			 buf[64] = "";

	e.target = "/etc/passwd";
	e.uid = 1234;
	e.gid = 5678;
	test_put_file(at(root, "l"), "old");
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(readlink(at(root, "l"), buf, sizeof(buf) - 1), 11);
	ck_assert_str_eq(buf, "/etc/passwd");
	assert_meta(at(root, "l"), 1234, 5678, 0777);
	e.target = "";
	ck_assert_int_eq(apply_node(ap, &e, &err), -1);
}
END_TEST

START_TEST(test_hard_link_shares_an_inode)
{
	struct apply_entry	 e = entry("a", ENTRY_REG, 0644);
	struct stat		 a, b;

	ck_assert_int_eq(mkdir(at(root, "sub"), 0755), 0);
	ck_assert_int_eq(apply_reg(&e, "shared"), 0);
	test_put_file(at(root, "sub/b"), "old b");
	e = entry("sub/b", ENTRY_HARDLINK, 0);
	e.target = "a";
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "a"), &a), 0);
	ck_assert_int_eq(lstat(at(root, "sub/b"), &b), 0);
	ck_assert(a.st_ino == b.st_ino);
	ck_assert_uint_eq(b.st_nlink, 2);
	/* again: rename(2) of one inode onto itself leaves the temp */
	ck_assert_int_eq(apply_node(ap, &e, &err), 0);
	ck_assert_int_eq(count_temps(at(root, "sub")), 0);
	ck_assert_int_eq(lstat(at(root, "a"), &a), 0);
	ck_assert_uint_eq(a.st_nlink, 2);
}
END_TEST

START_TEST(test_hard_link_to_a_symlink_links_the_symlink)
{
	struct apply_entry	 e = entry("hl", ENTRY_HARDLINK, 0);
	struct stat		 a, b;

	test_put_file(at(outside, "victim"), "outside");
	ck_assert_int_eq(symlink(at(outside, "victim"), at(root, "sl")), 0);
	e.target = "sl";
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "sl"), &a), 0);
	ck_assert_int_eq(lstat(at(root, "hl"), &b), 0);
	ck_assert(S_ISLNK(b.st_mode) && a.st_ino == b.st_ino);
	ck_assert_int_eq(lstat(at(outside, "victim"), &a), 0);
	ck_assert_uint_eq(a.st_nlink, 1);
}
END_TEST

START_TEST(test_delete_tree_spares_symlinked_outside)
{
	ck_assert_int_eq(mkdir(at(outside, "keep"), 0755), 0);
	test_put_file(at(outside, "keep/file"), "precious");
	ck_assert_int_eq(mkdir(at(root, "t"), 0755), 0);
	ck_assert_int_eq(mkdir(at(root, "t/a"), 0755), 0);
	ck_assert_int_eq(mkdir(at(root, "t/a/b"), 0755), 0);
	test_put_file(at(root, "t/a/b/f"), "x");
	ck_assert_int_eq(symlink(outside, at(root, "t/out")), 0);
	ck_assert_int_eq(symlink(at(outside, "keep"), at(root, "t/a/k")), 0);
	ck_assert_int_eq(mknod(at(root, "t/a/w"), S_IFCHR, 0), 0);
	ck_assert_msg(apply_remove(ap, "t", &err) == 0, "%s", err.msg);
	ck_assert(!exists(at(root, "t")));
	ck_assert(exists(at(outside, "keep/file")));
	ck_assert(exists(at(outside, "keep")));
	/* absent already: a replayed remove succeeds */
	ck_assert_int_eq(apply_remove(ap, "t", &err), 0);
	ck_assert_int_eq(apply_remove(ap, "t/a/b", &err), 0);
	ck_assert_int_eq(apply_sync(ap, &err), 0);
}
END_TEST

START_TEST(test_delete_of_a_symlink_removes_only_the_link)
{
	test_put_file(at(outside, "victim"), "outside");
	ck_assert_int_eq(symlink(outside, at(root, "l")), 0);
	ck_assert_int_eq(apply_remove(ap, "l", &err), 0);
	ck_assert(!exists(at(root, "l")));
	ck_assert(exists(at(outside, "victim")));
}
END_TEST

START_TEST(test_rename_moves_an_entry_between_directories)
{
	struct apply_entry	 e = entry("a", ENTRY_REG, 0644);
	char			*s;

	ck_assert_int_eq(apply_reg(&e, "moved"), 0);
	ck_assert_int_eq(mkdir(at(root, "b"), 0755), 0);
	test_put_file(at(root, "b/c"), "replaced");
	ck_assert_msg(apply_rename(ap, "a", "b/c", &err) == 0, "%s", err.msg);
	ck_assert(!exists(at(root, "a")));
	ck_assert_str_eq(s = slurp(at(root, "b/c")), "moved");
	free(s);
	ck_assert_int_eq(apply_rename(ap, "missing", "x", &err), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(apply_sync(ap, &err), 0);
}
END_TEST

START_TEST(test_rename_dir_onto_non_empty_dir_replaces_it)
{
	ck_assert_int_eq(mkdir(at(root, "new"), 0755), 0);
	test_put_file(at(root, "new/n"), "n");
	ck_assert_int_eq(mkdir(at(root, "old"), 0755), 0);
	test_put_file(at(root, "old/o"), "o");
	ck_assert_msg(apply_rename(ap, "new", "old", &err) == 0, "%s",
	    err.msg);
	ck_assert(!exists(at(root, "new")));
	ck_assert(exists(at(root, "old/n")));
	ck_assert(!exists(at(root, "old/o")));
}
END_TEST

START_TEST(test_dir_replaces_a_file_and_file_replaces_a_dir)
{
	struct apply_entry	 e = entry("x", ENTRY_DIR, 0700);
	struct stat		 st;

	test_put_file(at(root, "x"), "file");
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "x"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	test_put_file(at(root, "x/inner"), "i");
	e = entry("x", ENTRY_REG, 0600);
	ck_assert_msg(apply_reg(&e, "file again") == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "x"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(symlink(outside, at(root, "y")), 0);
	e = entry("y", ENTRY_DIR, 0755);
	ck_assert_msg(apply_node(ap, &e, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(lstat(at(root, "y"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(count_temps(root), 0);
}
END_TEST

/* A child opens the file, writes half, and dies without committing. */
START_TEST(test_crash_mid_write_keeps_old_and_sweep_cleans)
{
	struct apply_entry	 e = entry("d/f", ENTRY_REG, 0644);
	struct apply_file	*f;
	struct apply		*cap;
	char			*s;
	pid_t			 pid;
	int			 status;

	ck_assert_int_eq(mkdir(at(root, "d"), 0755), 0);
	ck_assert_int_eq(apply_reg(&e, "old content"), 0);
	if ((pid = fork()) == 0) {
		cap = apply_new(rootfd, NULL);
		e.size = 8;
		f = apply_file_open(cap, &e, NULL);
		apply_file_write(f, 0, "new ", 4, NULL);
		_exit(f != NULL ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_str_eq(s = slurp(at(root, "d/f")), "old content");
	free(s);
	ck_assert_int_eq(count_temps(at(root, "d")), 1);
	ck_assert_msg(apply_sweep_temps(rootfd, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(count_temps(at(root, "d")), 0);
	ck_assert_str_eq(s = slurp(at(root, "d/f")), "old content");
	free(s);
}
END_TEST

START_TEST(test_abort_removes_the_temp_and_keeps_the_target)
{
	struct apply_entry	 e = entry("f", ENTRY_REG, 0644);
	struct apply_file	*f;
	char			*s;

	ck_assert_int_eq(apply_reg(&e, "old"), 0);
	e.size = 3;
	ck_assert_ptr_nonnull(f = apply_file_open(ap, &e, &err));
	ck_assert_int_eq(apply_file_write(f, 0, "new", 3, &err), 0);
	ck_assert_int_eq(count_temps(root), 1);
	apply_file_abort(f);
	ck_assert_int_eq(count_temps(root), 0);
	ck_assert_str_eq(s = slurp(at(root, "f")), "old");
	free(s);
}
END_TEST

START_TEST(test_sparse_file_stays_sparse)
{
	struct apply_entry	 e = entry("sparse", ENTRY_REG, 0644);
	struct apply_file	*f;
	struct stat		 st;
	char			 block[4096], mid[16], zero[16];
	int			 fd;

	memset(block, 'z', sizeof(block));
	memset(zero, 0, sizeof(zero));
	e.size = 64 << 20;
	ck_assert_ptr_nonnull(f = apply_file_open(ap, &e, &err));
	ck_assert_int_eq(apply_file_write(f, 0, block, sizeof(block), &err),
	    0);
	ck_assert_int_eq(apply_file_write(f, 16 << 20, block, sizeof(block),
	    &err), 0);
	/* nothing written past 16 MiB: the commit's truncate makes the size */
	ck_assert_msg(apply_file_commit(f, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(stat(at(root, "sparse"), &st), 0);
	ck_assert_int_eq(st.st_size, 64 << 20);
	ck_assert_int_lt(st.st_blocks * 512, 1 << 20);
	fd = open(at(root, "sparse"), O_RDONLY);
	ck_assert_int_eq(pread(fd, mid, sizeof(mid), 8 << 20),
	    (ssize_t)sizeof(mid));
	ck_assert_int_eq(memcmp(mid, zero, sizeof(mid)), 0);
	ck_assert_int_eq(pread(fd, mid, sizeof(mid), (64 << 20) - 16),
	    (ssize_t)sizeof(mid));
	ck_assert_int_eq(memcmp(mid, zero, sizeof(mid)), 0);
	close(fd);
}
END_TEST

START_TEST(test_write_past_the_announced_size_is_refused)
{
	struct apply_entry	 e = entry("f", ENTRY_REG, 0644);
	struct apply_file	*f;

	e.size = 4;
	ck_assert_ptr_nonnull(f = apply_file_open(ap, &e, &err));
	ck_assert_int_eq(apply_file_write(f, 2, "abc", 3, &err), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(apply_file_write(f, UINT64_MAX, "a", 1, &err), -1);
	apply_file_abort(f);
	ck_assert(!exists(at(root, "f")));
	ck_assert_int_eq(count_temps(root), 0);
}
END_TEST

START_TEST(test_entry_may_be_freed_while_its_file_is_open)
{
	struct apply_xattr	*x = calloc(1, sizeof(*x));
	struct apply_entry	 e = entry(NULL, ENTRY_REG, 0644);
	struct apply_file	*f;
	char			*path = strdup("f");
	char			*name = strdup("user.a");

	x->name = name;
	x->value = "v";
	x->len = 1;
	e.path = path;
	e.xattrs = x;
	e.nxattr = 1;
	e.size = 1;
	ck_assert_ptr_nonnull(f = apply_file_open(ap, &e, &err));
	memset(path, 'X', 1);
	memset(name, 'X', 6);
	free(path);
	free(name);
	free(x);
	ck_assert_int_eq(apply_file_write(f, 0, "1", 1, &err), 0);
	ck_assert_msg(apply_file_commit(f, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(xattr_of(at(root, "f"), "user.a"), "v");
}
END_TEST

START_TEST(test_many_dirs_sync_through_syncfs)
{
	struct apply_entry	 e;
	char			 name[32];
	int			 i;

	for (i = 0; i < APPLY_MAX_DIRTY + 10; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		e = entry(name, ENTRY_DIR, 0755);
		ck_assert_int_eq(apply_node(ap, &e, &err), 0);
	}
	ck_assert_msg(apply_sync(ap, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(test_fd_count(), fds_before + 2);	/* root, its dup */
}
END_TEST

/* A stage's file is made at its own name: no temporary, no rename. */
START_TEST(test_staged_file_is_made_at_its_name)
{
	struct apply		*sap = apply_new_staged(rootfd, &err);
	struct apply_entry	 e = entry("00000001", ENTRY_REG, 0640);
	struct apply_file	*f;
	struct stat		 st, st2;
	char			*s;

	ck_assert_ptr_nonnull(sap);
	e.uid = 1234;
	e.gid = 5678;
	e.size = 8;
	ck_assert_ptr_nonnull(f = apply_file_open(sap, &e, &err));
	ck_assert_int_eq(count_temps(root), 0);
	/* the name is there from the start: a stage is nobody's tree */
	ck_assert_int_eq(stat(at(root, "00000001"), &st), 0);
	ck_assert_int_eq(apply_file_write(f, 0, "staged\n", 7, &err), 0);
	ck_assert_msg(apply_file_commit(f, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(stat(at(root, "00000001"), &st2), 0);
	ck_assert_uint_eq(st2.st_ino, st.st_ino);
	ck_assert_int_eq(st2.st_size, 8);	/* the hole at the end */
	ck_assert_str_eq(s = slurp(at(root, "00000001")), "staged\n");
	free(s);
	assert_meta(at(root, "00000001"), 1234, 5678, 0640);
	ck_assert_msg(apply_sync(sap, &err) == 0, "%s", err.msg);

	/* a second file fills it whole; an aborted one leaves nothing */
	e.path = "00000002";
	e.size = 3;
	ck_assert_int_eq(apply_reg_in(sap, &e, "abc"), 0);
	ck_assert_int_eq(stat(at(root, "00000002"), &st), 0);
	ck_assert_int_eq(st.st_size, 3);
	e.path = "00000003";
	ck_assert_ptr_nonnull(f = apply_file_open(sap, &e, &err));
	ck_assert_int_eq(apply_file_write(f, 0, "ab", 2, &err), 0);
	apply_file_abort(f);
	ck_assert(!exists(at(root, "00000003")));
	ck_assert_msg(apply_sync(sap, &err) == 0, "%s", err.msg);
	/* the files' and the stage's fds went with the sync */
	ck_assert_int_eq(test_fd_count(), fds_before + 3);
	apply_free(sap);
}
END_TEST

/* The stage's files take the entry's owner, whatever the stage gives. */
START_TEST(test_staged_file_owner_in_a_setgid_stage)
{
	struct apply		*sap;
	struct apply_entry	 e = entry("00000001", ENTRY_REG, 0644);

	/* a setgid directory gives its group to new files, not ours */
	ck_assert_int_eq(fchown(rootfd, 0, 5678), 0);
	ck_assert_int_eq(fchmod(rootfd, 02755), 0);
	ck_assert_ptr_nonnull(sap = apply_new_staged(rootfd, &err));
	ck_assert_int_eq(apply_reg_in(sap, &e, "root's"), 0);
	assert_meta(at(root, "00000001"), 0, 0, 0644);
	e.path = "00000002";
	e.gid = 5678;
	ck_assert_int_eq(apply_reg_in(sap, &e, "the group's"), 0);
	assert_meta(at(root, "00000002"), 0, 5678, 0644);
	e.path = "00000003";
	e.uid = 1234;
	e.mode = 04755;
	ck_assert_int_eq(apply_reg_in(sap, &e, "setuid"), 0);
	assert_meta(at(root, "00000003"), 1234, 5678, 04755);
	ck_assert_msg(apply_sync(sap, &err) == 0, "%s", err.msg);
	apply_free(sap);
}
END_TEST

START_TEST(test_staged_file_never_takes_an_existing_or_nested_name)
{
	struct apply		*sap = apply_new_staged(rootfd, &err);
	struct apply_entry	 e = entry("00000001", ENTRY_REG, 0644);
	char			*s;

	ck_assert_ptr_nonnull(sap);
	ck_assert_int_eq(apply_reg(&e, "old"), 0);
	/* O_EXCL: a name that is there is an error, never overwritten */
	e.size = 3;
	ck_assert_ptr_null(apply_file_open(sap, &e, &err));
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_ptr_nonnull(strstr(err.msg, "00000001"));
	ck_assert_str_eq(s = slurp(at(root, "00000001")), "old");
	free(s);
	/* nor through a symlink at the name */
	ck_assert_int_eq(symlink(outside, at(root, "00000002")), 0);
	e.path = "00000002";
	ck_assert_ptr_null(apply_file_open(sap, &e, &err));
	ck_assert_int_eq(errno, EEXIST);
	/* a stage's entries have one component */
	ck_assert_int_eq(mkdir(at(root, "d"), 0755), 0);
	e.path = "d/00000003";
	ck_assert_ptr_null(apply_file_open(sap, &e, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "one component"));
	ck_assert(!exists(at(root, "d/00000003")));
	e.path = "../00000004";
	ck_assert_ptr_null(apply_file_open(sap, &e, &err));
	apply_free(sap);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("apply");
	TCase	*tc = tcase_create("apply");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_staged_file_is_made_at_its_name);
	tcase_add_test(tc, test_staged_file_never_takes_an_existing_or_nested_name);
	tcase_add_test(tc, test_staged_file_owner_in_a_setgid_stage);
	tcase_add_test(tc, test_file_gets_content_owner_mode_mtime_xattrs);
	tcase_add_test(tc, test_setuid_and_setgid_survive_an_owner_change);
	tcase_add_test(tc, test_file_replaces_old_version_atomically_by_rename);
	tcase_add_test(tc, test_file_in_missing_parent_fails);
	tcase_add_test(tc, test_final_symlink_is_replaced_not_written_through);
	tcase_add_test(tc, test_symlinked_parent_makes_every_operation_fail);
	tcase_add_test(tc, test_dotdot_paths_are_refused);
	tcase_add_test(tc, test_dir_gets_opaque_xattr_and_metadata);
	tcase_add_test(tc, test_existing_dir_keeps_contents_and_loses_opaque);
	tcase_add_test(tc, test_per_mount_xattrs_are_never_copied);
	tcase_add_test(tc, test_xattr_copyable_rule);
	tcase_add_test(tc, test_root_metadata_is_set_through_the_empty_path);
	tcase_add_test(tc, test_whiteout_becomes_char_device_0_0);
	tcase_add_test(tc, test_whiteout_replaces_a_directory_tree);
	tcase_add_test(tc, test_fifo_is_created_with_mode_and_owner);
	tcase_add_test(tc, test_devices_keep_their_numbers);
	tcase_add_test(tc, test_symlink_gets_target_owner_and_mtime);
	tcase_add_test(tc, test_hard_link_shares_an_inode);
	tcase_add_test(tc, test_hard_link_to_a_symlink_links_the_symlink);
	tcase_add_test(tc, test_delete_tree_spares_symlinked_outside);
	tcase_add_test(tc, test_delete_of_a_symlink_removes_only_the_link);
	tcase_add_test(tc, test_rename_moves_an_entry_between_directories);
	tcase_add_test(tc, test_rename_dir_onto_non_empty_dir_replaces_it);
	tcase_add_test(tc, test_dir_replaces_a_file_and_file_replaces_a_dir);
	tcase_add_test(tc, test_crash_mid_write_keeps_old_and_sweep_cleans);
	tcase_add_test(tc, test_abort_removes_the_temp_and_keeps_the_target);
	tcase_add_test(tc, test_sparse_file_stays_sparse);
	tcase_add_test(tc, test_write_past_the_announced_size_is_refused);
	tcase_add_test(tc, test_entry_may_be_freed_while_its_file_is_open);
	tcase_add_test(tc, test_many_dirs_sync_through_syncfs);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* one base per run: a failed test skips its teardown */
	strcpy(base, "/var/tmp/test_apply.XXXXXX");
	if (mkdtemp(base) == NULL)
		return 1;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	test_rm_tree(base);
	return failed == 0 ? 0 : 1;
}
