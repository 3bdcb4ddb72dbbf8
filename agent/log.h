/*
 * log: the daemon's one way to report, to stderr or syslog.
 *
 * Levels mean something: log_warnx/log_warn for work lost or a peer
 * dropped (LOG_ERR) or a retry (LOG_WARNING), log_notice for role
 * changes, log_info for one line per batch, log_debug per file.
 * Code below the daemon layer does not log: it fills a struct ls_err.
 */
#ifndef LS_LOG_H
#define LS_LOG_H

#include <stdarg.h>

enum log_dest {
	LOG_TO_STDERR,
	LOG_TO_SYSLOG,
};

void	log_init(enum log_dest, int verbose, const char *ident);
void	log_set_verbose(int);
int	log_get_verbose(void);

void	log_err(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_errx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
