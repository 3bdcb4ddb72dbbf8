/*
 * control_client: the CLI side of the control socket (see control.h).
 * It blocks: the CLI has nothing else to do while it waits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/string.h>

#include "buf.h"
#include "control.h"

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int	 progress_shown;	/* a progress line ends the screen line */

/* Handle one response line; 1 when it ended the exchange. */
static int
response_line(char *line, int *result, struct ls_err *err)
{
	char	*text = strchr(line, ' ');

	text = text != NULL ? text + 1 : line + strlen(line);
	if (strncmp(line, "out", 3) == 0 && (line[3] == ' ' || !line[3])) {
		/* On a terminal a progress line redraws itself in place. */
		if (isatty(1) && strncmp(text, "progress: ", 10) == 0) {
			printf("\r%s\033[K", text);
			progress_shown = 1;
		} else {
			if (progress_shown)
				putchar('\n');
			progress_shown = 0;
			printf("%s\n", text);
		}
		fflush(stdout);
		return 0;
	}
	if (progress_shown) {
		putchar('\n');
		progress_shown = 0;
	}
	if (strncmp(line, "ok", 2) == 0 && (line[2] == ' ' || !line[2])) {
		if (*text != '\0')
			printf("%s\n", text);
		*result = 0;
		return 1;
	}
	if (strncmp(line, "err", 3) == 0 && (line[3] == ' ' || !line[3])) {
		ls_err_set(err, "%s", text);
		*result = 1;
		return 1;
	}
	ls_err_set(err, "daemon sent a malformed line: %.80s", line);
	*result = -1;
	return 1;
}

/*
 * Send argv as one request and relay the answer. Returns 0 when the
 * daemon said ok, 1 when it said err (err holds its reason), and -1
 * when the daemon could not be reached or broke the protocol.
 */
int
control_call(const char *path, int argc, char **argv, struct ls_err *err)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct buf		 req, in;
	char			 tmp[4096], *nl;
	ssize_t			 n;
	int			 fd, i, result = -1;

	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		ls_err_set(err, "control socket %s: path too long", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		ls_err_sys(err, "cannot reach the daemon at %s (is "
		    "'layersync daemon' running?)", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	buf_init(&req);
	buf_init(&in);
	for (i = 0; i < argc; i++) {
		if (strpbrk(argv[i], "\t\n") != NULL) {
			ls_err_set(err, "argument '%s' contains a tab or "
			    "newline", argv[i]);
			goto out;
		}
		buf_addf(&req, "%s%s", i ? "\t" : "", argv[i]);
	}
	buf_addch(&req, '\n');
	if (req.len > CONTROL_LINE_MAX) {
		ls_err_set(err, "request longer than %d bytes",
		    CONTROL_LINE_MAX);
		goto out;
	}
	if (write_all(fd, req.data, req.len) == -1) {
		ls_err_sys(err, "control socket %s: write", path);
		goto out;
	}
	for (;;) {
		while ((nl = memchr(in.data, '\n', in.len)) != NULL) {
			*nl = '\0';
			if (response_line(in.data, &result, err))
				goto out;
			buf_consume(&in, (size_t)(nl - in.data) + 1);
		}
		if ((n = read(fd, tmp, sizeof(tmp))) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			ls_err_set(err, "daemon closed the connection without "
			    "an answer");
			result = -1;
			goto out;
		}
		buf_add(&in, tmp, (size_t)n);
	}
out:
	buf_release(&req);
	buf_release(&in);
	close(fd);
	return result;
}
