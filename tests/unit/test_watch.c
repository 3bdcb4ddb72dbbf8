/*
 * test_watch: the watcher against real directories. Every wait polls
 * the watcher's fd against a deadline; absence is proved by a later
 * sentinel event, since one queue keeps every root's events in order.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

#define DEADLINE_MS	5000
#define QUEUE_SYSCTL	"/proc/sys/fs/inotify/max_queued_events"
#define QUEUE_LOCK	"/tmp/layersync-test-watch.lock"

struct rec {
	enum watch_kind	 kind;
	int		 root;
	char		*path;
	char		*from;
	int		 is_dir;
};

static struct watcher	*w;
static struct rec	*log_v;
static size_t		 log_n, log_cap;
/*
 * top holds every test's base: made and removed by main(), in the
 * parent, so a test whose assertion failed (its teardown skipped, in
 * its forked child) leaves nothing behind either.
 */
static char		 top[64];
static char		 base[96];
static char		 r1[128], r2[128], out[128];
static size_t		 churn_dirs;

static int	 modelling;
static void	 m_apply(const struct watch_event *);

static const char *kind_name[] = {
	"CHANGED", "SETTLED", "REMOVED", "RENAMED", "OVERFLOW"
};

static void
record(const struct watch_event *ev, void *arg)
{
	struct rec	*r;

	(void)arg;
	if (modelling)
		m_apply(ev);
	if (log_n == log_cap) {
		log_cap = log_cap ? log_cap * 2 : 64;
		log_v = reallocarray(log_v, log_cap, sizeof(*log_v));
		ck_assert_ptr_nonnull(log_v);
	}
	r = &log_v[log_n++];
	r->kind = ev->kind;
	r->root = ev->root;
	r->path = strdup(ev->path);
	r->from = ev->from != NULL ? strdup(ev->from) : NULL;
	r->is_dir = ev->is_dir;
}

static void
log_clear(void)
{
	size_t	 i;

	for (i = 0; i < log_n; i++) {
		free(log_v[i].path);
		free(log_v[i].from);
	}
	log_n = 0;
}

static void
log_dump(void)
{
	size_t	 i;

	for (i = 0; i < log_n; i++)
		fprintf(stderr, "  %s %d:%s%s%s%s\n", kind_name[log_v[i].kind],
		    log_v[i].root, log_v[i].from ? log_v[i].from : "",
		    log_v[i].from ? " -> " : "", log_v[i].path,
		    log_v[i].is_dir ? " (dir)" : "");
}

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait up to ms for the fd, then read. Returns 0 if nothing came. */
static int
pump(long long ms)
{
	struct pollfd	 pfd;
	struct ls_err	 err;
	int		 n;

	pfd.fd = watcher_fd(w);
	pfd.events = POLLIN;
	if ((n = poll(&pfd, 1, ms < 0 ? 0 : (int)ms)) <= 0)
		return 0;
	err.msg[0] = '\0';
	ck_assert_msg(watcher_read(w, record, NULL, &err) == 0,
	    "watcher_read: %s", err.msg);
	return 1;
}

static ssize_t
find(enum watch_kind kind, int root, const char *path)
{
	size_t	 i;

	for (i = 0; i < log_n; i++)
		if (log_v[i].kind == kind && log_v[i].root == root &&
		    strcmp(log_v[i].path, path) == 0)
			return (ssize_t)i;
	return -1;
}

static size_t
count(enum watch_kind kind, int root, const char *path)
{
	size_t	 i, n = 0;

	for (i = 0; i < log_n; i++)
		if (log_v[i].kind == kind && log_v[i].root == root &&
		    strcmp(log_v[i].path, path) == 0)
			n++;
	return n;
}

/* Any event for root whose path starts with prefix? */
static int
seen_under(int root, const char *prefix)
{
	size_t	 i, len = strlen(prefix);

	for (i = 0; i < log_n; i++) {
		if (log_v[i].root != root)
			continue;
		if (strncmp(log_v[i].path, prefix, len) == 0 ||
		    (log_v[i].from && strncmp(log_v[i].from, prefix, len) == 0))
			return 1;
	}
	return 0;
}

static size_t
wait_for(enum watch_kind kind, int root, const char *path)
{
	long long	 end = now_ms() + DEADLINE_MS;
	ssize_t		 i;

	while ((i = find(kind, root, path)) == -1 && now_ms() < end)
		pump(end - now_ms());
	if (i == -1) {
		log_dump();
		ck_abort_msg("no %s for %d:%s", kind_name[kind], root, path);
	}
	return (size_t)i;
}

static void
wait_count(enum watch_kind kind, int root, const char *path, size_t n)
{
	long long	 end = now_ms() + DEADLINE_MS;

	while (count(kind, root, path) < n && now_ms() < end)
		pump(end - now_ms());
	if (count(kind, root, path) < n) {
		log_dump();
		ck_abort_msg("fewer than %zu %s for %d:%s", n, kind_name[kind],
		    root, path);
	}
}

/* Not log_v[wait_for()]: wait_for() may move log_v. */
static int
is_dir_of(size_t i)
{
	return log_v[i].is_dir;
}

static void
wait_nwatches(size_t n)
{
	long long	 end = now_ms() + DEADLINE_MS;

	while (watcher_nwatches(w) != n && now_ms() < end)
		pump(end - now_ms());
	ck_assert_uint_eq(watcher_nwatches(w), n);
}

/* Paths: a ring of buffers, so a call may take a few of them. */
static const char *
at(const char *dir, const char *rel)
{
	static char	 ring[8][PATH_MAX];
	static int	 next;
	char		*p = ring[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", dir, rel);
	return p;
}

static void
put(const char *path, const char *text)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd != -1, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(close(fd), 0);
}

