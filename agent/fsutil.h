/* fsutil: small filesystem helpers for trusted paths (config, state). */
#ifndef LS_FSUTIL_H
#define LS_FSUTIL_H

#include <sys/types.h>

int	mkdir_p(const char *path, mode_t mode);
int	mkdir_parent(const char *path);

#endif
