/*
 * wtree: the table of watched directories; see wtree.h for the
 * invariants. It only keeps the table: what is on disk is read by
 * wscan.c.
 */
#include <sys/inotify.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wtree.h"
#include "xmalloc.h"

static int
wd_cmp(struct wnode *a, struct wnode *b)
{
	return a->wd < b->wd ? -1 : a->wd > b->wd;
}

/* Children of one parent sort together, "" first: see first_child(). */
static int
name_cmp(struct wnode *a, struct wnode *b)
{
	uintptr_t	 pa = (uintptr_t)a->parent, pb = (uintptr_t)b->parent;

	if (pa != pb)
		return pa < pb ? -1 : 1;
	return strcmp(a->name, b->name);
}

/*
 * RB_GENERATE_STATIC, spelt out: libbsd leaves __unused undefined (it
 * clashes with Linux headers), and that macro needs it.
 */
RB_GENERATE_INTERNAL(wtree_wd, wnode, by_wd, wd_cmp,
    __attribute__((__unused__)) static)
RB_GENERATE_INTERNAL(wtree_name, wnode, by_name, name_cmp,
    __attribute__((__unused__)) static)

void
wtree_init(struct wtree *t, int ifd)
{
	memset(t, 0, sizeof(*t));
	RB_INIT(&t->by_wd);
	RB_INIT(&t->by_name);
	buf_init(&t->open);
	buf_init(&t->emit);
	buf_init(&t->key);
	buf_init(&t->tmp);
	t->ifd = ifd;
}

/* The roots are dropped first; this only frees the scratch space. */
void
wtree_release(struct wtree *t)
{
	buf_release(&t->open);
	buf_release(&t->emit);
	buf_release(&t->key);
	buf_release(&t->tmp);
	free(t->chain);
	t->chain = NULL;
}

struct wnode *
wtree_find(struct wtree *t, int wd)
{
	struct wnode	 key;

	key.wd = wd;
	return RB_FIND(wtree_wd, &t->by_wd, &key);
}

/* The key needs a mutable name, hence the copy into t->key. */
static struct wnode *
lookup(struct wtree *t, struct wnode *parent, const char *name, int nfind)
{
	struct wnode	 key;

	buf_reset(&t->key);
	buf_addstr(&t->key, name);
	key.parent = parent;
	key.name = t->key.data;
	if (nfind)
		return RB_NFIND(wtree_name, &t->by_name, &key);
	return RB_FIND(wtree_name, &t->by_name, &key);
}

struct wnode *
wtree_child(struct wtree *t, struct wnode *parent, const char *name)
{
	return lookup(t, parent, name, 0);
}

static struct wnode *
first_child(struct wtree *t, struct wnode *parent)
{
	struct wnode	*c;

	c = lookup(t, parent, "", 1);
	return c != NULL && c->parent == parent ? c : NULL;
}

/* Path of `name' inside node n (n may be NULL: the root), into out. */
const char *
wtree_path(struct wtree *t, struct buf *out, const struct wnode *n,
    const char *name)
{
	const struct wnode	*p;
	size_t			 depth = 0;

	for (p = n; p != NULL && p->parent != NULL; p = p->parent) {
		if (depth == t->chaincap) {
			t->chaincap = t->chaincap ? t->chaincap * 2 : 16;
			t->chain = xreallocarray(t->chain, t->chaincap,
			    sizeof(*t->chain));
		}
		t->chain[depth++] = p;
	}
	buf_reset(out);
	while (depth > 0) {
		if (out->len > 0)
			buf_addch(out, '/');
		buf_addstr(out, t->chain[--depth]->name);
	}
	if (name != NULL && *name != '\0') {
		if (out->len > 0)
			buf_addch(out, '/');
		buf_addstr(out, name);
	}
	return out->data;
}

static void
name_insert(struct wtree *t, struct wnode *n)
{
	struct wnode	*old;

	/* A node still holding this name is stale: its dir is gone. */
	if ((old = RB_INSERT(wtree_name, &t->by_name, n)) != NULL) {
		wtree_remove(t, old);
		RB_INSERT(wtree_name, &t->by_name, n);
	}
}

