# SPDX-License-Identifier: Apache-2.0
# PB_CHECK_LIBNATS: the NATS C client (Debian: libnats-dev) for the
# jetstream sink and source. Optional: without it they are not built, a
# configuration that names them is refused, and their tests skip.
AC_DEFUN([PB_CHECK_LIBNATS], [
  AC_ARG_WITH([libnats],
    [AS_HELP_STRING([--without-libnats], [do not build the jetstream sink and source])],
    [], [with_libnats=check])
  have_libnats=no
  AS_IF([test "x$with_libnats" != xno], [
    PKG_CHECK_MODULES([NATS], [libnats >= 3.3], [have_libnats=yes],
      [AS_IF([test "x$with_libnats" = xyes],
        [AC_MSG_ERROR([libnats >= 3.3 not found: install the Debian package libnats-dev])])])
  ])
  AS_IF([test "x$have_libnats" = xyes], [
    AC_DEFINE([HAVE_LIBNATS], [1], [Define to 1 to build the jetstream sink and source.])
    NATS_VERSION="$($PKG_CONFIG --modversion libnats) (jetstream sink and source built)"
  ], [
    NATS_VERSION="no (jetstream sink and source not built; apt-get install libnats-dev)"
  ])
  AC_PATH_PROG([NATS_SERVER], [nats-server], [no])
  AM_CONDITIONAL([HAVE_LIBNATS], [test "x$have_libnats" = xyes])
  AC_SUBST([NATS_VERSION])
])
