/*
 * fsutil: helpers for paths the operator configured (state dir, control
 * socket). Never use them under an upperdir: those paths go through
 * beneath.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "xmalloc.h"

/* Create path and its missing parents; the last one gets mode. */
int
mkdir_p(const char *path, mode_t mode)
{
	char	*p = xstrdup(path), *s;
	int	 r = 0;

	for (s = p + 1; r == 0 && (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			r = -1;
		*s = '/';
	}
	if (r == 0 && mkdir(p, mode) == -1 && errno != EEXIST)
		r = -1;
	free(p);
	return r;
}

/* Create the directory that will hold path. */
int
mkdir_parent(const char *path)
{
	char	*dir = xstrdup(path), *slash;
	int	 r = 0;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		r = mkdir_p(dir, 0755);
	}
	free(dir);
	return r;
}
