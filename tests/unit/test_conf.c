/*
 * test_conf: layersync.conf parsing. A good file yields every value;
 * each kind of bad file yields its exact "file:line: message" lines.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "testmain.h"
#include "testpath.h"

/* Load a bad fixture and return its errors, with the directory cut. */
static char *
errors_of(const char *name)
{
	struct buf	 errs;
	struct conf	*conf;
	const char	*path = fixture(name);
	char		*p, *out;
	size_t		 plen = strlen(path) - strlen(name);

	buf_init(&errs);
	conf = conf_load(path, &errs);
	ck_assert_ptr_null(conf);
	/* Strip the fixture directory from every line. */
	out = calloc(1, errs.len + 1);
	for (p = errs.data; *p != '\0';) {
		if (strncmp(p, path, plen) == 0)
			p += plen;
		while (*p != '\0' && *p != '\n')
			strncat(out, p++, 1);
		if (*p == '\n')
			strncat(out, p++, 1);
	}
	buf_release(&errs);
	return out;
}

START_TEST(test_good_file_yields_every_value)
{
	struct buf		 errs;
	struct conf		*conf;
	struct conf_peer	*beta, *gamma;

	buf_init(&errs);
	conf = conf_load(fixture("good.conf"), &errs);
	ck_assert_msg(conf != NULL, "errors: %s", errs.data);
	ck_assert_str_eq(errs.data, "");
	ck_assert_str_eq(conf->node, "alpha");
	ck_assert_str_eq(conf->runtime, "docker");
	ck_assert_str_eq(conf->state_dir, "/var/lib/layersync-test");
	ck_assert_str_eq(conf->control_socket, "/run/layersync-test/ls.sock");
	ck_assert_str_eq(conf->log, "syslog");
	ck_assert_int_eq(conf->fsync, 0);
	ck_assert_int_eq(conf->stall_timeout_ms, 30000);
	beta = conf_peer_find(conf, "beta");
	ck_assert_ptr_nonnull(beta);
	ck_assert_str_eq(beta->address, "10.210.0.2");
	ck_assert_int_eq(beta->port, 2222);
	ck_assert_str_eq(beta->user, "root");
	ck_assert_str_eq(beta->identity, "/etc/layersync/id_ed25519");
	ck_assert_str_eq(beta->known_hosts, "/etc/layersync/known_hosts");
	ck_assert_int_eq(beta->line, 8);
	gamma = conf_peer_find(conf, "gamma");
	ck_assert_ptr_nonnull(gamma);
	ck_assert_int_eq(gamma->port, 22);
	ck_assert_ptr_null(conf_peer_find(conf, "delta"));
	conf_free(conf);
	buf_release(&errs);
}
END_TEST

START_TEST(test_minimal_file_gets_defaults)
{
	struct buf	 errs;
	struct conf	*conf;

	buf_init(&errs);
	conf = conf_load(fixture("minimal.conf"), &errs);
	ck_assert_ptr_nonnull(conf);
	ck_assert_str_eq(conf->node, "solo");
	ck_assert_str_eq(conf->runtime, "podman");
	ck_assert_str_eq(conf->state_dir, "/var/lib/layersync");
	ck_assert_str_eq(conf->control_socket,
	    "/run/layersync/layersync.sock");
	ck_assert_str_eq(conf->log, "stderr");
	ck_assert_int_eq(conf->fsync, 1);
	ck_assert_int_eq(conf->stall_timeout_ms, 60000);
	ck_assert(TAILQ_EMPTY(&conf->peers));
	conf_free(conf);
	buf_release(&errs);
}
END_TEST

START_TEST(test_missing_file_names_the_file)
{
	char	*e = errors_of("no-such.conf");

	ck_assert_str_eq(e, "no-such.conf: cannot read: "
	    "No such file or directory\n");
	free(e);
}
END_TEST

START_TEST(test_syntax_error_names_file_and_line)
{
	char	*e = errors_of("syntax.conf");

	ck_assert_str_eq(e, "syntax.conf:3: syntax error: syntax error\n");
	free(e);
}
END_TEST

