/*
 * control: the unix socket through which the CLI talks to the daemon.
 *
 * Wire format (text, one request per connection):
 *   request   CMD [TAB ARG]... LF          at most CONTROL_LINE_MAX bytes
 *   response  zero or more "out TEXT" LF   lines for the user's stdout
 *             then one "ok [TEXT]" LF or "err TEXT" LF, and the close
 * Only root (or the daemon's own uid) may connect: SO_PEERCRED is
 * checked on accept. The control module owns its clients; a command
 * handler borrows the client until it calls control_done(), which may
 * happen later, from another callback (a long sync, say).
 */
#ifndef LS_CONTROL_H
#define LS_CONTROL_H

#include "err.h"

#define CONTROL_LINE_MAX	4096	/* request and response line bytes */
#define CONTROL_MAX_ARGS	32

struct loop;
struct control;
struct control_client;

typedef void	control_cmd_cb(struct control_client *, int argc, char **argv,
		    void *);

struct control	*control_open(struct loop *, const char *path,
		    struct ls_err *);
void		 control_close(struct control *);
void		 control_register(struct control *, const char *cmd,
		    control_cmd_cb *, void *);
void		 control_out(struct control_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 control_done(struct control_client *, int ok, const char *,
		    ...) __attribute__((format(printf, 3, 4)));

int		 control_split(char *line, char **argv, int max);
int		 control_call(const char *path, int argc, char **argv,
		    struct ls_err *);

#endif
