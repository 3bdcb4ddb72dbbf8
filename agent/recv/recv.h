/*
 * recv: the standby's end of replication, `layersync serve --stdio`,
 * started by the primary over SSH. It speaks frame.h on stdin/stdout,
 * creates the stopped twin if needed, and applies each batch through
 * the stage dir and the journal (journal.h): all of a batch or none.
 * It refuses to touch a twin that is running.
 */
#ifndef LS_RECV_H
#define LS_RECV_H

struct conf;

int	recv_serve(const struct conf *, int in, int out);
int	recv_purge(const struct conf *, const char *name);
int	recv_fence(const struct conf *);

#endif
