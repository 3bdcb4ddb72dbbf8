/* flush: fsync, fdatasync and syncfs, unless the operator turned them off. */
#include <fcntl.h>
#include <unistd.h>

#include "flush.h"

/* One switch per process: a receiver sets it once from its config. */
static int	 enabled = 1;

void
flush_enable(int on)
{
	enabled = on;
}

int
flush_fd(int fd)
{
	return enabled ? fsync(fd) : 0;
}

int
flush_data(int fd)
{
	return enabled ? fdatasync(fd) : 0;
}

int
flush_fs(int fd)
{
	return enabled ? syncfs(fd) : 0;
}

/*
 * Early writeback only shortens a flush that follows. With flushes off
 * none does: the staged copy it would write is removed once in place,
 * and writing it anyway competes with the page cache's own writeback.
 */
void
flush_start(int fd)
{
	if (enabled)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}
