/*
 * flush: every flush to disk a receiver makes goes through here, so
 * one switch (the standby's `fsync` setting) can turn them all off.
 *
 * Off, a batch is committed in the page cache only: a killed receiver
 * still leaves each file old or new (the order of renames and the
 * journal hold), but a power cut or a kernel crash can lose or tear
 * what was not yet written back. It exists to compare with tools that
 * never flush; a production standby keeps it on, the default.
 */
#ifndef LS_FLUSH_H
#define LS_FLUSH_H

void	flush_enable(int on);
int	flush_fd(int fd);	/* fsync(2) */
int	flush_data(int fd);	/* fdatasync(2) */
int	flush_fs(int fd);	/* syncfs(2): the file system holding fd */
void	flush_start(int fd);	/* start writing fd back, for a flush to come */

#endif