static void
mk(const char *path)
{
	ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path,
	    strerror(errno));
}

static void
mv(const char *from, const char *to)
{
	ck_assert_msg(rename(from, to) == 0, "rename %s %s: %s", from, to,
	    strerror(errno));
}

static void
xchg(const char *a, const char *b)
{
	ck_assert_msg(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0,
	    "exchange %s %s: %s", a, b, strerror(errno));
}

/* The last event about path, which must say what it is now. */
static size_t
last_for(int root, const char *path)
{
	size_t	 i;

	for (i = log_n; i-- > 0; ) {
		if (log_v[i].root != root)
			continue;
		if (strcmp(log_v[i].path, path) == 0 ||
		    (log_v[i].from && strcmp(log_v[i].from, path) == 0))
			return i;
	}
	log_dump();
	ck_abort_msg("no event for %d:%s", root, path);
	return 0;
}

/*
 * The queue limit is global and read when an instance is made. Copies
 * of this test running at once take this lock: shared to make a
 * watcher, exclusive to lower the limit, so none gets a tiny queue or
 * takes the lowered limit for the one to put back.
 */
static int
queue_lock(int how)
{
	int	 fd;

	fd = open(QUEUE_LOCK, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	ck_assert_msg(fd != -1, "open %s: %s", QUEUE_LOCK, strerror(errno));
	ck_assert_int_eq(flock(fd, how), 0);
	return fd;
}

static void
start(void)
{
	struct ls_err	 err;
	int		 lock;

	err.msg[0] = '\0';
	lock = queue_lock(LOCK_SH);
	w = watcher_new(&err);
	close(lock);
	ck_assert_msg(w != NULL, "watcher_new: %s", err.msg);
}

static void
add_root(int id, const char *path)
{
	struct ls_err	 err;

	err.msg[0] = '\0';
	ck_assert_msg(watcher_add_root(w, id, path, &err) == 0,
	    "watcher_add_root %s: %s", path, err.msg);
}

/* A file made in root after the changes: once seen, all before are. */
static void
sentinel(int root, const char *dir)
{
	put(at(dir, "sentinel"), "s");
	wait_for(WATCH_SETTLED, root, "sentinel");
}

static void
setup(void)
{
	snprintf(base, sizeof(base), "%s/t.XXXXXX", top);
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(r1, sizeof(r1), "%s/r1", base);
	snprintf(r2, sizeof(r2), "%s/r2", base);
	snprintf(out, sizeof(out), "%s/out", base);
	mk(r1);
	mk(r2);
	mk(out);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}


START_TEST(test_fd_is_libinotifytools_instance_nonblocking_cloexec)
{
	struct watcher	*second;
	struct ls_err	 err;
	char		 path[64], link[64];
	ssize_t		 len;
	int		 fd;

	start();
	fd = watcher_fd(w);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	len = readlink(path, link, sizeof(link) - 1);
	ck_assert_int_gt(len, 0);
	link[len] = '\0';
	ck_assert_str_eq(link, "anon_inode:inotify");
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* Nothing queued but the probe's IN_IGNORED: must not block. */
	ck_assert_int_eq(watcher_read(w, record, NULL, &err), 0);
	ck_assert_int_eq(watcher_read(w, record, NULL, &err), 0);
	ck_assert_uint_eq(log_n, 0);
	second = watcher_new(&err);
	ck_assert_ptr_null(second);
	ck_assert_ptr_nonnull(strstr(err.msg, "one inotify instance"));
}
END_TEST

START_TEST(test_file_create_write_close_gives_changed_then_settled)
{
	size_t	 c, s;

	start();
	add_root(1, r1);
	put(at(r1, "f"), "hello");
	c = wait_for(WATCH_CHANGED, 1, "f");
	s = wait_for(WATCH_SETTLED, 1, "f");
	ck_assert_uint_lt(c, s);
	ck_assert_int_eq(log_v[c].is_dir, 0);
	ck_assert_int_eq(log_v[s].is_dir, 0);
}
END_TEST

START_TEST(test_mkdir_p_then_files_before_read_are_all_reported)
{
	start();
	add_root(1, r1);
	ck_assert_uint_eq(watcher_nwatches(w), 1);
	/* All of it before the watcher reads: the scan must find it. */
	mk(at(r1, "a"));
	mk(at(r1, "a/b"));
	mk(at(r1, "a/b/c"));
	put(at(r1, "a/f1"), "1");
	put(at(r1, "a/b/f2"), "2");
	put(at(r1, "a/b/c/f3"), "3");
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_CHANGED, 1, "a")), 1);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_CHANGED, 1, "a/b")), 1);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_CHANGED, 1, "a/b/c")), 1);
	/* files the scan finds are settled: no close may come for them */
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_SETTLED, 1, "a/f1")), 0);
	wait_for(WATCH_SETTLED, 1, "a/b/f2");
	wait_for(WATCH_SETTLED, 1, "a/b/c/f3");
	wait_nwatches(4);
	/* ... and the deepest dir is watched from now on. */
	put(at(r1, "a/b/c/f4"), "4");
	wait_for(WATCH_SETTLED, 1, "a/b/c/f4");
}
END_TEST

