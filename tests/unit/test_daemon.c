/* Unit tests of ls_daemon's signal dispositions: SIGTERM/SIGINT count into
 * ls_daemon_stop, SIGHUP is ignored (no reload), also in forked children. */
#include "ls_daemon.h"
#include "ls_test.h"

#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int disposition_is(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    return sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == handler;
}

static void test_sighup_ignored(void)
{
    ls_daemon_install_signals();
    ls_daemon_stop = 0;
    CU_ASSERT(disposition_is(SIGHUP, SIG_IGN));
    CU_ASSERT(disposition_is(SIGPIPE, SIG_IGN));
    CU_ASSERT_EQUAL(raise(SIGHUP), 0); /* the default action would end this runner */
    CU_ASSERT_EQUAL(ls_daemon_stop, 0);
}

static void test_stop_signals_count(void)
{
    ls_daemon_install_signals();
    ls_daemon_stop = 0;
    raise(SIGTERM);
    CU_ASSERT_EQUAL(ls_daemon_stop, 1);
    raise(SIGINT);
    CU_ASSERT_EQUAL(ls_daemon_stop, 2);
    ls_daemon_stop = 0;
}

/* A worker process is forked by its master after the dispositions are set. */
static void test_sighup_ignored_in_child(void)
{
    ls_daemon_install_signals();
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        kill(getpid(), SIGHUP);
        _exit(disposition_is(SIGHUP, SIG_IGN) ? 0 : 2);
    }
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static CU_TestInfo daemon_tests[] = {
    {"SIGHUP is ignored, SIGPIPE too", test_sighup_ignored},
    {"SIGTERM and SIGINT count into ls_daemon_stop", test_stop_signals_count},
    {"a forked child ignores SIGHUP", test_sighup_ignored_in_child},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {
    {"daemon", NULL, NULL, NULL, NULL, daemon_tests},
    CU_SUITE_INFO_NULL,
};
LS_TEST_MAIN(suites)
