# SPDX-License-Identifier: Apache-2.0
# PB_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
AC_DEFUN([PB_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  pb_save_CFLAGS="$CFLAGS"
  CFLAGS="$CFLAGS -Werror $1"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2], [AC_MSG_RESULT([no]); $3])
  CFLAGS="$pb_save_CFLAGS"
])
# PB_CHECK_LDFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT]) -- for -fsanitize=fuzzer,
# whose runtime brings its own main().
AC_DEFUN([PB_CHECK_LDFLAG], [
  AC_MSG_CHECKING([whether $CC links with $1])
  pb_save_CFLAGS="$CFLAGS"
  CFLAGS="$CFLAGS $1"
  AC_LINK_IFELSE([AC_LANG_SOURCE([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }
]])], [AC_MSG_RESULT([yes]); $2], [AC_MSG_RESULT([no]); $3])
  CFLAGS="$pb_save_CFLAGS"
])
# Threads: glibc needs only -pthread.
AC_DEFUN([AX_PTHREAD_SIMPLE], [
  PTHREAD_CFLAGS="-pthread"
  PTHREAD_LIBS="-pthread"
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
