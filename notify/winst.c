/*
 * winst: the inotify instance, which libinotifytools (3.22) creates,
 * reads and closes. The only file that calls libinotifytools.
 *
 * Its table of watches is not used (wtree.c keeps ours), for what its
 * source (3.22.6) does, as a test program confirmed, on a tree that
 * changes under it:
 *  - it never forgets a watch the kernel dropped (IN_IGNORED): after
 *    that, inotifytools_remove_watch_by_wd() fails and prints to
 *    stderr, so each deleted dir would leak an entry until exit;
 *  - the stale entry keeps its name, so when a dir is deleted and made
 *    again, inotifytools_replace_filename() renames the stale entry and
 *    events in the live one keep the old path;
 *  - inotifytools_watch_recursively() opens and watches "dir/" paths:
 *    a symlink swapped in after its lstat() is followed, because a
 *    trailing slash overrides IN_DONT_FOLLOW.
 * So watches are added to its fd directly, which it does not expose:
 * see winst_open().
 */
#include <sys/inotify.h>
#include <sys/select.h>

#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotifytools.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "winst.h"

/*
 * The probe: a watch added through libinotifytools must appear in
 * fd's fdinfo ("inotify wd:<hex> ..."), so fd is its instance. The
 * IN_IGNORED of its removal is read later, for a wd nobody knows.
 */
static int
winst_probe(int fd, struct ls_err *err)
{
	char		 path[64], *line = NULL;
	size_t		 cap = 0;
	unsigned int	 wd;
	int		 found = 0, probe;
	FILE		*f;

	if (!inotifytools_watch_file("/", IN_DELETE_SELF | IN_DONT_FOLLOW |
	    IN_ONLYDIR)) {
		errno = inotifytools_error();
		ls_err_sys(err, "inotifytools_watch_file /");
		return -1;
	}
	probe = inotifytools_wd_from_filename("/");
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if ((f = fopen(path, "re")) != NULL) {
		while (!found && getline(&line, &cap, f) != -1)
			found = sscanf(line, "inotify wd:%x ", &wd) == 1 &&
			    (int)wd == probe;
		free(line);
		fclose(f);
	}
	inotifytools_remove_watch_by_wd(probe);
	if (!found)
		ls_err_set(err, "fd %d is not libinotifytools' inotify "
		    "instance (no probe watch in %s)", fd, path);
	return found ? 0 : -1;
}

static int
winst_verify(int fd, struct ls_err *err)
{
	char	 path[64], link[64];
	ssize_t	 len;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((len = readlink(path, link, sizeof(link) - 1)) == -1) {
		ls_err_sys(err, "find libinotifytools' fd: readlink %s",
		    path);
		return -1;
	}
	link[len] = '\0';
	if (strcmp(link, "anon_inode:inotify") != 0) {
		ls_err_set(err, "find libinotifytools' fd: fd %d is %s, "
		    "not anon_inode:inotify", fd, link);
		return -1;
	}
	/* Its reads select() on the fd: above FD_SETSIZE that corrupts. */
	if (fd >= FD_SETSIZE) {
		ls_err_set(err, "inotify fd %d is not below FD_SETSIZE", fd);
		return -1;
	}
	return winst_probe(fd, err);
}

/*
 * libinotifytools makes its inotify fd in inotifytools_initialize()
 * and has no getter. inotify_init() returns the lowest free fd, so
 * that is found just before (open and close /dev/null); nothing can
 * take it in between, as the daemon has one thread. Then the guess is
 * checked, not trusted: see winst_verify(). The fd is made
 * close-on-exec (children such as podman must not inherit it) and
 * non-blocking (a read when empty fails with EAGAIN, never waits).
 */
int
winst_open(struct ls_err *err)
{
	int	 fd, fl;

	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		ls_err_sys(err, "open /dev/null");
		return -1;
	}
	close(fd);
	if (!inotifytools_initialize()) {
		errno = inotifytools_error();
		if (errno == EMFILE)
			ls_err_set(err, "inotify_init: too many instances "
			    "(fs.inotify.max_user_instances = %d)",
			    inotifytools_get_max_user_instances());
		else
			ls_err_sys(err, "inotify_init");
		return -1;
	}
	if (winst_verify(fd, err) == -1)
		goto fail;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    (fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		ls_err_sys(err, "fcntl inotify fd %d", fd);
		goto fail;
	}
	return fd;
fail:
	inotifytools_cleanup();
	return -1;
}

/*
 * The next event, from libinotifytools' buffer or a read: 1 and *evp
 * (valid until the next call), 0 once the queue is empty, -1 on a
 * failure (errno set). inotifytools_next_events(0, 1) never waits:
 * with a timeout of 0 it select()s without blocking. (Its
 * inotifytools_next_event(0) turns 0 into "wait forever".) It returns
 * NULL only when its own buffer is empty too, so draining to 0 leaves
 * nothing behind where epoll cannot see it.
 */
int
winst_next(const struct inotify_event **evp)
{
	int	 e;

	if ((*evp = inotifytools_next_events(0, 1)) != NULL)
		return 1;
	if ((e = inotifytools_error()) == 0 || e == EAGAIN || e == EINTR)
		return 0;
	errno = e;
	return -1;
}

void
winst_close(void)
{
	inotifytools_cleanup();
}

/* For messages: the limit that ENOSPC from inotify_add_watch() hit. */
int
winst_max_user_watches(void)
{
	return inotifytools_get_max_user_watches();
}
