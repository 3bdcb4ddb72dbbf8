/*
 * xmalloc: allocation that cannot fail. Running out of memory aborts
 * with a message; no caller checks for NULL.
 */
#ifndef LS_XMALLOC_H
#define LS_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
