/*
 * escape: one field of a line-oriented state file. Backslash, newline
 * and space are written as "\\", "\n" and "\s", so a field never
 * contains a separator and any byte string (a non-UTF-8 file name)
 * survives the round trip.
 */
#ifndef LS_ESCAPE_H
#define LS_ESCAPE_H

#include "buf.h"

void	escape_field(struct buf *, const char *);
int	unescape_field(char *);

#endif
