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
 * The table follows the events as they are handled, so it lags the
 * disk by the events not read yet. wscan.c reads the disk.
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
	TAILQ_HEAD(wnodes, wnode) nodes;
	struct wnode		*top;		/* NULL once it is gone */
	char			*path;
	int			 id;
	int			 fd;		/* opens stay beneath it */
	unsigned int		 gen;
	int			 resync;	/* suspect: walk it again */
};

RB_HEAD(wtree_wd, wnode);
RB_HEAD(wtree_name, wnode);

struct wtree {
	struct wtree_wd		 by_wd;
	struct wtree_name	 by_name;
	struct buf		 open;		/* path being opened */
	struct buf		 emit;		/* path being reported */
	struct buf		 key;		/* name being looked up */
	struct buf		 tmp;		/* a node's own path */
	const struct wnode	**chain;	/* for wtree_path() */
	size_t			 chaincap;
	size_t			 nnodes;
	int			 ifd;		/* the inotify instance */
};

void		 wtree_init(struct wtree *, int ifd);
void		 wtree_release(struct wtree *);
struct wnode	*wtree_find(struct wtree *, int wd);
struct wnode	*wtree_child(struct wtree *, struct wnode *, const char *);
const char	*wtree_path(struct wtree *, struct buf *, const struct wnode *,
		    const char *);
struct wnode	*wtree_node_new(struct wtree *, struct wroot *, struct wnode *,
		    const char *, int);
void		 wtree_node_free(struct wtree *, struct wnode *);
void		 wtree_remove(struct wtree *, struct wnode *);
void		 wtree_drop_root(struct wtree *, struct wroot *);
int		 wtree_below(const struct wnode *, const struct wnode *);
int		 wtree_move(struct wtree *, struct wnode *, struct wnode *,
		    const char *);
int		 wtree_exchange(struct wtree *, struct wnode *, const char *,
		    struct wnode *, const char *);

#endif
