/*
 * prefix_memo: the digests of the twin's growing files, kept from one
 * APPEND to the next, so that the PREFIXREQ before each append reads
 * the bytes appended since the last one, not the whole file again (a
 * log of 1 GB appended to every second was read whole every second).
 *
 * An entry holds while its file is as the memo last saw it: the same
 * inode, size, mtime and ctime. Only the receiver writes into a stopped
 * twin; anything else that writes changes the ctime, and the entry is
 * read again. The receiver's own append changes the ctime too, so its
 * commit is bracketed: prefix_memo_before() checks the entry against
 * the file before the journal runs, prefix_memo_after() feeds it the
 * appended bytes and takes the file's new stat.
 */
#ifndef LS_PREFIX_MEMO_H
#define LS_PREFIX_MEMO_H

#include <stdint.h>
#include <sys/stat.h>

struct prefix_memo;

struct prefix_memo *prefix_memo_new(void);
void		 prefix_memo_free(struct prefix_memo *);
/* Forget every entry (another container's tree is opened). */
void		 prefix_memo_clear(struct prefix_memo *);
/*
 * The digest of the first len bytes of path's file, open at fd with
 * stat st; from the entry if it holds that file at that length, else
 * read (and kept). 0, or -1 with errno as digest_prefix().
 */
int		 prefix_memo_digest(struct prefix_memo *, const char *path,
		    int fd, const struct stat *st, uint64_t len,
		    unsigned char *md);
/* Around a commit that appends to path beneath rootfd, at offset. */
void		 prefix_memo_before(struct prefix_memo *, int rootfd,
		    const char *path, uint64_t offset);
void		 prefix_memo_after(struct prefix_memo *, int rootfd,
		    const char *path);

#endif
