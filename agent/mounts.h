/*
 * mounts: is an overlay mounted on an upperdir? A receiver asks before
 * every COMMIT: the twin may have been started since OPEN, and an upper
 * tree must not change under a mounted overlay.
 *
 * The answer is in /proc/self/mountinfo, which costs about 70 us to
 * read with 30 mounts, and more with every container the host runs.
 * Kept open, that file says when the mount table changed (poll(2):
 * POLLPRI), so a struct mounts reads it again only then.
 */
#ifndef LS_MOUNTS_H
#define LS_MOUNTS_H

struct mounts;

struct mounts	*mounts_new(void);
void		 mounts_free(struct mounts *);

/* 1 if an overlay is mounted with this upperdir, or if that cannot be
 * told (refuse rather than risk it); 0 if not. */
int		 mounts_overlay_upper(struct mounts *, const char *upperdir);

/* The same for one question: reads the table once. */
int		 overlay_upper_mounted(const char *upperdir);

#endif
