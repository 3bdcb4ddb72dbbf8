/*
 * err: how code below the daemon layer reports a failure without
 * logging it. The callee fills the message; the caller that handles
 * the failure logs it once.
 */
#ifndef LS_ERR_H
#define LS_ERR_H

#define LS_ERR_LEN	512

struct ls_err {
	char	 msg[LS_ERR_LEN];
};

void	 ls_err_set(struct ls_err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 ls_err_sys(struct ls_err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
