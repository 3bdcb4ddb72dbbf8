/* testpath: "dir/rel" into one of four rotating buffers, for tests. */
#ifndef LS_TESTPATH_H
#define LS_TESTPATH_H

#include <limits.h>
#include <stdio.h>

static inline const char *
at(const char *dir, const char *rel)
{
	static char	 bufs[4][2 * PATH_MAX + 2];	/* dir + '/' + rel */
	static int	 i;

	i = (i + 1) % 4;
	snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", dir, rel);
	return bufs[i];
}

#endif
