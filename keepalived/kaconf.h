/*
 * kaconf: `layersync keepalived-config`, a ready keepalived.conf for this
 * node, from layersync.conf's vrrp group and peers, through the template
 * keepalived/keepalived.conf.in (built into the binary).
 */
#ifndef LS_KACONF_H
#define LS_KACONF_H

#include <stdio.h>

#include "err.h"

struct conf;

int	kaconf_write(const struct conf *, const char *layersync, FILE *,
	    struct ls_err *);
char	*kaconf_fifo_path(const struct conf *);

#endif
