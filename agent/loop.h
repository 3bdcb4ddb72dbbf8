/*
 * loop: the daemon's single-threaded event loop over one epoll fd.
 *
 * Fd events persist until loop_del_fd(). A timer callback returns the
 * delay in ms until it should run again, or LOOP_NOMORE. Signals are
 * read from one signalfd; SIGCHLD is consumed by the loop itself,
 * which reaps children and calls the callback given to
 * loop_add_child(), or kills the child's process group when its
 * deadline passes; loop_ignore_child() is for an owner that goes away
 * before its child ends. The before_sleep callback runs at the top of every
 * turn; loop_wake() asks for another turn before sleeping. No callback
 * may block.
 */
#ifndef LS_LOOP_H
#define LS_LOOP_H

#include <stdint.h>
#include <sys/types.h>

#define LOOP_NOMORE	(-1)

struct loop;

typedef void	loop_fd_cb(struct loop *, int fd, uint32_t events, void *);
typedef long	loop_timer_cb(struct loop *, long long id, void *);
typedef void	loop_signal_cb(struct loop *, int signo, void *);
typedef void	loop_child_cb(struct loop *, pid_t, int status, int timedout,
		    void *);
typedef void	loop_sleep_cb(struct loop *, void *);

struct loop	*loop_new(void);
void		 loop_free(struct loop *);
int		 loop_add_fd(struct loop *, int fd, uint32_t events,
		    loop_fd_cb *, void *);
int		 loop_mod_fd(struct loop *, int fd, uint32_t events);
void		 loop_del_fd(struct loop *, int fd);
long long	 loop_add_timer(struct loop *, long ms, loop_timer_cb *, void *);
void		 loop_del_timer(struct loop *, long long id);
int		 loop_add_signal(struct loop *, int signo, loop_signal_cb *,
		    void *);
void		 loop_add_child(struct loop *, pid_t, long timeout_ms,
		    loop_child_cb *, void *);
void		 loop_ignore_child(struct loop *, pid_t);
void		 loop_before_sleep(struct loop *, loop_sleep_cb *, void *);
void		 loop_wake(struct loop *);
int		 loop_run(struct loop *);
void		 loop_stop(struct loop *);
long long	 loop_now_ms(void);
long long	 loop_wall_ms(void);

#endif
