/*
 * ckpt_run: see ckpt_run.h. Synchronous: it runs in a child of the
 * daemon (or the CLI), never in the daemon's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "beneath.h"
#include "ckpt_opts.h"
#include "ckpt_run.h"
#include "conf.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "runtime.h"
#include "tree.h"
#include "xmalloc.h"

#define TAR_TIMEOUT_MS	600000

/* podman's OCI runtime finds criu on PATH: put the configured one first. */
void
ckpt_criu_env(const struct conf *conf)
{
	char		*copy, *path;
	const char	*old = getenv("PATH");

	if (conf->criu_path[0] == '\0')
		return;
	copy = xstrdup(conf->criu_path);
	path = xasprintf("%s:%s", dirname(copy), old != NULL ? old :
	    "/usr/sbin:/usr/bin:/sbin:/bin");
	setenv("PATH", path, 1);
	free(path);
	free(copy);
}

/*
 * Run argv to its end; on failure say so with the last line of its
 * stderr, where podman and criu put the reason.
 */
static int
run(char **argv, struct buf *out, int timeout_ms, struct ls_err *err)
{
	struct proc_result	 res;
	struct buf		 errout, scratch;
	char			*last, *end;
	int			 rc = 0;

	buf_init(&errout);
	buf_init(&scratch);
	if (out == NULL)
		out = &scratch;
	if (proc_run(argv, NULL, 0, out, &errout, timeout_ms, &res, err) ==
	    -1)
		rc = -1;
	else if (!proc_ok(&res)) {
		rc = -1;
		if (res.timedout)
			ls_err_set(err, "%s %s: timed out after %d s", argv[0],
			    argv[1], timeout_ms / 1000);
		else {
			buf_addch(&errout, '\0');
			end = errout.data + strlen(errout.data);
			while (end > errout.data && (end[-1] == '\n' ||
			    end[-1] == ' '))
				*--end = '\0';
			last = strrchr(errout.data, '\n');
			last = last != NULL ? last + 1 : errout.data;
			ls_err_set(err, "%s %s%s%s: exit %d%s%.300s", argv[0],
			    argv[1], argv[2] != NULL ? " " : "",
			    argv[2] != NULL ? argv[2] : "",
			    WIFEXITED(res.status) ? WEXITSTATUS(res.status) :
			    128 + WTERMSIG(res.status), *last ? ": " : "", last);
		}
	}
	buf_release(&errout);
	buf_release(&scratch);
	strv_free(argv);
	return rc;
}

static char **
argv_of(const char *first, ...)
{
	char		**v = NULL;
	const char	*a;
	va_list		 ap;

	v = strv_add(v, first);
	va_start(ap, first);
	while ((a = va_arg(ap, const char *)) != NULL)
		v = strv_add(v, a);
	va_end(ap);
	return v;
}

/* How the daemon runs one of these in a child: `serve --JOB=NAME`. */
char **
ckpt_serve_argv(const struct conf *conf, const char *job, const char *name)
{
	char	**argv, *opt = xasprintf("--%s=%s", job, name);

	argv = argv_of("/proc/self/exe", "-c", conf->path, "serve", opt, NULL);
	free(opt);
	return argv;
}

int
ckpt_criu_check(const struct conf *conf, struct ls_err *err)
{
	const char	*criu = conf->criu_path[0] != '\0' ? conf->criu_path :
			    "criu";
	struct buf	 out;
	int		 rc;

	buf_init(&out);
	rc = run(argv_of(criu, "check", NULL), &out, 30000, err);
	buf_release(&out);
	if (rc == -1) {
		char	 why[LS_ERR_LEN];

		snprintf(why, sizeof(why), "%s", err->msg);
		ls_err_set(err, "'%s check' fails, so CRIU cannot checkpoint "
		    "here (%s); set criu_path to a criu that passes it "
		    "(scripts/setup provides one)", criu, why);
	}
	return rc;
}