START_TEST(test_rename_file_inside_tree_gives_one_renamed)
{
	size_t	 i;

	mk(at(r1, "d"));
	start();
	add_root(1, r1);
	put(at(r1, "x"), "x");
	wait_for(WATCH_SETTLED, 1, "x");
	log_clear();
	mv(at(r1, "x"), at(r1, "d/y"));
	i = wait_for(WATCH_RENAMED, 1, "d/y");
	ck_assert_str_eq(log_v[i].from, "x");
	ck_assert_int_eq(log_v[i].is_dir, 0);
	sentinel(1, r1);
	ck_assert_uint_eq(count(WATCH_RENAMED, 1, "d/y"), 1);
	ck_assert_int_eq(find(WATCH_REMOVED, 1, "x"), -1);
	ck_assert_int_eq(find(WATCH_CHANGED, 1, "d/y"), -1);
}
END_TEST

START_TEST(test_renamed_dir_reports_new_path_for_files_made_inside)
{
	size_t	 i;

	mk(at(r1, "d"));
	mk(at(r1, "d/sub"));
	start();
	add_root(1, r1);
	/* A dir watched by the first walk. */
	mv(at(r1, "d"), at(r1, "e"));
	i = wait_for(WATCH_RENAMED, 1, "e");
	ck_assert_str_eq(log_v[i].from, "d");
	ck_assert_int_eq(log_v[i].is_dir, 1);
	put(at(r1, "e/sub/f"), "f");
	wait_for(WATCH_SETTLED, 1, "e/sub/f");
	/* A dir watched after an event. */
	mk(at(r1, "n"));
	mk(at(r1, "n/m"));
	wait_for(WATCH_CHANGED, 1, "n/m");
	mv(at(r1, "n"), at(r1, "o"));
	put(at(r1, "o/m/g"), "g");
	wait_for(WATCH_SETTLED, 1, "o/m/g");
	ck_assert_int_eq(seen_under(1, "d/"), 0);
	ck_assert_int_eq(seen_under(1, "n/m/"), 0);
	ck_assert_uint_eq(watcher_nwatches(w), 5);
}
END_TEST

START_TEST(test_recreated_then_renamed_dir_reports_new_path)
{
	start();
	add_root(1, r1);
	mk(at(r1, "d"));
	wait_for(WATCH_CHANGED, 1, "d");
	ck_assert_int_eq(rmdir(at(r1, "d")), 0);
	mk(at(r1, "d"));
	wait_count(WATCH_CHANGED, 1, "d", 2);
	ck_assert_int_ge(find(WATCH_REMOVED, 1, "d"), 0);
	ck_assert_uint_eq(watcher_nwatches(w), 2);
	mv(at(r1, "d"), at(r1, "e"));
	put(at(r1, "e/f"), "f");
	wait_for(WATCH_SETTLED, 1, "e/f");
	ck_assert_int_eq(find(WATCH_SETTLED, 1, "d/f"), -1);
}
END_TEST

START_TEST(test_dir_renamed_over_empty_dir_keeps_watching)
{
	mk(at(r1, "a"));
	mk(at(r1, "a/x"));
	mk(at(r1, "b"));
	start();
	add_root(1, r1);
	ck_assert_uint_eq(watcher_nwatches(w), 4);
	mv(at(r1, "a"), at(r1, "b"));
	wait_for(WATCH_RENAMED, 1, "b");
	put(at(r1, "b/x/f"), "f");
	wait_for(WATCH_SETTLED, 1, "b/x/f");
	wait_nwatches(3);
}
END_TEST

START_TEST(test_dir_made_over_whiteout_as_overlayfs_does_ends_changed)
{
	size_t	 i;

	/*
	 * Overlayfs makes the dir in its work dir, then exchanges it with
	 * the whiteout: MOVED_TO foo (dir), then MOVED_FROM foo.
	 */
	ck_assert_int_eq(mknod(at(r1, "foo"), S_IFCHR, makedev(0, 0)), 0);
	mk(at(out, "work"));
	put(at(out, "work/f"), "f");
	start();
	add_root(1, r1);
	xchg(at(out, "work"), at(r1, "foo"));
	sentinel(1, r1);
	i = last_for(1, "foo");
	ck_assert_int_eq(log_v[i].kind, WATCH_CHANGED);
	ck_assert_int_eq(log_v[i].is_dir, 1);
	ck_assert_uint_gt(last_for(1, "foo/f"), i);
	ck_assert_int_eq(log_v[last_for(1, "foo/f")].kind, WATCH_SETTLED);
	ck_assert_uint_eq(watcher_nwatches(w), 2);
	put(at(r1, "foo/g"), "g");
	wait_for(WATCH_SETTLED, 1, "foo/g");
}
END_TEST

START_TEST(test_exchanged_dirs_report_both_paths_changed)
{
	mk(at(r1, "a"));
	put(at(r1, "a/fa"), "a");
	mk(at(r1, "b"));
	mk(at(r1, "b/sub"));
	start();
	add_root(1, r1);
	xchg(at(r1, "a"), at(r1, "b"));
	sentinel(1, r1);
	ck_assert_int_eq(log_v[last_for(1, "a")].kind, WATCH_CHANGED);
	ck_assert_int_eq(log_v[last_for(1, "b")].kind, WATCH_CHANGED);
	ck_assert_int_ge(find(WATCH_CHANGED, 1, "a/sub"), 0);
	ck_assert_int_ge(find(WATCH_SETTLED, 1, "b/fa"), 0);
	ck_assert_int_eq(find(WATCH_RENAMED, 1, "a"), -1);
	ck_assert_int_eq(find(WATCH_RENAMED, 1, "b"), -1);
	ck_assert_uint_eq(watcher_nwatches(w), 4);
	put(at(r1, "a/sub/x"), "x");
	put(at(r1, "b/y"), "y");
	wait_for(WATCH_SETTLED, 1, "a/sub/x");
	wait_for(WATCH_SETTLED, 1, "b/y");
}
END_TEST

