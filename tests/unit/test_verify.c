/* SPDX-License-Identifier: GPL-2.0-or-later */
/* verify's building blocks: reading what qm prints (status, guest exec), splitting the probe command,
 * and running a command with a timeout. The cycles themselves run in tests/cli/cases/verify.sh. */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "base/spawn.h"
#include "reset/verify.h"

/* PVE/CLI/qm.pm status: print "status: $status\n" with qmpstatus, or the plain status when stopped. */
static void status_line_is_read(void **state)
{
        char s[32];

        (void)state;
        assert_int_equal(verify_parse_status("status: running\n", s, sizeof(s)), 0);
        assert_string_equal(s, "running");
        assert_int_equal(verify_parse_status("status: stopped\n", s, sizeof(s)), 0);
        assert_string_equal(s, "stopped");
        /* a warning before the line (qm prints perl warnings on stdout in some versions), CRLF */
        assert_int_equal(verify_parse_status("unable to get VM status\nstatus: paused\r\n", s, sizeof(s)), 0);
        assert_string_equal(s, "paused");
        assert_int_equal(verify_parse_status("status: prelaunch", s, sizeof(s)), 0);
        assert_string_equal(s, "prelaunch");
}

static void status_without_its_line_is_einval(void **state)
{
        char s[8];

        (void)state;
        assert_int_equal(verify_parse_status("", s, sizeof(s)), -EINVAL);
        assert_int_equal(verify_parse_status(NULL, s, sizeof(s)), -EINVAL);
        assert_int_equal(verify_parse_status("Configuration file 'nodes/pve/qemu-server/100.conf' does not exist\n", s,
                                             sizeof(s)),
                         -EINVAL);
        assert_int_equal(verify_parse_status("status: \n", s, sizeof(s)), -EINVAL);
        assert_int_equal(verify_parse_status("status: much-too-long-for-buf\n", s, sizeof(s)), -EINVAL);
        assert_int_equal(verify_parse_status("  status: running\n", s, sizeof(s)), -EINVAL);
        /* one word, as QMP RunState names are: nothing a table or a message could be fooled by */
        assert_int_equal(verify_parse_status("status: s\"\ra\n", s, sizeof(s)), -EINVAL);
        assert_int_equal(verify_parse_status("status: two words\n", s, sizeof(s)), -EINVAL);
}

/* qm guest exec prints to_json($result, {pretty => 1, canonical => 1}) of qemu_exec_status, whose
 * JSON booleans are converted to 1/0 (PVE/QemuServer/Agent.pm) and whose out-data is decoded. */
static void exec_status_of_a_finished_command(void **state)
{
        struct verify_exec_status st;
        const char *out = "{\n"
                          "   \"exitcode\" : 0,\n"
                          "   \"exited\" : 1,\n"
                          "   \"out-data\" : \"\\n==============NVSMI LOG==============\\n\\nTimestamp : x\\n\"\n"
                          "}\n";

        (void)state;
        assert_int_equal(verify_parse_exec(out, &st), 0);
        assert_true(st.exited);
        assert_int_equal(st.exitcode, 0);
        assert_int_equal(st.signal, -1);
        assert_string_equal(st.out_first, "==============NVSMI LOG==============");
        assert_string_equal(st.err_first, "");
}

static void exec_status_of_a_failing_command(void **state)
{
        struct verify_exec_status st;
        const char *out = "{\n"
                          "   \"err-data\" : \"\\tNo devices were found\\r\\nmore\\n\",\n"
                          "   \"exitcode\" : 6,\n"
                          "   \"exited\" : true,\n"
                          "   \"out-truncated\" : 0\n"
                          "}\n";

        (void)state;
        assert_int_equal(verify_parse_exec(out, &st), 0);
        assert_true(st.exited); /* a JSON boolean is fine too */
        assert_int_equal(st.exitcode, 6);
        assert_string_equal(st.err_first, "No devices were found");
        assert_string_equal(st.out_first, "");
}

