/* test_json: the inspect reader takes real runtime output and refuses junk. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "testmain.h"

static struct json *
parse(const char *s)
{
	struct ls_err	 err;

	return json_parse(s, strlen(s), &err);
}

START_TEST(test_inspect_like_document)
{
	const char	*doc = "[{\"Id\":\"abc\",\"State\":{\"Running\":true,"
	    "\"Pid\":42},\"Config\":{\"Env\":[\"A=1\",\"B=x y\"],"
	    "\"Labels\":{\"k\":\"v\"},\"Cmd\":null},"
	    "\"GraphDriver\":{\"Data\":{\"UpperDir\":\"/var/lib/c/diff\"}}}]";
	struct json		*j = parse(doc);
	const struct json	*c, *e;

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(j->type, JSON_ARRAY);
	c = j->child;
	ck_assert_str_eq(json_str(c, "Id"), "abc");
	ck_assert_int_eq(json_get(c, "State.Running")->boolean, 1);
	ck_assert(json_get(c, "State.Pid")->num == 42);
	ck_assert_str_eq(json_str(c, "GraphDriver.Data.UpperDir"),
	    "/var/lib/c/diff");
	e = json_get(c, "Config.Env");
	ck_assert_str_eq(e->child->str, "A=1");
	ck_assert_str_eq(e->child->next->str, "B=x y");
	ck_assert_ptr_null(e->child->next->next);
	ck_assert_int_eq(json_get(c, "Config.Cmd")->type, JSON_NULL);
	ck_assert_str_eq(json_get(c, "Config.Labels")->child->key, "k");
	ck_assert_ptr_null(json_get(c, "Config.Nope"));
	ck_assert_ptr_null(json_str(c, "State.Pid"));
	json_free(j);
}
END_TEST

START_TEST(test_escapes_decode_to_utf8)
{
	struct json	*j = parse("\"a\\n\\\"\\u00e9\\ud83d\\ude00\\/\"");

	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(j->str, "a\n\"\xc3\xa9\xf0\x9f\x98\x80/");
	json_free(j);
}
END_TEST

START_TEST(test_junk_is_refused)
{
	static const char *const bad[] = {
		"", "[", "{\"a\" 1}", "[1,]", "\"\\u0000\"", "\"abc",
		"\"\\ud800\"", "[1] x", "{1:2}", "tru", "\"\x01\"", "[--]",
	};
	struct ls_err	 err;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(json_parse(bad[i], strlen(bad[i]), &err) == NULL,
		    "accepted %s", bad[i]);
	ck_assert_ptr_null(json_parse("[1,2", 4, &err));
	ck_assert_str_eq(err.msg, "json: expected ',' or ']' at offset 4");
}
END_TEST

START_TEST(test_depth_is_bounded)
{
	char		 deep[200];
	struct ls_err	 err;

	memset(deep, '[', sizeof(deep));
	ck_assert_ptr_null(json_parse(deep, sizeof(deep), &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "nesting too deep"));
}
END_TEST

START_TEST(test_length_is_respected)
{
	struct ls_err	 err;
	struct json	*j = json_parse("123456", 3, &err);

	ck_assert_ptr_nonnull(j);
	ck_assert(j->num == 123);
	json_free(j);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_inspect_like_document,
		test_escapes_decode_to_utf8,
		test_junk_is_refused,
		test_depth_is_bounded,
		test_length_is_respected,
		NULL
	};

	return test_run("json", tests, NULL, NULL);
}