/*
 * Only a regular file waits for its close: a symlink or an overlayfs
 * whiteout (a char device 0/0, what deleting a lower file leaves) is
 * whole when made, and settled at once.
 */
START_TEST(test_non_regular_files_are_settled_when_made)
{
	int	 fd;

	start();
	add_root(1, r1);
	ck_assert_int_eq(symlink("target", at(r1, "ln")), 0);
	ck_assert_int_eq(mknod(at(r1, "wh"), S_IFCHR, makedev(0, 0)), 0);
	wait_for(WATCH_SETTLED, 1, "ln");
	wait_for(WATCH_SETTLED, 1, "wh");
	/* a regular file is not settled by its creation: by its close */
	ck_assert_int_ne(fd = open(at(r1, "reg"), O_WRONLY | O_CREAT, 0644),
	    -1);
	sentinel(1, r1);
	ck_assert_int_ge(find(WATCH_CHANGED, 1, "reg"), 0);
	ck_assert_int_eq(find(WATCH_SETTLED, 1, "reg"), -1);
	close(fd);
	wait_for(WATCH_SETTLED, 1, "reg");
}
END_TEST

START_TEST(test_move_out_of_tree_gives_removed)
{
	size_t	 nw;

	mk(at(r1, "dd"));
	mk(at(r1, "dd/ee"));
	put(at(r1, "x"), "x");
	start();
	add_root(1, r1);
	nw = watcher_nwatches(w);
	ck_assert_uint_eq(nw, 3);
	mv(at(r1, "x"), at(out, "x"));
	mv(at(r1, "dd"), at(out, "dd"));
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_REMOVED, 1, "x")), 0);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_REMOVED, 1, "dd")), 1);
	ck_assert_uint_eq(watcher_nwatches(w), 1);
	/* Its old watches are gone: nothing from where it went. */
	put(at(out, "dd/ee/f"), "f");
	sentinel(1, r1);
	ck_assert_int_eq(seen_under(1, "dd/"), 0);
	ck_assert_int_eq(find(WATCH_RENAMED, 1, "x"), -1);
}
END_TEST

START_TEST(test_move_into_tree_gives_changed_and_scans_dirs)
{
	put(at(out, "y"), "y");
	mk(at(out, "dir"));
	mk(at(out, "dir/sub"));
	put(at(out, "dir/sub/z"), "z");
	/* What overlayfs renames in for a whiteout: char 0:0. */
	ck_assert_int_eq(mknod(at(out, "wh"), S_IFCHR | 0600, makedev(0, 0)),
	    0);
	start();
	add_root(1, r1);
	mv(at(out, "y"), at(r1, "y"));
	mv(at(out, "dir"), at(r1, "dir"));
	mv(at(out, "wh"), at(r1, "wh"));
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_CHANGED, 1, "y")), 0);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_CHANGED, 1, "dir")), 1);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_CHANGED, 1, "dir/sub")),
	    1);
	wait_for(WATCH_SETTLED, 1, "dir/sub/z");
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_SETTLED, 1, "wh")), 0);
	ck_assert_uint_eq(watcher_nwatches(w), 3);
	put(at(r1, "dir/sub/w"), "w");
	wait_for(WATCH_SETTLED, 1, "dir/sub/w");
}
END_TEST

START_TEST(test_delete_file_gives_removed)
{
	size_t	 i;

	start();
	add_root(1, r1);
	put(at(r1, "x"), "x");
	wait_for(WATCH_SETTLED, 1, "x");
	ck_assert_int_eq(unlink(at(r1, "x")), 0);
	i = wait_for(WATCH_REMOVED, 1, "x");
	ck_assert_int_eq(log_v[i].is_dir, 0);
}
END_TEST

START_TEST(test_deleted_dirs_drop_their_watches)
{
	mk(at(r1, "g"));
	mk(at(r1, "g/h"));
	start();
	add_root(1, r1);
	ck_assert_uint_eq(watcher_nwatches(w), 3);
	ck_assert_int_eq(rmdir(at(r1, "g/h")), 0);
	ck_assert_int_eq(rmdir(at(r1, "g")), 0);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_REMOVED, 1, "g/h")), 1);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_REMOVED, 1, "g")), 1);
	wait_nwatches(1);
}
END_TEST

START_TEST(test_symlink_to_dir_outside_root_is_not_followed)
{
	ck_assert_int_eq(symlink(out, at(r1, "link")), 0);
	start();
	add_root(1, r1);
	ck_assert_uint_eq(watcher_nwatches(w), 1);
	/* One made later, and a dir swapped for one before it is read. */
	ck_assert_int_eq(symlink(out, at(r1, "link2")), 0);
	mk(at(r1, "sw"));
	ck_assert_int_eq(rmdir(at(r1, "sw")), 0);
	ck_assert_int_eq(symlink(out, at(r1, "sw")), 0);
	ck_assert_int_eq(is_dir_of(wait_for(WATCH_SETTLED, 1, "link2")), 0);
	put(at(out, "f"), "f");
	sentinel(1, r1);
	ck_assert_int_eq(seen_under(1, "link/"), 0);
	ck_assert_int_eq(seen_under(1, "link2/"), 0);
	ck_assert_int_eq(seen_under(1, "sw/"), 0);
	ck_assert_int_eq(seen_under(1, "f"), 0);
	ck_assert_uint_eq(watcher_nwatches(w), 1);
}
END_TEST

