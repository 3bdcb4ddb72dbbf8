/*
 * runtime: the container engine's CLI, run to completion with proc_run
 * (callers that must not block run it from a child or from `serve`).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "json.h"
#include "proc.h"
#include "runtime.h"
#include "xmalloc.h"

char **
strv_add(char **v, const char *s)
{
	size_t	 n = strv_len(v);

	v = xreallocarray(v, n + 2, sizeof(*v));
	v[n] = xstrdup(s);
	v[n + 1] = NULL;
	return v;
}

size_t
strv_len(char *const *v)
{
	size_t	 n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

void
strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
twin_spec_clear(struct twin_spec *s)
{
	free(s->name);
	free(s->image);
	strv_free(s->cmd);
	strv_free(s->entrypoint);
	strv_free(s->env);
	strv_free(s->labels);
	strv_free(s->expose);
	free(s->workdir);
	free(s->user);
	free(s->network);
	memset(s, 0, sizeof(*s));
}

void
container_info_clear(struct container_info *ci)
{
	twin_spec_clear(&ci->spec);
	free(ci->id);
	free(ci->upperdir);
	memset(ci, 0, sizeof(*ci));
}

/*
 * Run `rt ARGS...`, capturing stdout into out (NULL: discard); err says
 * how it failed.
 */
static int
run(const char *rt, char *const *args, struct buf *out, struct ls_err *err)
{
	char			**argv;
	struct buf		 errout, discard;
	struct proc_result	 res;
	size_t			 i, n = strv_len(args);
	int			 r = -1;

	argv = xcalloc(n + 2, sizeof(*argv));
	argv[0] = (char *)(uintptr_t)rt;
	for (i = 0; i < n; i++)
		argv[i + 1] = args[i];
	buf_init(&errout);
	buf_init(&discard);
	if (proc_run(argv, NULL, 0, out != NULL ? out : &discard, &errout,
	    RUNTIME_TIMEOUT_MS, &res, err) == 0) {
		if (proc_ok(&res))
			r = 0;
		else
			proc_describe(argv, &res, &errout, err);
	}
	buf_release(&errout);
	buf_release(&discard);
	free(argv);
	return r;
}

/* Run a short command given as a literal list. */
static int
run_args(const char *rt, struct buf *out, struct ls_err *err, ...)
{
	va_list		 ap;
	char		**args = NULL;
	const char	*a;
	int		 r;

	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) != NULL)
		args = strv_add(args, a);
	va_end(ap);
	r = run(rt, args, out, err);
	strv_free(args);
	return r;
}

static char **
strv_from_json(const struct json *j)
{
	char	**v = NULL;

	if (j == NULL)
		return NULL;
	if (j->type == JSON_STRING)	/* docker may give a lone string */
		return strv_add(NULL, j->str);
	if (j->type != JSON_ARRAY)
		return NULL;
	for (j = j->child; j != NULL; j = j->next)
		if (j->type == JSON_STRING)
			v = strv_add(v, j->str);
	return v;
}

/* Object members as "key=value" (labels) or bare keys (ports). */
static char **
strv_from_members(const struct json *j, int with_values)
{
	char	**v = NULL, *kv;

	if (j == NULL || j->type != JSON_OBJECT)
		return NULL;
	for (j = j->child; j != NULL; j = j->next) {
		if (!with_values) {
			v = strv_add(v, j->key);
			continue;
		}
		if (j->type != JSON_STRING)
			continue;
		kv = xasprintf("%s=%s", j->key, j->str);
		v = strv_add(v, kv);
		free(kv);
	}
	return v;
}