struct wnode *
wtree_node_new(struct wtree *t, struct wroot *r, struct wnode *parent,
    const char *name, int wd)
{
	struct wnode	*n;

	n = xcalloc(1, sizeof(*n));
	n->root = r;
	n->parent = parent;
	n->name = xstrdup(name);
	n->wd = wd;
	n->gen = r->gen;
	RB_INSERT(wtree_wd, &t->by_wd, n);
	if (parent != NULL)
		name_insert(t, n);
	else
		r->top = n;
	TAILQ_INSERT_TAIL(&r->nodes, n, in_root);
	t->nnodes++;
	return n;
}

/*
 * Drop one node and its kernel watch, which the kernel may have dropped
 * already (EINVAL). The caller drops its children too.
 */
void
wtree_node_free(struct wtree *t, struct wnode *n)
{
	(void)inotify_rm_watch(t->ifd, n->wd);
	RB_REMOVE(wtree_wd, &t->by_wd, n);
	if (n->parent != NULL)
		RB_REMOVE(wtree_name, &t->by_name, n);
	else
		n->root->top = NULL;
	TAILQ_REMOVE(&n->root->nodes, n, in_root);
	t->nnodes--;
	free(n->name);
	free(n->fh);
	free(n);
}

/* Drop n and everything below it. */
void
wtree_remove(struct wtree *t, struct wnode *n)
{
	struct wnode	**stack, *c;
	size_t		 len = 0, cap = 16;

	stack = xreallocarray(NULL, cap, sizeof(*stack));
	stack[len++] = n;
	while (len > 0) {
		n = stack[--len];
		for (c = first_child(t, n); c != NULL && c->parent == n;
		    c = RB_NEXT(wtree_name, &t->by_name, c)) {
			if (len == cap) {
				cap *= 2;
				stack = xreallocarray(stack, cap,
				    sizeof(*stack));
			}
			stack[len++] = c;
		}
		wtree_node_free(t, n);
	}
	free(stack);
}

void
wtree_drop_root(struct wtree *t, struct wroot *r)
{
	struct wnode	*n, *next;

	TAILQ_FOREACH_SAFE(n, &r->nodes, in_root, next)
		wtree_node_free(t, n);
}

/* Is p n or below it? */
int
wtree_below(const struct wnode *p, const struct wnode *n)
{
	for (; p != NULL; p = p->parent)
		if (p == n)
			return 1;
	return 0;
}

/*
 * Give n a new parent and name. A node still holding that name is
 * stale and goes, with what is below it; n is taken out from under it
 * first, as when a dir replaced its own parent. Refused (-1) only when
 * the move would make a cycle, which a table too stale can ask for: the
 * caller then resyncs.
 */
int
wtree_move(struct wtree *t, struct wnode *n, struct wnode *parent,
    const char *name)
{
	struct wnode	*old;
	char		*dup;

	if (n->parent == NULL || parent->root != n->root)
		return -1;
	if (wtree_below(parent, n))
		return -1;
	if ((old = wtree_child(t, parent, name)) == n)
		return 0;
	dup = xstrdup(name);
	RB_REMOVE(wtree_name, &t->by_name, n);
	free(n->name);
	n->name = dup;
	n->parent = parent;
	if (old != NULL)
		wtree_remove(t, old);
	RB_INSERT(wtree_name, &t->by_name, n);
	return 0;
}

/*
 * Swap the places of the nodes named a in pa and b in pb, as
 * renameat2(RENAME_EXCHANGE) swapped their dirs; a name without a node
 * just takes the other. -1 if that would make a cycle.
 */
int
wtree_exchange(struct wtree *t, struct wnode *pa, const char *a,
    struct wnode *pb, const char *b)
{
	struct wnode	*na, *nb;
	char		*sa, *sb;

	na = wtree_child(t, pa, a);
	nb = wtree_child(t, pb, b);
	if (na == NULL || nb == NULL) {
		if (na != NULL)
			return wtree_move(t, na, pb, b);
		return nb != NULL ? wtree_move(t, nb, pa, a) : 0;
	}
	if (wtree_below(pb, na) || wtree_below(pa, nb))
		return -1;
	sa = xstrdup(a);
	sb = xstrdup(b);
	RB_REMOVE(wtree_name, &t->by_name, na);
	RB_REMOVE(wtree_name, &t->by_name, nb);
	free(na->name);
	free(nb->name);
	na->parent = pb;
	na->name = sb;
	nb->parent = pa;
	nb->name = sa;
	RB_INSERT(wtree_name, &t->by_name, na);
	RB_INSERT(wtree_name, &t->by_name, nb);
	return 0;
}