START_TEST(test_two_roots_are_kept_apart)
{
	start();
	add_root(1, r1);
	add_root(2, r2);
	put(at(r1, "a"), "a");
	mk(at(r2, "d"));
	put(at(r2, "d/b"), "b");
	wait_for(WATCH_SETTLED, 1, "a");
	/* Made before d's watch: found by its scan, and settled. */
	wait_for(WATCH_SETTLED, 2, "d/b");
	ck_assert_int_eq(find(WATCH_CHANGED, 2, "a"), -1);
	ck_assert_int_eq(find(WATCH_CHANGED, 1, "d/b"), -1);
	/* Across roots a rename is a removal here and a creation there. */
	log_clear();
	mv(at(r1, "a"), at(r2, "a"));
	wait_for(WATCH_REMOVED, 1, "a");
	wait_for(WATCH_CHANGED, 2, "a");
	ck_assert_int_eq(find(WATCH_RENAMED, 2, "a"), -1);
	ck_assert_uint_eq(watcher_nwatches(w), 3);
}
END_TEST

START_TEST(test_remove_root_stops_events_and_frees_watches)
{
	mk(at(r1, "x"));
	mk(at(r1, "x/y"));
	start();
	add_root(1, r1);
	add_root(2, r2);
	ck_assert_uint_eq(watcher_nwatches(w), 4);
	watcher_remove_root(w, 1);
	ck_assert_uint_eq(watcher_nwatches(w), 1);
	watcher_remove_root(w, 1);	/* unknown id: no-op */
	put(at(r1, "x/y/f"), "f");
	put(at(r1, "g"), "g");
	sentinel(2, r2);
	ck_assert_int_eq(seen_under(1, ""), 0);
	/* The id can be used again. */
	add_root(1, r1);
	ck_assert_uint_eq(watcher_nwatches(w), 4);
}
END_TEST

START_TEST(test_overlapping_or_bad_roots_are_refused)
{
	struct ls_err	 err;

	mk(at(r1, "inner"));
	start();
	add_root(1, r1);
	ck_assert_int_eq(watcher_add_root(w, 2, at(r1, "inner"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "root 1"));
	ck_assert_int_eq(watcher_add_root(w, 3, base, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "root 1"));
	ck_assert_int_eq(watcher_add_root(w, 1, r2, &err), -1);
	ck_assert_int_eq(watcher_add_root(w, 4, at(base, "nope"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "nope"));
	ck_assert_uint_eq(watcher_nwatches(w), 2);
	/* Still working. */
	put(at(r1, "inner/f"), "f");
	wait_for(WATCH_SETTLED, 1, "inner/f");
}
END_TEST

static int
write_str(const char *path, const char *text)
{
	int	 fd, rc;

	if ((fd = open(path, O_WRONLY)) == -1)
		return -1;
	rc = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	return close(fd) == -1 ? -1 : rc;
}

/*
 * A user namespace of our own (root mapped to root) has its own watch
 * limit, so it can be lowered without touching anything else.
 */
static int
own_watch_limit(int limit)
{
	char	 text[32];

	if (unshare(CLONE_NEWUSER) == -1 ||
	    write_str("/proc/self/setgroups", "deny") == -1 ||
	    write_str("/proc/self/uid_map", "0 0 1") == -1 ||
	    write_str("/proc/self/gid_map", "0 0 1") == -1)
		return -1;
	snprintf(text, sizeof(text), "%d", limit);
	return write_str("/proc/sys/user/max_inotify_watches", text);
}

START_TEST(test_watch_limit_is_an_error_that_names_it)
{
	struct pollfd	 pfd;
	struct ls_err	 err;
	long long	 end;
	const char	*mode = getenv("CK_FORK");
	int		 rc = 0;

	/* The namespace is for good: only in a process of the test's own. */
	if (mode != NULL && strcmp(mode, "no") == 0) {
		fprintf(stderr, "skipped: needs CK_FORK\n");
		return;
	}
	mk(at(r1, "a"));
	mk(at(r1, "a/b"));
	if (own_watch_limit(2) == -1) {
		fprintf(stderr, "skipped: no user namespace: %s\n",
		    strerror(errno));
		return;
	}
	start();
	ck_assert_int_eq(watcher_add_root(w, 1, r1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "max_user_watches"));
	ck_assert_uint_eq(watcher_nwatches(w), 0);
	add_root(2, r2);
	mk(at(r2, "x"));
	mk(at(r2, "x/y"));
	/* The second new dir is one watch too many: an error, not a stop. */
	pfd.fd = watcher_fd(w);
	pfd.events = POLLIN;
	end = now_ms() + DEADLINE_MS;
	while (rc == 0 && now_ms() < end)
		if (poll(&pfd, 1, (int)(end - now_ms())) > 0)
			rc = watcher_read(w, record, NULL, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "max_user_watches"));
	ck_assert_ptr_nonnull(strstr(err.msg, "x/y"));
	ck_assert_int_ge(find(WATCH_CHANGED, 2, "x/y"), 0);
	ck_assert_uint_eq(watcher_nwatches(w), 2);
}
END_TEST

static int
count_fds(void)
{
	DIR		*d;
	int		 n = 0;

	d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

START_TEST(test_free_releases_every_fd)
{
	int	 before;

	mk(at(r1, "a"));
	before = count_fds();
	start();
	add_root(1, r1);
	add_root(2, r2);
	mk(at(r1, "a/b"));
	put(at(r1, "a/b/f"), "f");
	wait_for(WATCH_SETTLED, 1, "a/b/f");
	watcher_remove_root(w, 2);
	ck_assert_int_eq(count_fds(), before + 2);	/* inotify, root 1 */
	watcher_free(w);
	w = NULL;
	ck_assert_int_eq(count_fds(), before);
	/* And a new watcher can be made after. */
	start();
	add_root(1, r1);
	ck_assert_uint_eq(watcher_nwatches(w), 3);
}
END_TEST

/* A random dir under r1 (maybe r1 itself), as a path. */
static void
pick_dir(char *path, size_t size)
{
	struct dirent	*de;
	char		 subs[64][NAME_MAX + 1];
	DIR		*d;
	int		 n;

	snprintf(path, size, "%s", r1);
	for (;;) {
		if ((d = opendir(path)) == NULL)
			return;
		n = 0;
		while ((de = readdir(d)) != NULL && n < 64)
			if (de->d_type == DT_DIR && de->d_name[0] == 'd')
				snprintf(subs[n++], sizeof(subs[0]), "%s",
				    de->d_name);
		closedir(d);
		if (n == 0 || random() % 3 == 0)
			return;
		if (strlen(path) + strlen(subs[0]) + 2 > size)
			return;
		strcat(path, "/");
		strcat(path, subs[random() % n]);
	}
}

/* Some dir moved out of r1 earlier, to move back in. */
static int
pick_out(char *path, size_t size)
{
	struct dirent	*de;
	DIR		*d;
	int		 found = 0;

	d = opendir(out);
	ck_assert_ptr_nonnull(d);
	while (!found && (de = readdir(d)) != NULL)
		if (de->d_name[0] == 'd')
			found = snprintf(path, size, "%s/%s", out,
			    de->d_name) > 0;
	closedir(d);
	return found;
}

static int
count_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	if (flag == FTW_D)
		churn_dirs++;
	return 0;
}

static int
probe_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char	 p[PATH_MAX];

	(void)st;
	(void)ftw;
	if (flag != FTW_D)
		return 0;
	snprintf(p, sizeof(p), "%s/probe", path);
	put(p, "p");
	return 0;
}

