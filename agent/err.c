/*
 * err: fill a struct ls_err. A NULL err is allowed and ignored, so
 * callers that do not care need not provide one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

void
ls_err_set(struct ls_err *err, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Like ls_err_set, with ": strerror(errno)" appended; errno is kept. */
void
ls_err_sys(struct ls_err *err, const char *fmt, ...)
{
	int	 saved_errno = errno;
	va_list	 ap;
	size_t	 len;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
	    strerror(saved_errno));
	errno = saved_errno;
}
