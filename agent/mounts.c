/*
 * mounts: see mounts.h.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "mounts.h"
#include "xmalloc.h"

struct mounts {
	int		 fd;	/* mountinfo, open: POLLPRI once it changed */
	struct buf	 text;	/* as read last, NUL-terminated */
	int		 fresh;	/* text is the table since the last change */
};

struct mounts *
mounts_new(void)
{
	struct mounts	*m = xcalloc(1, sizeof(*m));

	m->fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	buf_init(&m->text);
	return m;
}

void
mounts_free(struct mounts *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	buf_release(&m->text);
	free(m);
}

/* Read the table again from its start. -1 on failure. */
static int
reread(struct mounts *m)
{
	buf_reset(&m->text);
	if (lseek(m->fd, 0, SEEK_SET) == -1 || read_fd(m->fd, &m->text) == -1)
		return -1;
	buf_addch(&m->text, '\0');
	return 0;
}

/* Has the table changed since it was read (or was it never read)? */
static int
stale(struct mounts *m)
{
	struct pollfd	 pfd = { .fd = m->fd, .events = POLLPRI };

	/* poll() reports a change once: the text must be read after it. */
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLPRI | POLLERR)))
		m->fresh = 0;
	return !m->fresh;
}

int
mounts_overlay_upper(struct mounts *m, const char *upperdir)
{
	size_t		 len = strlen(upperdir);
	const char	*p;

	if (m->fd == -1)
		return 1;
	if (stale(m)) {
		if (reread(m) == -1)
			return 1;
		m->fresh = 1;
	}
	for (p = m->text.data; (p = strstr(p, "upperdir=")) != NULL;) {
		p += 9;
		if (strncmp(p, upperdir, len) == 0 && (p[len] == ',' ||
		    p[len] == ' ' || p[len] == '\n' || p[len] == '\0'))
			return 1;
	}
	return 0;
}

int
overlay_upper_mounted(const char *upperdir)
{
	struct mounts	*m = mounts_new();
	int		 r = mounts_overlay_upper(m, upperdir);

	mounts_free(m);
	return r;
}