static int
check_probe(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	char	 rel[PATH_MAX];

	(void)st;
	(void)ftw;
	if (flag != FTW_D)
		return 0;
	if (strcmp(path, r1) == 0)
		snprintf(rel, sizeof(rel), "probe");
	else
		snprintf(rel, sizeof(rel), "%s/probe", path + strlen(r1) + 1);
	if (find(WATCH_SETTLED, 1, rel) == -1) {
		log_dump();
		ck_abort_msg("no SETTLED for %s", rel);
	}
	return 0;
}

static int
read_int(const char *path)
{
	FILE	*f;
	int	 v = -1;

	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * A replica kept as the daemon would keep it, from the events alone:
 * CHANGED and SETTLED mark a path to ship at the next cut, REMOVED
 * drops it, RENAMED renames it on the replica and among the marked (a
 * source the replica lacks marks all of the target), OVERFLOW takes a
 * fresh copy of the disk (a rescan). Events are applied as they come;
 * once the watcher is quiet, the cut copies the marked paths as they
 * are then, and the replica must equal the disk.
 */
struct mset {
	struct mentry {
		char	*path;
		int	 dir;		/* in dirty: mark all below too */
	}	*v;
	size_t	 n, cap;
};
static struct mset	 rep, dirty;

static int
m_under(const char *e, const char *p)
{
	size_t	 len = strlen(p);

	return strncmp(e, p, len) == 0 && (e[len] == '\0' || e[len] == '/');
}

static ssize_t
m_find(struct mset *m, const char *p)
{
	size_t	 i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->v[i].path, p) == 0)
			return (ssize_t)i;
	return -1;
}

static void
m_del(struct mset *m, const char *p)
{
	size_t	 i;

	for (i = 0; i < m->n; )
		if (m_under(m->v[i].path, p)) {
			free(m->v[i].path);
			m->v[i] = m->v[--m->n];
		} else
			i++;
}

static void
m_clear(struct mset *m)
{
	while (m->n > 0)
		free(m->v[--m->n].path);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* Add p, and its parents as a replica's mkdir -p would. */
static void
m_add(struct mset *m, const char *p, int dir)
{
	char	*slash, *q;
	ssize_t	 i;

	if ((i = m_find(m, p)) >= 0) {
		if (!m->v[i].dir || dir) {
			m->v[i].dir = dir;
			return;
		}
		m_del(m, p);	/* a dir replaced by a file */
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = reallocarray(m->v, m->cap, sizeof(*m->v));
		ck_assert_ptr_nonnull(m->v);
	}
	m->v[m->n].path = strdup(p);
	m->v[m->n++].dir = dir;
	q = strdup(p);
	if ((slash = strrchr(q, '/')) != NULL) {
		*slash = '\0';
		if (m_find(m, q) == -1)
			m_add(m, q, 1);
	}
	free(q);
}

/* Rename what is under from; the new parent is made if need be. */
static void
m_rename(struct mset *m, const char *from, const char *to)
{
	size_t	 i, flen = strlen(from);
	char	*np, *slash;

	m_del(m, to);
	for (i = 0; i < m->n; i++) {
		if (!m_under(m->v[i].path, from))
			continue;
		ck_assert_int_ge(asprintf(&np, "%s%s", to,
		    m->v[i].path + flen), 0);
		free(m->v[i].path);
		m->v[i].path = np;
	}
	np = strdup(to);
	if ((slash = strrchr(np, '/')) != NULL) {
		*slash = '\0';
		m_add(m, np, 1);
	}
	free(np);
}

static int
m_scan_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)ftw;
	if (strcmp(path, r1) != 0)
		m_add(&rep, path + strlen(r1) + 1, flag == FTW_D ||
		    S_ISDIR(st->st_mode));
	return 0;
}