static char *
dup_or_empty(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

static int
info_from_json(const struct json *c, const char *name,
    struct container_info *ci, struct ls_err *err)
{
	const struct json	*running = json_get(c, "State.Running");
	const struct json	*pid = json_get(c, "State.Pid");
	const char		*upper = json_str(c, "GraphDriver.Data.UpperDir");
	const char		*image = json_str(c, "Image");

	if (upper == NULL || image == NULL || json_str(c, "Id") == NULL) {
		ls_err_set(err, "container %s: inspect lacks Id, Image or "
		    "GraphDriver.Data.UpperDir (not an overlay container?)",
		    name);
		return -1;
	}
	ci->id = xstrdup(json_str(c, "Id"));
	ci->upperdir = xstrdup(upper);
	ci->running = running != NULL && running->type == JSON_BOOL &&
	    running->boolean;
	ci->pid = pid != NULL && pid->type == JSON_NUMBER ? (int)pid->num : 0;
	ci->spec.name = xstrdup(name);
	ci->spec.image = xstrdup(strncmp(image, "sha256:", 7) == 0 ?
	    image + 7 : image);
	ci->spec.cmd = strv_from_json(json_get(c, "Config.Cmd"));
	ci->spec.entrypoint = strv_from_json(json_get(c, "Config.Entrypoint"));
	ci->spec.env = strv_from_json(json_get(c, "Config.Env"));
	ci->spec.labels = strv_from_members(json_get(c, "Config.Labels"), 1);
	ci->spec.expose = strv_from_members(json_get(c,
	    "Config.ExposedPorts"), 0);
	ci->spec.workdir = dup_or_empty(json_str(c, "Config.WorkingDir"));
	ci->spec.user = dup_or_empty(json_str(c, "Config.User"));
	ci->spec.network = dup_or_empty(json_str(c, "HostConfig.NetworkMode"));
	return 0;
}

int
runtime_inspect(const char *rt, const char *name, struct container_info *ci,
    struct ls_err *err)
{
	struct buf	 out;
	struct json	*j = NULL;
	struct ls_err	 jerr;
	int		 r = -1;

	memset(ci, 0, sizeof(*ci));
	if (!conf_name_valid(name)) {
		ls_err_set(err, "'%s' is not a valid container name", name);
		return -1;
	}
	buf_init(&out);
	if (run_args(rt, &out, err, "container", "inspect", name, NULL) == -1)
		goto out;
	if ((j = json_parse(out.data, out.len, &jerr)) == NULL) {
		ls_err_set(err, "%s inspect %s: %s", rt, name, jerr.msg);
		goto out;
	}
	if (j->type != JSON_ARRAY || j->child == NULL ||
	    j->child->type != JSON_OBJECT) {
		ls_err_set(err, "%s inspect %s: not an array of one container",
		    rt, name);
		goto out;
	}
	if ((r = info_from_json(j->child, name, ci, err)) == -1)
		container_info_clear(ci);
out:
	json_free(j);
	buf_release(&out);
	return r;
}

static int
check_strv(const char *name, char *const *v, const char *what, int lines,
    struct ls_err *err)
{
	size_t	 i;

	if (strv_len(v) > 1024) {
		ls_err_set(err, "twin %s: more than 1024 %s entries", name, what);
		return -1;
	}
	for (i = 0; v != NULL && v[i] != NULL; i++) {
		if (strlen(v[i]) > 4096) {
			ls_err_set(err, "twin %s: %s entry %zu is longer than "
			    "4096 bytes", name, what, i + 1);
			return -1;
		}
		/* A script in a command may span lines; a label may not. */
		if (!lines && strchr(v[i], '\n') != NULL) {
			ls_err_set(err, "twin %s: %s entry %zu holds a newline",
			    name, what, i + 1);
			return -1;
		}
	}
	return 0;
}

/* The spec came from the wire: refuse anything podman could misread. */
int
runtime_spec_check(const struct twin_spec *s, struct ls_err *err)
{
	size_t	 i;

	if (s->name == NULL || !conf_name_valid(s->name)) {
		ls_err_set(err, "twin: invalid container name");
		return -1;
	}
	if (s->image == NULL || strlen(s->image) != 64 ||
	    strspn(s->image, "0123456789abcdef") != 64) {
		ls_err_set(err, "twin %s: image must be a 64-hex image ID",
		    s->name);
		return -1;
	}
	for (i = 0; s->env != NULL && s->env[i] != NULL; i++)
		if (strchr(s->env[i], '=') == NULL || s->env[i][0] == '=') {
			ls_err_set(err, "twin %s: env entry without a name",
			    s->name);
			return -1;
		}
	if (s->network != NULL && s->network[0] != '\0' &&
	    strcmp(s->network, "host") != 0 && strcmp(s->network, "none") != 0 &&
	    strcmp(s->network, "bridge") != 0 &&
	    strcmp(s->network, "default") != 0) {
		ls_err_set(err, "twin %s: network mode '%s' is not supported "
		    "(host, none, bridge)", s->name, s->network);
		return -1;
	}
	return check_strv(s->name, s->cmd, "cmd", 1, err) == -1 ||
	    check_strv(s->name, s->entrypoint, "entrypoint", 1, err) == -1 ||
	    check_strv(s->name, s->env, "env", 0, err) == -1 ||
	    check_strv(s->name, s->labels, "labels", 0, err) == -1 ||
	    check_strv(s->name, s->expose, "expose", 0, err) == -1 ? -1 : 0;
}

static char **
add_flag(char **argv, const char *flag, const char *value)
{
	char	*a = xasprintf("%s=%s", flag, value);

	argv = strv_add(argv, a);
	free(a);
	return argv;
}

/* JSON array of strings for --entrypoint, which takes one argument. */
static char *
json_array(char *const *v)
{
	struct buf	 b;
	const char	*p;
	size_t		 i;

	buf_init(&b);
	buf_addch(&b, '[');
	for (i = 0; v[i] != NULL; i++) {
		buf_addstr(&b, i ? ",\"" : "\"");
		for (p = v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_addch(&b, '\\');
			if ((unsigned char)*p < 0x20)
				buf_addf(&b, "\\u%04x", *p);
			else
				buf_addch(&b, *p);
		}
		buf_addch(&b, '"');
	}
	buf_addch(&b, ']');
	return buf_detach(&b, NULL);
}

int
runtime_create(const char *rt, const struct twin_spec *s, struct ls_err *err)
{
	char	**argv = NULL, *ep;
	size_t	 i;
	int	 r;

	if (runtime_spec_check(s, err) == -1)
		return -1;
	argv = strv_add(argv, "create");
	argv = add_flag(argv, "--name", s->name);
	for (i = 0; s->env != NULL && s->env[i] != NULL; i++)
		argv = add_flag(argv, "--env", s->env[i]);
	for (i = 0; s->labels != NULL && s->labels[i] != NULL; i++)
		argv = add_flag(argv, "--label", s->labels[i]);
	for (i = 0; s->expose != NULL && s->expose[i] != NULL; i++)
		argv = add_flag(argv, "--expose", s->expose[i]);
	if (s->workdir != NULL && s->workdir[0] != '\0')
		argv = add_flag(argv, "--workdir", s->workdir);
	if (s->user != NULL && s->user[0] != '\0')
		argv = add_flag(argv, "--user", s->user);
	if (s->network != NULL && s->network[0] != '\0' &&
	    strcmp(s->network, "default") != 0)
		argv = add_flag(argv, "--network", s->network);
	if (s->entrypoint != NULL) {
		ep = json_array(s->entrypoint);
		argv = add_flag(argv, "--entrypoint", ep);
		free(ep);
	}
	argv = strv_add(argv, s->image);
	for (i = 0; s->cmd != NULL && s->cmd[i] != NULL; i++)
		argv = strv_add(argv, s->cmd[i]);
	r = run(rt, argv, NULL, err);
	strv_free(argv);
	return r;
}

int
runtime_image_exists(const char *rt, const char *image)
{
	/* `image exists` is podman's alone; inspect works everywhere. */
	return run_args(rt, NULL, NULL, "image", "inspect", image, NULL) == 0;
}

int
runtime_start(const char *rt, const char *name, struct ls_err *err)
{
	return run_args(rt, NULL, err, "start", name, NULL);
}

int
runtime_stop(const char *rt, const char *name, int timeout_s,
    struct ls_err *err)
{
	char	 t[16];

	snprintf(t, sizeof(t), "--time=%d", timeout_s);
	return run_args(rt, NULL, err, "stop", t, name, NULL);
}

int
runtime_kill(const char *rt, const char *name, struct ls_err *err)
{
	return run_args(rt, NULL, err, "kill", "--signal=KILL", name, NULL);
}

int
runtime_remove(const char *rt, const char *name, struct ls_err *err)
{
	return run_args(rt, NULL, err, "rm", "--force", name, NULL);
}

/* For the loop to run asynchronously: several starts or stops at once. */
char **
runtime_start_argv(const char *rt, const char *name)
{
	return strv_add(strv_add(strv_add(NULL, rt), "start"), name);
}

char **
runtime_stop_argv(const char *rt, const char *name, int timeout_s)
{
	char	 t[16];

	snprintf(t, sizeof(t), "--time=%d", timeout_s);
	return strv_add(strv_add(strv_add(strv_add(NULL, rt), "stop"), t),
	    name);
}

/* `save` of an image by ID, and `load`: the ID survives the trip. */
char **
runtime_save_argv(const char *rt, const char *image)
{
	return strv_add(strv_add(strv_add(NULL, rt), "save"), image);
}

char **
runtime_load_argv(const char *rt)
{
	return strv_add(strv_add(NULL, rt), "load");
}
