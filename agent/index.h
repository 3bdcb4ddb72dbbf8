/*
 * index: what the peer has acknowledged of one container's tree, path
 * by path, so that a rescan (after an inotify overflow, a reconnect or
 * a restart) ships only what differs.
 *
 * The index owns its entries and their paths. It is saved only with
 * state the peer acknowledged; an older saved index is still safe (it
 * causes resends, never skips), a newer one is never written.
 */
#ifndef LS_INDEX_H
#define LS_INDEX_H

#include <stdint.h>
#include <sys/stat.h>

#include "err.h"

struct index_stat {
	uint32_t	 mode;		/* type and permission bits */
	uint32_t	 uid, gid;
	uint64_t	 size;
	int64_t		 mtime_sec;
	uint32_t	 mtime_nsec;
	int64_t		 ctime_sec;	/* catches xattr-only changes */
	uint32_t	 ctime_nsec;
	uint64_t	 rdev;
	uint64_t	 ino;		/* with nlink: hard-link groups */
	uint32_t	 nlink;
};

#define INDEX_RACY_MS	50		/* younger changes are racy */
#define INDEX_RACY_NSEC	1000000000U	/* no real ctime has it */

struct index;

typedef void	index_walk_cb(const char *path, const struct index_stat *,
		    void *);

struct index	*index_new(void);
void		 index_free(struct index *);
void		 index_set(struct index *, const char *path,
		    const struct index_stat *);
const struct index_stat *index_get(const struct index *, const char *path);
void		 index_del(struct index *, const char *path);
void		 index_del_tree(struct index *, const char *path);
void		 index_rename(struct index *, const char *from, const char *to);
size_t		 index_count(const struct index *);
char		*path_reparent(const char *path, const char *from,
		    const char *to);
void		 index_walk(const struct index *, index_walk_cb *, void *);
void		 index_stat_from(struct index_stat *, const struct stat *);
void		 index_stat_racy(struct index_stat *);
int		 index_stat_same(const struct index_stat *,
		    const struct index_stat *);
int		 index_save(const struct index *, uint64_t gen, const char *path,
		    struct ls_err *);
struct index	*index_load(const char *path, uint64_t *gen, struct ls_err *);

#endif
