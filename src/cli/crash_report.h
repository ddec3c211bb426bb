/* SPDX-License-Identifier: MIT */
/*
 * crash_report.h - a report on file descriptor fd (stderr: 2) when the process dies of SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL or SIGABRT: the signal, the faulting address, the thread and its stack,
 * then the signal's default action (exit status 128 + N, core file where enabled).  For `poolpatch
 * serve` (crash_report.c says why and how to read the stack).
 */
#ifndef PP_CLI_CRASH_REPORT_H
#define PP_CLI_CRASH_REPORT_H

void crash_report_install(int fd);

#endif
