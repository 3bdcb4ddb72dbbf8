/*
 * apply: make one replicated entry real beneath a root directory
 * (a stopped container's upperdir), atomically and durably.
 *
 * Atomic: every entry is built under a temporary name in the target's
 * own directory, given its owner, mode, xattrs and mtime, and renamed
 * over the target, so at every instant the path shows its old or its
 * new version. Temporary names are BENEATH_TMP_PREFIX followed by 16
 * hex digits (".layersync.tmp.0123456789abcdef"); wire paths may not
 * use that prefix, so apply_sweep_temps() may delete every such name
 * left by a crash. When a directory replaces a non-directory or the
 * other way round, rename(2) refuses, so the two are exchanged
 * (RENAME_EXCHANGE) and the old one is removed from the temporary name.
 *
 * Durable: a regular file is fsynced before its rename. Each operation
 * records the directories it changed (by inode, holding an fd); the
 * caller makes a batch durable with one apply_sync(), which fsyncs
 * each of them once, or makes one syncfs(2) on the root when the costs
 * it measured say that is cheaper for so many (see apply.c), past
 * APPLY_MAX_DIRTY directories, or if one cannot be recorded.
 * apply_new_staged() is for a tree nothing refers to until the caller's
 * apply_sync() (the receiver's stage, before the journal commits): a
 * regular file is not fsynced at commit but kept, like a directory, for
 * apply_sync(). A small batch then pays one fsync per entry; a large
 * one, one syncfs instead of 5,000 flushes. Its regular files skip the
 * temporary name (see apply_file_open()).
 * apply_note_dir() records a directory the caller changed itself.
 *
 * Metadata order matters: chown before chmod (chown clears setuid and
 * setgid), xattrs after chown (chown clears security.capability), mtime
 * last (writes and xattrs do not move it, but content does).
 *
 * Xattrs: an entry's list is the complete set of copyable xattrs, so
 * copyable xattrs missing from it are removed (a directory that stops
 * being opaque loses trusted.overlay.opaque). xattr_copyable() says
 * which names travel; the others are never set nor removed. Symlinks,
 * whiteouts, FIFOs and devices get no xattrs: the kernel allows no
 * user.* xattr on them, overlayfs puts no copyable one on them, and
 * setting one would need a path through /proc magic links.
 *
 * Hard links take no metadata of their own: they share the inode of
 * their source, which its own entry describes.
 *
 * Ownership: struct apply owns a dup of the root fd and the fds of the
 * directories awaiting apply_sync(). Entries are borrowed for the call;
 * apply_file_open() copies what it needs, so the caller may free the
 * entry (or the frame it points into) once it returns.
 */
#ifndef LS_APPLY_H
#define LS_APPLY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "err.h"
#include "frame.h"	/* enum entry_kind: the wire's entry types */

#define APPLY_MAX_DIRTY	256	/* dirs fsynced one by one, then syncfs */

struct apply_xattr {
	const char	*name;		/* NUL-terminated */
	const void	*value;
	size_t		 len;
};

struct apply_entry {
	const char		*path;		/* see beneath.h */
	enum entry_kind		 kind;
	mode_t			 mode;		/* permission bits, 07777 */
	uid_t			 uid;
	gid_t			 gid;
	struct timespec		 mtime;
	dev_t			 rdev;		/* ENTRY_CHR, ENTRY_BLK */
	uint64_t		 size;		/* ENTRY_REG: final size */
	const char		*target;	/* symlink text, link source */
	const struct apply_xattr *xattrs;
	size_t			 nxattr;
};

struct apply;
struct apply_file;

struct apply	*apply_new(int rootfd, struct ls_err *);
struct apply	*apply_new_staged(int rootfd, struct ls_err *);
void		 apply_note_dir(struct apply *, int fd);
void		 apply_free(struct apply *);

/*
 * Every kind but ENTRY_REG, which goes through apply_file_*. "" with
 * ENTRY_DIR sets the root's own metadata; nothing else may be "".
 */
int		 apply_node(struct apply *, const struct apply_entry *,
		    struct ls_err *);

/*
 * A regular file: open a temporary file, fill it with apply_file_write(),
 * then commit or abort; both free the handle, whatever they return.
 * Writes past entry->size fail; regions never written stay holes:
 * commit truncates to entry->size. In a staged apply the file is made
 * at its own name (one component, which must not exist) with no
 * temporary: the stage is nobody's tree until apply_sync().
 */
struct apply_file *apply_file_open(struct apply *, const struct apply_entry *,
		    struct ls_err *);
int		 apply_file_write(struct apply_file *, uint64_t off,
		    const void *, size_t, struct ls_err *);
int		 apply_file_commit(struct apply_file *, struct ls_err *);
void		 apply_file_abort(struct apply_file *);

/* Removing an absent path succeeds, so a replayed batch applies. */
int		 apply_remove(struct apply *, const char *, struct ls_err *);
int		 apply_rename(struct apply *, const char *from,
		    const char *to, struct ls_err *);
int		 apply_sync(struct apply *, struct ls_err *);
/* Forget what awaits apply_sync(), unflushed: a log made it durable. */
void		 apply_drop(struct apply *);

int		 apply_sweep_temps(int rootfd, struct ls_err *);
int		 xattr_copyable(const char *name);
int		 fd_has_copyable_xattrs(int fd);

#endif
