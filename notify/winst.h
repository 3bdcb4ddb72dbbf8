/*
 * winst: the libinotifytools inotify instance and its fd. Private to
 * notify/. There is one per process: libinotifytools keeps it in
 * globals.
 */
#ifndef LS_WINST_H
#define LS_WINST_H

#include "err.h"

struct inotify_event;

int	 winst_open(struct ls_err *);
int	 winst_next(const struct inotify_event **);
void	 winst_close(void);
int	 winst_max_user_watches(void);

#endif
