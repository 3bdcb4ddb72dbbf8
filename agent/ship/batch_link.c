/*
 * batch_link: hard links stay links. See batch_link_source().
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_int.h"
#include "delta.h"
#include "frame.h"
#include "index.h"
#include "log.h"
#include "xmalloc.h"

/* Names as an array with per-inode chains: owned by the batch. */
static size_t
name_add(struct batch *b, const char *path, size_t next)
{
	b->linkpaths = xreallocarray(b->linkpaths, b->nlinks + 1,
	    sizeof(*b->linkpaths));
	b->linknext = xreallocarray(b->linknext, b->nlinks + 1,
	    sizeof(*b->linknext));
	b->linkpaths[b->nlinks] = xstrdup(path);
	b->linknext[b->nlinks] = next;
	return b->nlinks++;
}

static void
map_set(struct index *map, const char *key, size_t value)
{
	struct index_stat	 st;

	memset(&st, 0, sizeof(st));
	st.size = value;
	index_set(map, key, &st);
}

/* Chain the acknowledged names of every regular file by inode, once. */
static void
learn_acked_link(const char *path, const struct index_stat *st, void *arg)
{
	struct batch			*b = arg;
	const struct index_stat		*head;
	char				 key[32], *p, *q;
	size_t				 i;

	/* Any regular file: it may have had one name when it was shipped. */
	if (!S_ISREG(st->mode))
		return;
	/* The peer applies this batch's renames first: use new names. */
	p = xstrdup(path);
	for (i = 0; i < b->nrenames; i++)
		if ((q = path_reparent(p, b->items[i].path,
		    b->items[i].to)) != NULL) {
			free(p);
			p = q;
		}
	snprintf(key, sizeof(key), "%ju", (uintmax_t)st->ino);
	head = index_get(b->acked_links, key);
	map_set(b->acked_links, key, name_add(b, p, head != NULL ?
	    head->size : SIZE_MAX));
	free(p);
}

/*
 * Hard links. The first name of a multiply-linked inode in a batch is
 * shipped whole (the twin gets a new inode), and every name the peer
 * holds for that inode is queued, to be linked to it: so a change to
 * any name reaches all of them and the group stays one inode. Later
 * names return the first one, to be shipped as links. (One upperdir is
 * one filesystem: the inode number is the key.)
 */
const char *
batch_link_source(struct batch *b, const struct source_entry *se)
{
	const struct index_stat	*hit;
	char			 key[32];
	size_t			 i;

	if (se->kind != ENTRY_REG || se->st.st_nlink < 2)
		return NULL;
	if (!b->links_learned) {
		index_walk(b->index, learn_acked_link, b);
		b->links_learned = 1;
	}
	snprintf(key, sizeof(key), "%ju", (uintmax_t)se->st.st_ino);
	if ((hit = index_get(b->links, key)) != NULL)
		return b->linkpaths[hit->size];
	map_set(b->links, key, name_add(b, se->path, SIZE_MAX));
	if ((hit = index_get(b->acked_links, key)) != NULL)
		for (i = hit->size; i != SIZE_MAX; i = b->linknext[i])
			if (strcmp(b->linkpaths[i], se->path) != 0)
				/* Unchanged itself, it must still be relinked. */
				batch_add_item(b, ITEM_PATH, b->linkpaths[i], NULL,
				    0)->force = 1;
	return NULL;
}
