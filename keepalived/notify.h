/*
 * notify: `layersync notify FIFO`, the reader keepalived runs as its
 * notify_fifo_script. keepalived writes one line per state change,
 * such as `INSTANCE "layersync" MASTER 100`; the reader handles them
 * one at a time, in order, each to its end before the next: MASTER
 * promotes, BACKUP, FAULT and STOP demote. Plain notify scripts would
 * run concurrently and could apply a MASTER after the BACKUP that
 * followed it.
 */
#ifndef LS_KA_NOTIFY_H
#define LS_KA_NOTIFY_H

struct conf;

int	notify_fifo_run(const struct conf *, const char *fifo);
const char *notify_action(const char *line);

#endif