/* Copy path and, if `all', everything below it, as on disk now. */
static void
m_copy(const char *path, int all)
{
	struct stat	 st;

	if (lstat(at(r1, path), &st) == -1) {
		m_del(&rep, path);
		return;
	}
	m_add(&rep, path, S_ISDIR(st.st_mode));
	if (all && S_ISDIR(st.st_mode))
		nftw(at(r1, path), m_scan_one, 16, FTW_PHYS);
}

static void
m_rescan(void)
{
	m_clear(&rep);
	m_clear(&dirty);
	nftw(r1, m_scan_one, 16, FTW_PHYS);
}

static void
m_apply(const struct watch_event *ev)
{
	switch (ev->kind) {
	case WATCH_CHANGED:
	case WATCH_SETTLED:
		if (m_find(&dirty, ev->path) == -1)
			m_add(&dirty, ev->path, 0);
		break;
	case WATCH_REMOVED:
		m_del(&rep, ev->path);
		m_del(&dirty, ev->path);
		break;
	case WATCH_RENAMED:
		m_del(&dirty, ev->path);
		m_rename(&dirty, ev->from, ev->path);
		if (m_find(&rep, ev->from) >= 0)
			m_rename(&rep, ev->from, ev->path);
		else
			m_add(&dirty, ev->path, 1);	/* all of it */
		break;
	case WATCH_OVERFLOW:
		m_rescan();
		break;
	}
}

static size_t	 m_bad;

static int
m_check_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	const char	*rel = path + strlen(r1) + 1;
	ssize_t		 i;

	(void)ftw;
	if (strcmp(path, r1) == 0)
		return 0;
	if ((i = m_find(&rep, rel)) == -1 ||
	    rep.v[i].dir != (flag == FTW_D || S_ISDIR(st->st_mode))) {
		fprintf(stderr, "replica lacks %s\n", rel);
		m_bad++;
	} else
		rep.v[i].dir = -1;	/* seen */
	return 0;
}

/* The cut, then the comparison. */
static void
m_verify(void)
{
	size_t		 i;

	for (i = 0; i < dirty.n; i++)
		m_copy(dirty.v[i].path, dirty.v[i].dir);
	m_bad = 0;
	nftw(r1, m_check_one, 16, FTW_PHYS);
	for (i = 0; i < rep.n; i++)
		if (rep.v[i].dir != -1) {
			fprintf(stderr, "replica has extra %s\n",
			    rep.v[i].path);
			m_bad++;
		}
	modelling = 0;
	m_clear(&rep);
	m_clear(&dirty);
	ck_assert_uint_eq(m_bad, 0);
}

/* Fill the queue past its limit: two files in turn, as the kernel
 * merges only a repeat of the last event. */
static void
flood(void)
{
	struct timespec	 ts[2];
	int		 i, n, lock;

	lock = queue_lock(LOCK_SH);
	n = read_int(QUEUE_SYSCTL) + 100;
	close(lock);
	memset(ts, 0, sizeof(ts));
	ts[1].tv_nsec = UTIME_NOW;
	for (i = 0; i < n; i++)
		ck_assert_int_eq(utimensat(AT_FDCWD, at(r1, i % 2 ? "fa" :
		    "fb"), ts, 0), 0);
}

/*
 * Dirs made, removed, renamed, exchanged, moved out and in, at random,
 * read at random moments; with `floods', the queue overflows that
 * often.
 */
static void
churn(int nops, int floods)
{
	char	 a[PATH_MAX - 16], b[PATH_MAX];
	int	 i, op;

	for (i = 0; i < nops; i++) {
		if (floods > 0 && i % (nops / floods) == nops / floods / 2)
			flood();
		pick_dir(a, sizeof(a));
		op = (int)(random() % 13);
		if (op < 4) {
			snprintf(b, sizeof(b), "%s/d%d", a, i);
			mk(b);
		} else if (op < 6 && strcmp(a, r1) != 0) {
			(void)rmdir(a);
		} else if (op < 8 && strcmp(a, r1) != 0) {
			pick_dir(b, sizeof(b) - 16);
			snprintf(b + strlen(b), 16, "/d%d", i);
			(void)rename(a, b);	/* EINVAL into itself */
		} else if (op == 8 && strcmp(a, r1) != 0) {
			snprintf(b, sizeof(b), "%s/d%d", out, i);
			mv(a, b);
		} else if (op == 9 && pick_out(b, sizeof(b))) {
			snprintf(a + strlen(a), 16, "/d%d", i);
			mv(b, a);
		} else if (op == 10) {
			pick_dir(b, sizeof(b));
			(void)renameat2(AT_FDCWD, a, AT_FDCWD, b,
			    RENAME_EXCHANGE);
		} else {
			snprintf(b, sizeof(b), "%s/f%d", a, i);
			put(b, "f");
		}
		if (random() % 16 == 0)
			pump(0);
	}
}

/* Once quiet: every dir is watched, and events carry its real path. */
static void
check_tree(void)
{
	sentinel(1, r1);
	m_verify();
	churn_dirs = 0;
	nftw(r1, count_dir, 16, FTW_PHYS);
	ck_assert_uint_eq(watcher_nwatches(w), churn_dirs);
	log_clear();
	nftw(r1, probe_dir, 16, FTW_PHYS);
	put(at(r1, "last"), "l");
	wait_for(WATCH_SETTLED, 1, "last");
	nftw(r1, check_probe, 16, FTW_PHYS);
}

