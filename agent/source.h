/*
 * source: read entries of a container's upperdir on the primary, for
 * shipping. The tree is the container's: a directory can become a
 * symlink at any instant. Every path is opened beneath the root with
 * openat2 (no symlinks followed anywhere), the metadata shipped is the
 * fstat of the fd that is read, and only regular files are ever opened
 * for reading (a device or FIFO is never opened: it could block or
 * have side effects).
 *
 * A struct source_entry owns its strings, xattr values and the fd of a
 * regular file; source_entry_clear() releases them.
 */
#ifndef LS_SOURCE_H
#define LS_SOURCE_H

#include <stdint.h>
#include <sys/stat.h>

#include "err.h"
#include "frame.h"

struct source_entry {
	char			*path;
	struct stat		 st;
	enum entry_kind		 kind;
	char			*target;	/* symlink text */
	int			 fd;		/* ENTRY_REG: open for reading */
	unsigned		 nxattr;
	char			*xname[FRAME_MAX_XATTRS];
	void			*xvalue[FRAME_MAX_XATTRS];
	size_t			 xlen[FRAME_MAX_XATTRS];
};

int	source_read(int rootfd, const char *path, struct source_entry *,
	    struct ls_err *);
void	source_entry_clear(struct source_entry *);
void	source_to_frame(const struct source_entry *, struct frame_entry *);
int	source_next_data(int fd, off_t from, off_t size, off_t *start,
	    off_t *end);
void	source_measure(int rootfd, uint64_t *files, uint64_t *bytes);

#endif
