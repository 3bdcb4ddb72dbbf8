/* fsutil: small filesystem helpers for trusted paths (config, state). */
#ifndef LS_FSUTIL_H
#define LS_FSUTIL_H

#include <sys/types.h>

struct buf;
struct ls_err;
struct stat;

int	mkdir_p(const char *path, mode_t mode);
int	mkdir_parent(const char *path);
int	write_durably(const char *dir, const char *name, const struct buf *,
	    struct ls_err *);
int	write_small_in_place(const char *dir, const char *name,
	    const struct buf *, int flush, struct ls_err *);
int	read_whole(const char *dir, const char *name, struct buf *,
	    struct ls_err *);
int	read_fd(int fd, struct buf *);
char	*read_small(const char *dir, const char *name, struct ls_err *);
int	write_line(const char *dir, const char *name, const char *text,
	    struct ls_err *);
char	*read_line(const char *dir, const char *name);
/* Do two stats say the same file, unchanged (inode, size, mtime, ctime)? */
int	stat_unchanged(const struct stat *, const struct stat *);

#endif