START_TEST(test_random_churn_keeps_every_dir_watched_under_its_name)
{
	srandom(1234 + (unsigned)_i);
	start();
	add_root(1, r1);
	m_rescan();
	modelling = 1;
	churn(1500, 0);
	check_tree();
	ck_assert_uint_eq(watcher_overflows(w), 0);
}
END_TEST

START_TEST(test_churn_with_overflows_is_resynced)
{
	srandom(4321 + (unsigned)_i);
	put(at(r1, "fa"), "a");
	put(at(r1, "fb"), "b");
	start();
	add_root(1, r1);
	m_rescan();
	modelling = 1;
	churn(1500, 3);
	check_tree();
	ck_assert_uint_ge(watcher_overflows(w), 3);
}
END_TEST


static int
write_int(const char *path, int v)
{
	FILE	*f;
	int	 rc;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	rc = fprintf(f, "%d\n", v) < 0;
	return (fclose(f) != 0 || rc) ? -1 : 0;
}

/*
 * The queue limit is read when the instance is made, so it is lowered
 * just around watcher_new() and put back before anything can fail
 * (under queue_lock()). Without the right to lower it, more events
 * than it holds are made.
 */
START_TEST(test_queue_overflow_gives_overflow_for_every_root)
{
	struct timespec	 ts[2];
	struct ls_err	 err;
	int		 old, lowered, restored = 1, n, i, lock;

	lock = queue_lock(LOCK_EX);
	old = read_int(QUEUE_SYSCTL);
	lowered = old > 0 && write_int(QUEUE_SYSCTL, 16) == 0;
	w = watcher_new(&err);
	if (lowered)
		restored = write_int(QUEUE_SYSCTL, old) == 0;
	close(lock);
	ck_assert_int_gt(old, 0);
	ck_assert_int_eq(restored, 1);
	ck_assert_int_eq(read_int(QUEUE_SYSCTL), old);
	ck_assert_msg(w != NULL, "watcher_new: %s", err.msg);
	add_root(1, r1);
	add_root(2, r2);
	put(at(r1, "a"), "a");
	put(at(r1, "b"), "b");
	n = lowered ? 64 : old + 1000;
	memset(ts, 0, sizeof(ts));
	ts[1].tv_nsec = UTIME_NOW;
	/* Two files in turn: the kernel merges only repeats of the last. */
	for (i = 0; i < n; i++)
		ck_assert_int_eq(utimensat(AT_FDCWD, at(r1, i % 2 ? "a" : "b"),
		    ts, 0), 0);
	/* Made while the queue is full: only a resync can watch them. */
	mk(at(r1, "late"));
	mk(at(r1, "late/d"));
	wait_for(WATCH_OVERFLOW, 1, "");
	wait_for(WATCH_OVERFLOW, 2, "");
	ck_assert_uint_ge(watcher_overflows(w), 1);
	ck_assert_uint_eq(watcher_nwatches(w), 4);
	put(at(r1, "late/d/f"), "f");
	wait_for(WATCH_SETTLED, 1, "late/d/f");
}
END_TEST

static void
teardown(void)
{
	watcher_free(w);
	w = NULL;
	log_clear();
	free(log_v);
	log_v = NULL;
	log_cap = 0;
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	m_clear(&rep);
	m_clear(&dirty);
	modelling = 0;
}

#define T(name)	tcase_add_test(tc, name)

int
main(void)
{
	Suite	*s = suite_create("watch");
	TCase	*tc = tcase_create("watch");
	TCase	*churn = tcase_create("churn");
	SRunner	*sr;
	int	 failed;

	/* Each waits at most DEADLINE_MS per step; the flood takes a while. */
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	T(test_fd_is_libinotifytools_instance_nonblocking_cloexec);
	T(test_file_create_write_close_gives_changed_then_settled);
	T(test_mkdir_p_then_files_before_read_are_all_reported);
	T(test_rename_file_inside_tree_gives_one_renamed);
	T(test_renamed_dir_reports_new_path_for_files_made_inside);
	T(test_recreated_then_renamed_dir_reports_new_path);
	T(test_dir_renamed_over_empty_dir_keeps_watching);
	T(test_dir_made_over_whiteout_as_overlayfs_does_ends_changed);
	T(test_exchanged_dirs_report_both_paths_changed);
	T(test_non_regular_files_are_settled_when_made);
	T(test_move_out_of_tree_gives_removed);
	T(test_move_into_tree_gives_changed_and_scans_dirs);
	T(test_delete_file_gives_removed);
	T(test_deleted_dirs_drop_their_watches);
	T(test_symlink_to_dir_outside_root_is_not_followed);
	T(test_two_roots_are_kept_apart);
	T(test_remove_root_stops_events_and_frees_watches);
	T(test_overlapping_or_bad_roots_are_refused);
	T(test_free_releases_every_fd);
	T(test_watch_limit_is_an_error_that_names_it);
	T(test_queue_overflow_gives_overflow_for_every_root);
	suite_add_tcase(s, tc);
	/* Thousands of operations on ext4 under ASan: give them time. */
	tcase_set_timeout(churn, 300);
	tcase_add_checked_fixture(churn, setup, teardown);
	tcase_add_loop_test(churn,
	    test_random_churn_keeps_every_dir_watched_under_its_name, 0, 4);
	tcase_add_loop_test(churn, test_churn_with_overflows_is_resynced, 0, 4);
	suite_add_tcase(s, churn);
	snprintf(top, sizeof(top), "/tmp/test_watch.XXXXXX");
	if (mkdtemp(top) == NULL) {
		perror(top);
		return 1;
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? 0 : 1;
}
