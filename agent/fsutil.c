/*
 * fsutil: helpers for paths the operator configured (state dir, control
 * socket). Never use them under an upperdir: those paths go through
 * beneath.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "flush.h"
#include "fsutil.h"
#include "xmalloc.h"

/* Create path and its missing parents; the last one gets mode. */
int
mkdir_p(const char *path, mode_t mode)
{
	char	*p = xstrdup(path), *s;
	int	 r = 0;

	for (s = p + 1; r == 0 && (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			r = -1;
		*s = '/';
	}
	if (r == 0 && mkdir(p, mode) == -1 && errno != EEXIST)
		r = -1;
	free(p);
	return r;
}

/* Create the directory that will hold path. */
int
mkdir_parent(const char *path)
{
	char	*dir = xstrdup(path), *slash;
	int	 r = 0;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		r = mkdir_p(dir, 0755);
	}
	free(dir);
	return r;
}

/* Write data to dir/name through a temp file, fsync, rename, fsync dir. */
int
write_durably(const char *dir, const char *name, const struct buf *data,
    struct ls_err *err)
{
	char	*path = xasprintf("%s/%s", dir, name);
	char	*tmp = xasprintf("%s.tmp", path);
	int	 fd, dfd = -1, r = -1;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		ls_err_sys(err, "%s", tmp);
		goto out;
	}
	if (write(fd, data->data, data->len) != (ssize_t)data->len ||
	    flush_fd(fd) == -1) {
		ls_err_sys(err, "%s: write", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		ls_err_sys(err, "%s", path);
		unlink(tmp);
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    flush_fd(dfd) == -1) {
		ls_err_sys(err, "%s: fsync", dir);
		goto out;
	}
	r = 0;
out:
	if (dfd != -1)
		close(dfd);
	free(tmp);
	free(path);
	return r;
}

/*
 * Overwrite dir/name, a few bytes, in place: one flush where
 * write_durably() costs two (the file, then the directory for the
 * rename). The text must fit in one disk sector (512 bytes), whose
 * write is all or nothing, so a crash leaves the old text or the new.
 * A missing file is made with write_durably(). Without flush, the caller
 * has the text redone after a crash (the small-file log's generation).
 */
int
write_small_in_place(const char *dir, const char *name, const struct buf *data,
    int flush, struct ls_err *err)
{
	char	*path = xasprintf("%s/%s", dir, name);
	int	 fd, r = -1;

	if (data->len > 512) {
		ls_err_set(err, "%s: %zu bytes, too many to write in place",
		    path, data->len);
		goto out;
	}
	if ((fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			r = write_durably(dir, name, data, err);
		else
			ls_err_sys(err, "%s", path);
		goto out;
	}
	if (pwrite(fd, data->data, data->len, 0) != (ssize_t)data->len ||
	    ftruncate(fd, (off_t)data->len) == -1 ||
	    (flush && flush_data(fd) == -1))
		ls_err_sys(err, "%s: write", path);
	else
		r = 0;
	close(fd);
out:
	free(path);
	return r;
}

/*
 * Read all of dir/name into b (initialized by the caller). Returns 1,
 * 0 if the file does not exist, -1 on another error (err says which).
 */
int
read_whole(const char *dir, const char *name, struct buf *b,
    struct ls_err *err)
{
	char	*path = xasprintf("%s/%s", dir, name);
	int	 fd, r = 1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		r = errno == ENOENT ? 0 : -1;
		if (r == -1)
			ls_err_sys(err, "%s", path);
		free(path);
		return r;
	}
	if (read_fd(fd, b) == -1) {
		ls_err_sys(err, "%s", path);
		r = -1;
	}
	close(fd);
	free(path);
	return r;
}

/* Append what fd holds from its offset to its end to b. -1 (errno) on a
 * read error, with what came before it appended. */
int
read_fd(int fd, struct buf *b)
{
	char	 tmp[16384];
	ssize_t	 n;

	while ((n = read(fd, tmp, sizeof(tmp))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf_add(b, tmp, (size_t)n);
	}
	return 0;
}

/* The whole of dir/name, NUL-terminated; NULL if missing or unreadable
 * (err says why when it exists). */
char *
read_small(const char *dir, const char *name, struct ls_err *err)
{
	struct buf	 b;

	buf_init(&b);
	if (read_whole(dir, name, &b, err) != 1) {
		buf_release(&b);
		return NULL;
	}
	return b.data;	/* the caller owns it; b is not used again */
}

/* Write "text\n" to dir/name durably (a one-line state file). */
int
write_line(const char *dir, const char *name, const char *text,
    struct ls_err *err)
{
	struct buf	 b;
	int		 r;

	buf_init(&b);
	buf_addf(&b, "%s\n", text);
	r = write_durably(dir, name, &b, err);
	buf_release(&b);
	return r;
}

/* The first line of dir/name, without its newline; NULL if absent. */
char *
read_line(const char *dir, const char *name)
{
	struct ls_err	 err;
	char		*s = read_small(dir, name, &err);

	if (s != NULL)
		s[strcspn(s, "\n")] = '\0';
	return s;
}

int
stat_unchanged(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}