static void exec_status_killed_by_a_signal(void **state)
{
        struct verify_exec_status st;

        (void)state;
        assert_int_equal(verify_parse_exec("{\"exited\": 1, \"signal\": 9}", &st), 0);
        assert_true(st.exited);
        assert_int_equal(st.exitcode, -1);
        assert_int_equal(st.signal, 9);
}

/* qm's --timeout ran out before the command: "timeout reached, returning pid" on stderr and the
 * result of qemu_exec, {"pid": N}, on stdout. */
static void exec_status_of_a_command_still_running(void **state)
{
        struct verify_exec_status st;

        (void)state;
        assert_int_equal(verify_parse_exec("{\n   \"pid\" : 1234\n}\n", &st), 0);
        assert_false(st.exited);
        assert_int_equal(st.exitcode, -1);
}

static void exec_status_that_is_not_json_is_einval(void **state)
{
        struct verify_exec_status st;

        (void)state;
        assert_int_equal(verify_parse_exec("", &st), -EINVAL);
        assert_int_equal(verify_parse_exec(NULL, &st), -EINVAL);
        assert_int_equal(verify_parse_exec("Agent error: can't execute command", &st), -EINVAL);
        assert_int_equal(verify_parse_exec("[1, 2]", &st), -EINVAL);
        /* out of int range and wrong types are ignored, not misread */
        assert_int_equal(verify_parse_exec("{\"exited\": 1, \"exitcode\": 99999999999, \"out-data\": 5}", &st), 0);
        assert_int_equal(st.exitcode, -1);
        assert_string_equal(st.out_first, "");
}

/* Control characters in the guest's output never reach the table. */
static void exec_output_first_line_is_one_clean_line(void **state)
{
        struct verify_exec_status st;

        (void)state;
        assert_int_equal(verify_parse_exec("{\"exited\": 1, \"exitcode\": 1, \"out-data\": \"  a\\u001b[31mred\\tb  \\nc\"}",
                                           &st),
                         0);
        assert_string_equal(st.out_first, "a [31mred b");
}

