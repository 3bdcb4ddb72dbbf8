/*
 * log: stderr or syslog, chosen once by log_init().
 *
 * Before log_init() messages go to stderr, so that errors from config
 * parsing reach the operator. The *_err/warn/fatal variants append
 * strerror(errno); every function preserves errno for its caller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static enum log_dest	 log_dest = LOG_TO_STDERR;
static int		 log_verbose;
static const char	*log_ident = "layersync";

void
log_init(enum log_dest dest, int verbose, const char *ident)
{
	log_dest = dest;
	log_verbose = verbose;
	if (ident != NULL)
		log_ident = ident;
	if (dest == LOG_TO_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_verbose(int v)
{
	log_verbose = v;
}

int
log_get_verbose(void)
{
	return log_verbose;
}

static const char *
prio_name(int pri)
{
	switch (pri) {
	case LOG_CRIT:
		return "fatal";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void
vlog(int pri, int with_errno, const char *fmt, va_list ap)
{
	int	 saved_errno = errno;
	char	 msg[2048];
	size_t	 len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(saved_errno));
	}
	if (log_dest == LOG_TO_SYSLOG) {
		syslog(pri, "%s", msg);
	} else {
		struct timespec	 ts;
		struct tm	 tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld %s[%s]: %s\n",
		    tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    log_ident, prio_name(pri), msg);
	}
	errno = saved_errno;
}

#define LOG_FN(name, pri, with_errno, cond)			\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	if (!(cond))						\
		return;						\
	va_start(ap, fmt);					\
	vlog(pri, with_errno, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_err, LOG_ERR, 1, 1)
LOG_FN(log_errx, LOG_ERR, 0, 1)
LOG_FN(log_warn, LOG_WARNING, 1, 1)
LOG_FN(log_warnx, LOG_WARNING, 0, 1)
LOG_FN(log_notice, LOG_NOTICE, 0, 1)
LOG_FN(log_info, LOG_INFO, 0, 1)
LOG_FN(log_debug, LOG_DEBUG, 0, log_verbose > 0)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