START_TEST(test_unknown_settings_are_errors)
{
	char	*e = errors_of("unknown.conf");

	ck_assert_str_eq(e,
	    "unknown.conf:2: unknown setting 'colour'\n"
	    "unknown.conf:6: unknown setting 'peers.[0].passwd'\n");
	free(e);
}
END_TEST

START_TEST(test_missing_required_settings)
{
	char	*e = errors_of("missing.conf");

	ck_assert_str_eq(e,
	    "missing.conf: missing required setting 'node'\n"
	    "missing.conf:3: missing required setting 'peers.[0].address'\n");
	free(e);
}
END_TEST

START_TEST(test_bad_values_are_all_reported)
{
	char	*e = errors_of("badvalues.conf");

	ck_assert_str_eq(e,
	    "badvalues.conf:1: 'node' must be 1-63 characters of letters, "
	    "digits, '_', '.' or '-', starting with a letter or digit "
	    "(got \"alpha node\")\n"
	    "badvalues.conf:2: 'state_dir' must be an absolute path "
	    "(got \"var/lib/layersync\")\n"
	    "badvalues.conf:3: 'log' must be \"stderr\" or \"syslog\" "
	    "(got \"journal\")\n"
	    "badvalues.conf:11: 'stall_timeout_ms' must be between 1000 and "
	    "3600000 (got 10)\n"
	    "badvalues.conf:10: 'fsync' must be true or false\n"
	    "badvalues.conf:5: 'peers.[0].port' must be between 1 and 65535 "
	    "(got 70000)\n"
	    "badvalues.conf:7: 'peers.[1].port' must be an integer\n"
	    "badvalues.conf:7: peer 'beta' is defined twice\n");
	free(e);
}
END_TEST

START_TEST(test_peer_cannot_be_this_node)
{
	char	*e = errors_of("self.conf");

	ck_assert_str_eq(e, "self.conf:3: peer 'alpha' has this node's "
	    "own name\n");
	free(e);
}
END_TEST

START_TEST(test_peers_must_be_a_list)
{
	char	*e = errors_of("peersgroup.conf");

	ck_assert_str_eq(e, "peersgroup.conf:2: 'peers' must be a list of "
	    "groups: ( { name = ...; }, ... )\n");
	free(e);
}
END_TEST

START_TEST(test_vrrp_group_and_restart_limits)
{
	struct buf	 errs;
	struct conf	*conf;

	buf_init(&errs);
	conf = conf_load(fixture("vrrp.conf"), &errs);
	ck_assert_msg(conf != NULL, "errors: %s", errs.data);
	ck_assert_int_eq(conf->restart_attempts, 5);
	ck_assert_int_eq(conf->restart_window_ms, 30000);
	ck_assert_ptr_nonnull(conf->vrrp);
	ck_assert_str_eq(conf->vrrp->interface, "eth0");
	ck_assert_str_eq(conf->vrrp->vip, "10.210.0.100/24");
	ck_assert_int_eq(conf->vrrp->router_id, 7);
	ck_assert_int_eq(conf->vrrp->priority, 150);
	ck_assert_int_eq(conf->vrrp->advert_ms, 100);
	ck_assert_str_eq(conf->vrrp->address, "10.210.0.1");
	conf_free(conf);
	/* Without the group: no vrrp, default limits. */
	buf_reset(&errs);
	conf = conf_load(fixture("minimal.conf"), &errs);
	ck_assert_ptr_nonnull(conf);
	ck_assert_ptr_null(conf->vrrp);
	ck_assert_int_eq(conf->restart_attempts, 3);
	ck_assert_int_eq(conf->restart_window_ms, 60000);
	conf_free(conf);
	buf_release(&errs);
}
END_TEST

START_TEST(test_bad_vrrp_values_are_all_reported)
{
	char	*e = errors_of("badvrrp.conf");

	ck_assert_str_eq(e,
	    "badvrrp.conf:2: 'restart_attempts' must be between 0 and 100 "
	    "(got -1)\n"
	    "badvrrp.conf:4: unknown setting 'vrrp.colour'\n"
	    "badvrrp.conf:3: missing required setting 'vrrp.interface'\n"
	    "badvrrp.conf:3: 'vrrp.vip' must be an IPv4 address with its "
	    "prefix length, such as \"10.0.0.100/24\" (got \"10.210.0.100\")\n"
	    "badvrrp.conf:3: 'vrrp.priority' must be between 1 and 254 "
	    "(got 300)\n"
	    "badvrrp.conf:4: 'vrrp.advert_ms' must be between 10 and 25500 "
	    "(got 5)\n"
	    "badvrrp.conf:4: 'vrrp.address' must be an IPv4 address "
	    "(got \"alpha\")\n");
	free(e);
}
END_TEST