static void probe_command_is_split_at_blanks(void **state)
{
        char buf[64], *argv[8];
        size_t n = 0;

        (void)state;
        assert_int_equal(verify_split_command("  lspci   -nnk\t-d 10de: ", buf, sizeof(buf), argv, ELEMENTSOF(argv), &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(argv[0], "lspci");
        assert_string_equal(argv[1], "-nnk");
        assert_string_equal(argv[2], "-d");
        assert_string_equal(argv[3], "10de:");
        assert_null(argv[4]);
        /* no shell, no quoting: the words are what the guest agent gets */
        assert_int_equal(verify_split_command("sh -c 'a b'", buf, sizeof(buf), argv, ELEMENTSOF(argv), &n), 0);
        assert_int_equal(n, 4);
        assert_string_equal(argv[2], "'a");
}

static void probe_command_limits(void **state)
{
        char buf[16], *argv[4];
        size_t n = 0;

        (void)state;
        assert_int_equal(verify_split_command("", buf, sizeof(buf), argv, ELEMENTSOF(argv), &n), -EINVAL);
        assert_int_equal(verify_split_command(" \t ", buf, sizeof(buf), argv, ELEMENTSOF(argv), &n), -EINVAL);
        assert_int_equal(verify_split_command("a b c", buf, sizeof(buf), argv, ELEMENTSOF(argv), &n), 0);
        assert_int_equal(verify_split_command("a b c d", buf, sizeof(buf), argv, ELEMENTSOF(argv), &n), -E2BIG);
        assert_int_equal(verify_split_command("0123456789abcdef", buf, sizeof(buf), argv, ELEMENTSOF(argv), &n), -E2BIG);
}

static void options_out_of_range_name_the_option(void **state)
{
        struct verify_options o = { .cycles = 3, .agent_timeout = 10, .shutdown_timeout = 10 };
        struct pgr_error err = {};

        (void)state;
        assert_int_equal(verify_check_options(&o, &err), 0);
        o.cycles = 0;
        assert_int_equal(verify_check_options(&o, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "--cycles"));
        o.cycles = 1;
        o.probe = "";
        assert_int_equal(verify_check_options(&o, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "--probe"));
}

static long long mono_msec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void command_output_and_status_are_captured(void **state)
{
        const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
        struct spawn_result c;

        (void)state;
        assert_int_equal(spawn_run(argv, 10000, &c), 0);
        assert_int_equal(c.status, 3);
        assert_false(c.timed_out);
        assert_string_equal(c.out, "out\n");
        assert_string_equal(c.err, "err\n");
        spawn_result_done(&c);
}

/* The tool's promise: never hang. A child that keeps the pipe open after its parent exits does not
 * hold us either. */
static void command_is_killed_at_its_timeout(void **state)
{
        const char *argv[] = { "sh", "-c", "echo started; sleep 30", NULL };
        const char *daemon[] = { "sh", "-c", "sleep 6 & echo forked", NULL };
        struct spawn_result c;
        long long t0 = mono_msec();

        (void)state;
        assert_int_equal(spawn_run(argv, 1000, &c), 0);
        assert_true(c.timed_out);
        assert_string_equal(c.out, "started\n");
        assert_true(mono_msec() - t0 < 5000);
        spawn_result_done(&c);

        t0 = mono_msec();
        assert_int_equal(spawn_run(daemon, 20000, &c), 0);
        assert_false(c.timed_out);
        assert_int_equal(c.status, 0);
        assert_string_equal(c.out, "forked\n");
        assert_true(mono_msec() - t0 < 4000); /* not the 6 s of the sleep it left behind */
        spawn_result_done(&c);
}

/* Attack review (bounded binds, same class): an ignored SIGCHLD (inherited across execve from whoever
 * ran the hook) has the kernel reap the child itself; waitpid() then fails with ECHILD and the run
 * waited out its whole timeout and took a modprobe that had succeeded for one that hung. */
static void command_status_is_captured_when_sigchld_is_ignored(void **state)
{
        const char *argv[] = { "sh", "-c", "exit 3", NULL };
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        struct spawn_result c;
        long long t0 = mono_msec();
        int r;

        (void)state;
        assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
        r = spawn_run(argv, 3000, &c);
        assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
        assert_int_equal(r, 0);
        assert_false(c.timed_out);
        assert_int_equal(c.status, 3);
        assert_true(mono_msec() - t0 < 2000);
        spawn_result_done(&c);
}

static void command_not_on_path_is_enoent(void **state)
{
        const char *argv[] = { "pgr-no-such-program", NULL };
        struct spawn_result c;

        (void)state;
        assert_int_equal(spawn_run(argv, 1000, &c), -ENOENT);
        assert_string_equal(c.error, "pgr-no-such-program not found on $PATH");
        spawn_result_done(&c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(command_status_is_captured_when_sigchld_is_ignored),
                cmocka_unit_test(status_line_is_read),
                cmocka_unit_test(status_without_its_line_is_einval),
                cmocka_unit_test(exec_status_of_a_finished_command),
                cmocka_unit_test(exec_status_of_a_failing_command),
                cmocka_unit_test(exec_status_killed_by_a_signal),
                cmocka_unit_test(exec_status_of_a_command_still_running),
                cmocka_unit_test(exec_status_that_is_not_json_is_einval),
                cmocka_unit_test(exec_output_first_line_is_one_clean_line),
                cmocka_unit_test(probe_command_is_split_at_blanks),
                cmocka_unit_test(probe_command_limits),
                cmocka_unit_test(options_out_of_range_name_the_option),
                cmocka_unit_test(command_output_and_status_are_captured),
                cmocka_unit_test(command_is_killed_at_its_timeout),
                cmocka_unit_test(command_not_on_path_is_enoent),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
