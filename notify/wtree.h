/*
 * wtree: the table of watched directories behind watch.c. Private to
 * notify/.
 *
 * Each watched directory is one struct wnode, owned by the struct
 * wtree and indexed by its wd and by (parent, name). A node stores only
 * its own name and a link to its parent, so a directory rename is one
 * update and every path below it follows. Paths are built by walking
 * up to the root's top node.
 *
 * Invariants: parent links form one tree per root, without cycles;
 * every node holds one kernel watch until wtree_remove() drops it;
 * (parent, name) is unique among non-top nodes.
 *
 * The tree under a root belongs to an untrusted container, so a dir
 * is opened as one name, with openat2(RESOLVE_BENEATH|
 * RESOLVE_NO_SYMLINKS), in its parent as reopened from the parent's
 * file handle, and watched through "/proc/self/fd/N/.": the kernel
 * watches exactly the inode that was opened. The handle, not the path,
 * finds the parent, because the table lags the disk by the events not
 * yet read: a dir made in a parent that was renamed since is found.
 */
#ifndef LS_WTREE_H
#define LS_WTREE_H

#include <fcntl.h>
#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

struct wnode {
	RB_ENTRY(wnode)		 by_wd;
	RB_ENTRY(wnode)		 by_name;	/* not for top nodes */
	TAILQ_ENTRY(wnode)	 in_root;
	struct wroot		*root;
	struct wnode		*parent;	/* NULL for the top node */
	char			*name;		/* "" for the top node */
	struct file_handle	*fh;		/* to reopen the dir, or NULL */
	int			 wd;
	unsigned int		 gen;		/* root's gen when last seen */
};

/* One watched upperdir. The watcher owns it; wtree owns its nodes. */
struct wroot {
	TAILQ_ENTRY(wroot)	 entry;
	TAILQ_HEAD(, wnode)	 nodes;
	struct wnode		*top;		/* NULL once the root is gone */
	char			*path;
	int			 id;
	int			 fd;		/* all opens are beneath it */
	unsigned int		 gen;
	int			 resync;	/* table suspect: walk it again */
};

RB_HEAD(wtree_wd, wnode);
RB_HEAD(wtree_name, wnode);

struct wtree {
	struct wtree_wd		 by_wd;
	struct wtree_name	 by_name;
	struct buf		 open;		/* scratch: path being opened */
	struct buf		 emit;		/* scratch: path being reported */
	struct buf		 key;		/* scratch: name being looked up */
	const struct wnode	**chain;	/* scratch for wtree_path() */
	size_t			 chaincap;
	size_t			 nnodes;
	size_t			 nskipped;	/* dirs left unwatched, benign */
	int			 ifd;		/* the inotify instance */
};

/* Report one entry found by a walk (WTREE_EMIT). */
typedef void	wtree_emit_cb(void *, struct wroot *, const char *, int);

#define WTREE_EMIT	0x1	/* report each entry found */
#define WTREE_FULL	0x2	/* walk into dirs already watched too */
#define WTREE_STRICT	0x4	/* another root's dir is an error */

void		 wtree_init(struct wtree *, int ifd);
void		 wtree_release(struct wtree *);
struct wnode	*wtree_find(struct wtree *, int wd);
struct wnode	*wtree_child(struct wtree *, struct wnode *, const char *);
const char	*wtree_path(struct wtree *, struct buf *, const struct wnode *,
		    const char *);
int		 wtree_walk(struct wtree *, struct wroot *, struct wnode *,
		    const char *, int, wtree_emit_cb *, void *, struct ls_err *);
int		 wtree_resync(struct wtree *, struct wroot *, int,
		    struct ls_err *);
int		 wtree_move(struct wtree *, struct wnode *, struct wnode *,
		    const char *);
void		 wtree_remove(struct wtree *, struct wnode *);
void		 wtree_drop_root(struct wtree *, struct wroot *);

#endif
