/*
 * handover: what a container's state becomes when its host changes role.
 *
 * Promote (the standby becomes the primary): the twin's tree, brought
 * to its last complete batch, is exactly what the old primary had
 * acknowledged, so an index seeded from that tree (handover_seed) is a
 * true statement of what the old primary holds, as far as the new one
 * knows. Changes made after the seed are found against it, and the
 * failback ships them as deltas against the old primary's copy.
 *
 * Demote (the primary becomes the standby): the old primary may hold
 * changes it never shipped, made after its last acknowledged batch.
 * handover_diverged() lists every path where its tree differs from its
 * acknowledged index (changed, new, or gone, each path of a subtree
 * listed); the list is kept in the twin's state dir (handover_save) and
 * sent to the new primary as DIVERGED frames when it opens the twin, so
 * the new primary ships those paths again: the twin converges to the
 * new primary's tree without a full copy. The list is cleared once a
 * batch after it is durable (the new primary has saved it by then).
 *
 * The twin lock (twin_lock) serializes a promote with the receivers
 * (`serve --stdio` processes) that recover and commit into the twin.
 */
#ifndef LS_HANDOVER_H
#define LS_HANDOVER_H

#include <stddef.h>

#include "err.h"

struct index;

#define HANDOVER_FILE	"handover"

struct pathlist {
	char	**v;
	size_t	 n;
};

int	handover_seed(int rootfd, struct index *, struct ls_err *);
int	handover_diverged(int rootfd, const struct index *acked,
	    struct pathlist *, struct ls_err *);
int	handover_save(const char *statedir, const struct pathlist *,
	    struct ls_err *);
int	handover_load(const char *statedir, struct pathlist *,
	    struct ls_err *);
int	handover_clear(const char *statedir, struct ls_err *);
void	pathlist_add(struct pathlist *, const char *);
void	pathlist_clear(struct pathlist *);

int	twin_lock(const char *statedir, struct ls_err *);
char	**state_names(const char *state_dir, const char *sub);

#endif
