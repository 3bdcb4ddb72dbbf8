/* flush: fsync, fdatasync and syncfs, unless the operator turned them off. */
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