START_TEST(test_containers_and_criu_path)
{
	struct buf		 errs;
	struct conf		*conf;
	struct conf_container	*db, *web;

	buf_init(&errs);
	conf = conf_load(fixture("criu.conf"), &errs);
	ck_assert_msg(conf != NULL, "errors: %s", errs.data);
	ck_assert_str_eq(conf->criu_path, "/opt/layersync/criu/bin/criu");
	db = conf_container_find(conf, "db");
	web = conf_container_find(conf, "web");
	ck_assert_ptr_nonnull(db);
	ck_assert_ptr_nonnull(web);
	ck_assert_ptr_null(conf_container_find(conf, "mail"));
	ck_assert_str_eq(db->mode, "criu");
	ck_assert_int_eq(db->checkpoint_interval_ms, 2000);
	ck_assert_int_eq(db->tcp_established, 1);
	ck_assert_int_eq(db->file_locks, 0);
	ck_assert_str_eq(web->mode, "layer");
	ck_assert_int_eq(web->checkpoint_interval_ms, 10000);
	conf_free(conf);
	/* Without them: criu from PATH, no entries. */
	buf_reset(&errs);
	conf = conf_load(fixture("minimal.conf"), &errs);
	ck_assert_ptr_nonnull(conf);
	ck_assert_str_eq(conf->criu_path, "");
	ck_assert(TAILQ_EMPTY(&conf->containers));
	conf_free(conf);
	buf_release(&errs);
}
END_TEST

START_TEST(test_bad_containers_are_all_reported)
{
	char	*e = errors_of("badcriu.conf");

	ck_assert_str_eq(e,
	    "badcriu.conf:2: 'criu_path' must be an absolute path to an "
	    "executable named criu (got \"/usr/sbin/criu-4\")\n"
	    "badcriu.conf:4: 'containers.[0].mode' must be \"layer\" or "
	    "\"criu\" (got \"memory\")\n"
	    "badcriu.conf:4: 'containers.[0].checkpoint_interval_ms' must be "
	    "between 200 and 86400000 (got 5)\n"
	    "badcriu.conf:5: unknown setting 'containers.[1].colour'\n"
	    "badcriu.conf:5: 'containers.[1].file_locks' must be true or "
	    "false\n"
	    "badcriu.conf:5: container 'db' is defined twice\n"
	    "badcriu.conf:6: missing required setting 'containers.[2].name'\n");
	free(e);
}
END_TEST

START_TEST(test_names_are_checked)
{
	ck_assert(conf_name_valid("web"));
	ck_assert(conf_name_valid("web-1.db_2"));
	ck_assert(!conf_name_valid(""));
	ck_assert(!conf_name_valid("-web"));
	ck_assert(!conf_name_valid("../etc"));
	ck_assert(!conf_name_valid("a/b"));
	ck_assert(conf_name_valid("a23456789012345678901234567890123456789"
	    "012345678901234567890123"));
	ck_assert(!conf_name_valid("a23456789012345678901234567890123456789"
	    "0123456789012345678901234"));
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_good_file_yields_every_value,
		test_minimal_file_gets_defaults,
		test_missing_file_names_the_file,
		test_syntax_error_names_file_and_line,
		test_unknown_settings_are_errors,
		test_missing_required_settings,
		test_containers_and_criu_path,
		test_bad_containers_are_all_reported,
		test_bad_values_are_all_reported,
		test_peer_cannot_be_this_node,
		test_peers_must_be_a_list,
		test_names_are_checked,
		test_vrrp_group_and_restart_limits,
		test_bad_vrrp_values_are_all_reported,
		NULL
	};

	return test_run("conf", tests, NULL, NULL);
}
