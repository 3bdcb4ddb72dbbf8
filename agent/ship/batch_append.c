/*
 * batch_append: planned files that only grew ship as their new tail.
 *
 * inotify says a file changed, not where: a write in the middle looks
 * like an append. So a file whose size grew (same inode, owner, mode,
 * one link, no xattrs) is checked, not trusted: the peer digests the
 * bytes it holds (PREFIXREQ), we digest the same length of ours, and only
 * if the digests match does the tail alone ship (APPEND), which the
 * twin writes in place under its journal. Otherwise it asks again, as
 * a patch or a delta (batch_replan()); if the file changed again
 * meanwhile, it ships whole. This saves the signature of
 * the whole basis, the delta over the whole file and the whole new copy
 * on the twin that a delta costs for a log or a journal file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch_int.h"
#include "beneath.h"
#include "digest.h"
#include "log.h"

/*
 * Our hashing runs in the daemon's loop, which must keep answering
 * `layersync check` (keepalived waits 2 s): at about 3 GB/s with the
 * reads from the page cache (24 MB in 8 ms here), 1 GiB of prefixes per
 * batch hold it for about 0.35 s.
 * Past that budget, grown files go as deltas, which read a slice at a
 * time.
 */
#define APPEND_HASH_MAX	(1024ULL * 1024 * 1024)

/* Plan p as an append if the file only grew since the peer's copy. */
void
batch_plan_append(struct batch *b, struct batch_plan *p,
    const struct index_stat *acked)
{
	struct ls_err	 err;
	struct stat	 st;
	int		 fd;

	if (strcmp(p->path, p->basis) != 0 || acked->size == 0 ||
	    acked->size > APPEND_HASH_MAX - b->append_hashed)
		return;
	if ((fd = beneath_open(b->rootfd, p->path, O_PATH, 0, &err)) == -1)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
	    st.st_ino == (ino_t)acked->ino && st.st_mode == acked->mode &&
	    st.st_uid == acked->uid && st.st_gid == acked->gid &&
	    (uint64_t)st.st_size > acked->size) {
		p->append_at = acked->size;
		p->ino = st.st_ino;
		b->append_hashed += acked->size;
	}
	close(fd);
}

/*
 * Our digest of plan p's prefix, from fd (the file as it is now, st),
 * while the peer makes its own. A file that cannot be read as planned
 * (replaced, shrunk) is left unhashed and ships whole.
 */
void
batch_hash_prefix(struct batch_plan *p, int fd, const struct stat *st)
{
	p->hashed = st->st_ino == p->ino &&
	    (uint64_t)st->st_size >= p->append_at &&
	    digest_prefix(fd, p->append_at, p->digest) == 0;
}

/* The peer's PREFIX, request k's answer: len 0, it has no such file. */
void
batch_delta_prefix(struct batch *b, size_t k, const void *md, size_t len)
{
	struct batch_plan	*p = &b->plan[b->asked[k]];

	if ((p->peer_has = len == FRAME_DIGEST_LEN))
		memcpy(p->peer, md, FRAME_DIGEST_LEN);
}

static int
digests_match(const struct batch_plan *p)
{
	return p->hashed && p->peer_has &&
	    memcmp(p->digest, p->peer, FRAME_DIGEST_LEN) == 0;
}

/*
 * Once every answer is in: why append plan p asks again, or NULL. It
 * does when its prefix changed too (a database file grows and changes
 * inside). A file the peer does not hold as planned ships whole.
 */
const char *
batch_append_replan(const struct batch_plan *p)
{
	return !p->peer_has || digests_match(p) ? NULL :
	    "did not only grow";
}

/*
 * Plan index of se if it ships as an append, else -1: the digests
 * matched and it is still the file that was hashed, grown, with
 * what the peer holds unchanged otherwise.
 */
ssize_t
batch_append_for(const struct batch *b, const struct source_entry *se,
    const struct index_stat *acked)
{
	const struct batch_plan	*p;
	size_t			 i;

	if (se->kind != ENTRY_REG || se->nxattr != 0 || acked == NULL)
		return -1;
	for (i = 0; i < b->nplan; i++) {
		p = &b->plan[i];
		if (p->ask != BATCH_ASK_PREFIX ||
		    strcmp(p->path, se->path) != 0)
			continue;
		if (!digests_match(p))
			return -1;
		if (se->st.st_ino != p->ino || se->st.st_nlink != 1 ||
		    (uint64_t)se->st.st_size < p->append_at ||
		    acked->size != p->append_at ||
		    se->st.st_mode != acked->mode ||
		    se->st.st_uid != acked->uid || se->st.st_gid != acked->gid)
			return -1;
		return (ssize_t)i;
	}
	return -1;
}