/* CRIU's time with the service frozen, from --print-stats, in us. */
static long long
frozen_us(const struct buf *out)
{
	const struct json	*stats, *c;
	struct json		*j;
	struct ls_err		 err;
	long long		 us = -1;

	if (out->len == 0 || (j = json_parse(out->data, out->len, &err)) ==
	    NULL)
		return -1;
	stats = json_get(j, "container_statistics");
	if (stats != NULL && stats->type == JSON_ARRAY &&
	    (c = stats->child) != NULL &&
	    (c = json_get(c, "criu_statistics.frozen_time")) != NULL &&
	    c->type == JSON_NUMBER)
		us = (long long)c->num;
	json_free(j);
	return us;
}

struct manifest {
	struct buf	 list;
	uint64_t	 bytes;
};

static int
manifest_one(const char *path, const struct stat *st, void *arg)
{
	struct manifest	*m = arg;

	buf_add(&m->list, path, strlen(path) + 1);
	if (S_ISREG(st->st_mode))
		m->bytes += (uint64_t)st->st_size;
	return 1;
}

/* Write next/meta and next/manifest for the export unpacked in next. */
static int
describe(const char *next, struct ckpt_meta *meta, struct ls_err *err)
{
	char		*export = xasprintf("%s/%s", next, CKPT_EXPORT);
	struct manifest	 m;
	struct buf	 text;
	int		 fd, rc = -1;

	buf_init(&m.list);
	buf_init(&text);
	m.bytes = 0;
	if ((fd = open(export, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		ls_err_sys(err, "%s", export);
		goto out;
	}
	rc = tree_walk(fd, manifest_one, &m, err);
	close(fd);
	if (rc == -1)
		goto out;
	meta->bytes = m.bytes;
	ckpt_meta_format(meta, &text);
	rc = write_durably(next, CKPT_MANIFEST, &m.list, err) == -1 ||
	    write_durably(next, CKPT_META, &text, err) == -1 ? -1 : 0;
out:
	buf_release(&m.list);
	buf_release(&text);
	free(export);
	return rc;
}

int
ckpt_take(const struct conf *conf, const char *name, struct ls_err *err)
{
	char		*cdir = xasprintf("%s/containers/%s", conf->state_dir,
			    name);
	char		*dir = xasprintf("%s/%s", cdir, CKPT_DIR);
	char		*next = xasprintf("%s/%s", dir, CKPT_NEXT);
	char		*export = xasprintf("%s/%s", next, CKPT_EXPORT);
	char		*tar = xasprintf("%s/%s.tar", dir, CKPT_NEXT);
	char		*exp_opt = xasprintf("--export=%s", tar);
	struct ckpt_meta meta;
	struct buf	 out;
	char		**argv;
	int		 dfd = -1, rc = -1;
	long long	 t0;

	buf_init(&out);
	memset(&meta, 0, sizeof(meta));
	if (ckpt_opts_effective(conf, name, cdir, &meta.opts, err) == -1)
		goto out;
	if (mkdir_p(dir, 0700) == -1 || (dfd = open(dir, O_RDONLY |
	    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		ls_err_sys(err, "%s", dir);
		goto out;
	}
	if (beneath_rmtree(dfd, CKPT_NEXT, err) == -1 && errno != ENOENT)
		goto out;
	if (mkdir_p(export, 0700) == -1) {
		ls_err_sys(err, "%s", export);
		goto out;
	}
	ckpt_criu_env(conf);
	argv = argv_of(conf->runtime, "container", "checkpoint",
	    "--leave-running", exp_opt, "--compress=none", "--print-stats",
	    NULL);
	if (meta.opts.tcp_established)
		argv = strv_add(argv, "--tcp-established");
	if (meta.opts.file_locks)
		argv = strv_add(argv, "--file-locks");
	argv = strv_add(argv, name);
	meta.taken_ms = loop_wall_ms();
	t0 = loop_now_ms();
	if (run(argv, &out, RUNTIME_TIMEOUT_MS, err) == -1)
		goto out;
	meta.dump_ms = loop_now_ms() - t0;
	meta.frozen_us = frozen_us(&out);
	if (meta.frozen_us < 0)
		meta.frozen_us = 0;
	if (run(argv_of("tar", "-x", "--numeric-owner", "-f", tar, "-C",
	    export, NULL), NULL, TAR_TIMEOUT_MS, err) == -1)
		goto out;
	rc = describe(next, &meta, err);
out:
	if (tar != NULL)
		unlink(tar);
	if (dfd != -1)
		close(dfd);
	buf_release(&out);
	free(exp_opt);
	free(tar);
	free(export);
	free(next);
	free(dir);
	free(cdir);
	return rc;
}

/*
 * Check each manifest entry (they came over the wire) and write the
 * list tar is to pack. Returns the file's path or NULL.
 */
static char *
manifest_check(const char *dir, struct ls_err *err)
{
	char		*export = xasprintf("%s/%s", dir, CKPT_EXPORT);
	struct buf	 b;
	struct stat	 st;
	size_t		 off, n;
	int		 rootfd, fd, ok = 0;
	char		*list = NULL;

	buf_init(&b);
	if ((rootfd = open(export, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		ls_err_sys(err, "%s", export);
		goto out;
	}
	if (read_whole(dir, CKPT_MANIFEST, &b, err) != 1)
		goto out;
	for (off = 0; off < b.len; off += n + 1) {
		const char	*p = b.data + off;

		n = strnlen(p, b.len - off);
		if (off + n == b.len) {
			ls_err_set(err, "manifest: last entry not terminated");
			goto out;
		}
		if (path_valid(p, err) == -1 || *p == '\0')
			goto out;
		if ((fd = beneath_open(rootfd, p, O_PATH, 0, err)) == -1)
			goto out;
		if (fstat(fd, &st) == -1 || (!S_ISREG(st.st_mode) &&
		    !S_ISDIR(st.st_mode))) {
			ls_err_set(err, "manifest: %.200s is not a regular "
			    "file or directory", p);
			close(fd);
			goto out;
		}
		close(fd);
	}
	ok = 1;
	list = xasprintf("%s/%s", dir, CKPT_MANIFEST);
out:
	if (rootfd != -1)
		close(rootfd);
	buf_release(&b);
	free(export);
	return ok ? list : NULL;
}

/* Remove the container called name, if there is one. */
static void
forget_container(const struct conf *conf, const char *name)
{
	struct ls_err	 ignored;

	(void)run(argv_of(conf->runtime, "rm", "-f", "-t", "0", name, NULL),
	    NULL, RUNTIME_TIMEOUT_MS, &ignored);
}

/*
 * The pack runs in a child while the twin is set aside: both lie on a
 * failover's path, the rename a podman command (about 50 ms), the tar
 * as long as the checkpoint is big (5 ms at 1 MB, 100 at 100 MB).
 */
struct packer {
	pid_t	 pid;
	int	 fd;		/* the child's error message, if it fails */
};

static int
pack_start(char **argv, struct packer *p, struct ls_err *err)
{
	struct ls_err	 cerr;
	int		 fds[2];
	ssize_t		 n;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		ls_err_sys(err, "pipe");
		strv_free(argv);
		return -1;
	}
	if ((p->pid = fork()) == -1)
		fatal("fork");
	if (p->pid == 0) {
		close(fds[0]);
		if (run(argv, NULL, TAR_TIMEOUT_MS, &cerr) == 0)
			_exit(0);
		n = write(fds[1], cerr.msg, strlen(cerr.msg));
		_exit(n > 0 ? 1 : 2);
	}
	strv_free(argv);
	close(fds[1]);
	p->fd = fds[0];
	return 0;
}

static int
pack_wait(struct packer *p, struct ls_err *err)
{
	struct buf	 msg;
	int		 status = 0, r = -1;

	buf_init(&msg);
	(void)read_fd(p->fd, &msg);	/* what came is the message */
	close(p->fd);
	while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		r = 0;
	else if (msg.len > 0)
		ls_err_set(err, "%.*s", (int)msg.len, msg.data);
	else
		ls_err_set(err, "packing the checkpoint: the child ended with "
		    "status %d", status);
	buf_release(&msg);
	return r;
}

/* Rename the twin aside; a failure may be a twin an earlier restore set
 * aside and left: only then pay for removing it. */
static int
set_aside(const struct conf *conf, const char *name, const char *aside,
    struct ls_err *err)
{
	if (run(argv_of(conf->runtime, "rename", name, aside, NULL), NULL,
	    RUNTIME_TIMEOUT_MS, err) == 0)
		return 0;
	forget_container(conf, aside);
	return run(argv_of(conf->runtime, "rename", name, aside, NULL), NULL,
	    RUNTIME_TIMEOUT_MS, err);
}

int
ckpt_restore(const struct conf *conf, const char *name, struct ls_err *err)
{
	char		*dir = xasprintf("%s/containers/%s/%s", conf->state_dir,
			    name, CKPT_RESTORE);
	char		*tar = xasprintf("%s/restore.tar", dir);
	char		*export = xasprintf("%s/%s", dir, CKPT_EXPORT);
	char		*aside = xasprintf("%s%s", name, CKPT_TWIN_SUFFIX);
	char		*imp = xasprintf("--import=%s", tar);
	char		*nameopt = xasprintf("--name=%s", name);
	char		*list = NULL, **argv;
	struct ckpt_meta meta;
	struct packer	 pack;
	struct ls_err	 ignored;
	int		 rc = -1, set, packed;
	long long	 t0 = loop_now_ms(), t1;

	if (ckpt_meta_load(dir, &meta, err) == -1 ||
	    (list = manifest_check(dir, err)) == NULL)
		goto out;
	if (pack_start(argv_of("tar", "-c", "--null", "--no-recursion", "-f",
	    tar, "-C", export, "-T", list, NULL), &pack, err) == -1)
		goto out;
	set = set_aside(conf, name, aside, err);
	packed = pack_wait(&pack, set == 0 ? err : &ignored);
	t1 = loop_now_ms();
	if (set == -1)
		goto out;
	if (packed == -1) {	/* the twin gets its name back */
		(void)run(argv_of(conf->runtime, "rename", aside, name, NULL),
		    NULL, RUNTIME_TIMEOUT_MS, &ignored);
		goto out;
	}
	ckpt_criu_env(conf);
	/* A new ID: the old primary may still run one with the old ID, and
	 * two hosts sharing a runtime state dir (the lab) would collide. */
	argv = argv_of(conf->runtime, "container", "restore", imp, nameopt,
	    NULL);
	if (meta.opts.tcp_established)
		argv = strv_add(argv, "--tcp-established");
	if (meta.opts.file_locks)
		argv = strv_add(argv, "--file-locks");
	if (run(argv, NULL, RUNTIME_TIMEOUT_MS, err) == 0) {
		log_info("restore %s: %lld ms: pack and set the twin aside "
		    "%lld, restore %lld", name, loop_now_ms() - t0, t1 - t0,
		    loop_now_ms() - t1);
		rc = 0;
		goto out;
	}
	/* Whatever the failed restore left under the name goes; the twin
	 * gets its name back, to be started cold. */
	forget_container(conf, name);
	(void)run(argv_of(conf->runtime, "rename", aside, name, NULL), NULL,
	    RUNTIME_TIMEOUT_MS, &ignored);
out:
	unlink(tar);
	free(list);
	free(imp);
	free(nameopt);
	free(aside);
	free(export);
	free(tar);
	free(dir);
	return rc;
}
