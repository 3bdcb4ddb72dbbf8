/*
 * testmain: the one main() every Check suite here shares: run the
 * NULL-terminated tests in one case, with an optional fixture, and exit
 * non-zero if any failed.
 */
#ifndef LS_TESTMAIN_H
#define LS_TESTMAIN_H

#include <check.h>
#include <stddef.h>

static inline int
test_run(const char *name, const TTest *const *tests, void (*setup)(void),
    void (*teardown)(void))
{
	Suite	*s = suite_create(name);
	TCase	*tc = tcase_create(name);
	SRunner	*sr;
	int	 failed;

	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(tc, setup, teardown);
	for (; *tests != NULL; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

#endif
