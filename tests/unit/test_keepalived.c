/*
 * test_keepalived: the keepalived integration's pure parts. The config
 * written for a node carries its vrrp settings, unicast peers, the
 * notify FIFO and track script, and no placeholder is left; a node
 * without a vrrp group, or paths keepalived would split, are refused.
 * The FIFO lines map to promote and demote as keepalived means them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "kaconf.h"
#include "notify.h"
#include "testmain.h"

static struct conf *
load(const char *name)
{
	static char	 path[4096];
	const char	*dir = getenv("FIXTURES");
	struct buf	 errs;
	struct conf	*conf;

	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir :
	    "tests/unit/conf", name);
	buf_init(&errs);
	conf = conf_load(path, &errs);
	ck_assert_msg(conf != NULL, "%s", errs.data);
	buf_release(&errs);
	return conf;
}

static char *
render(struct conf *conf, const char *self, int *rc, struct ls_err *err)
{
	char	*out = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&out, &len);

	*rc = kaconf_write(conf, self, f, err);
	fclose(f);
	return out;
}

START_TEST(test_config_carries_the_node_settings)
{
	struct conf	*conf = load("vrrp.conf");
	struct ls_err	 err;
	char		*out;
	int		 rc;

	out = render(conf, "/usr/sbin/layersync", &rc, &err);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "virtual_router_id 7\n"));
	ck_assert_ptr_nonnull(strstr(out, "priority 150\n"));
	ck_assert_ptr_nonnull(strstr(out, "advert_int 0.10\n"));
	ck_assert_ptr_nonnull(strstr(out, "vrrp_version 3\n"));
	ck_assert_ptr_nonnull(strstr(out, "state BACKUP\n"));
	ck_assert_ptr_nonnull(strstr(out, "nopreempt\n"));
	ck_assert_ptr_nonnull(strstr(out, "interface eth0\n"));
	ck_assert_ptr_nonnull(strstr(out, "10.210.0.100/24 dev eth0\n"));
	ck_assert_ptr_nonnull(strstr(out, "unicast_src_ip 10.210.0.1\n"));
	ck_assert_ptr_nonnull(strstr(out, "unicast_peer {\n        "
	    "10.210.0.2\n    }\n"));
	ck_assert_ptr_nonnull(strstr(out, "notify_fifo "
	    "/run/layersync-test/keepalived.fifo\n"));
	ck_assert_ptr_nonnull(strstr(out, "notify_fifo_script \""
	    "/usr/sbin/layersync -c "));
	ck_assert_ptr_nonnull(strstr(out, "vrrp.conf check --quiet\""));
	ck_assert_ptr_null(strchr(out, '@'));
	free(out);
	conf_free(conf);
}
END_TEST

START_TEST(test_bad_requests_are_refused)
{
	struct conf	*conf = load("minimal.conf");
	struct ls_err	 err;
	char		*out;
	int		 rc;

	out = render(conf, "/usr/sbin/layersync", &rc, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "has no 'vrrp' group"));
	free(out);
	conf_free(conf);
	conf = load("vrrp.conf");
	out = render(conf, "/opt/my tools/layersync", &rc, &err);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "without spaces"));
	free(out);
	conf_free(conf);
}
END_TEST

START_TEST(test_fifo_lines_map_to_commands)
{
	ck_assert_str_eq(notify_action("INSTANCE \"layersync\" MASTER 100"),
	    "promote");
	ck_assert_str_eq(notify_action("INSTANCE \"layersync\" BACKUP 100"),
	    "demote");
	ck_assert_str_eq(notify_action("INSTANCE \"layersync\" FAULT 0"),
	    "demote");
	ck_assert_str_eq(notify_action("INSTANCE \"layersync\" STOP 100"),
	    "demote");
	ck_assert_ptr_null(notify_action("GROUP \"g\" MASTER"));
	ck_assert_ptr_null(notify_action("INSTANCE \"layersync\" DELETED 0"));
	ck_assert_ptr_null(notify_action("garbage"));
	ck_assert_ptr_null(notify_action(""));
}
END_TEST

int
main(void)
{
	const TTest *const tests[] = {
		test_config_carries_the_node_settings,
		test_bad_requests_are_refused,
		test_fifo_lines_map_to_commands,
		NULL
	};

	return test_run("keepalived", tests, NULL, NULL);
}
