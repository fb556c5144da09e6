# SPDX-License-Identifier: Apache-2.0
# PB_CHECK_SSL: libssl with TLS 1.3 (OpenSSL >= 1.1.1) for TLS links, found
# with pkg-config and checked with a link test of the calls the tunnel
# depends on (TLS 1.3 floor, no session tickets).
AC_DEFUN([PB_CHECK_SSL], [
  PB_REQUIRE_PKG([SSL], [libssl >= 1.1.1], [libssl-dev])
  pb_save_LIBS="$LIBS"; pb_save_CFLAGS="$CFLAGS"
  LIBS="$SSL_LIBS $LIBS"; CFLAGS="$CFLAGS $SSL_CFLAGS"
  AC_MSG_CHECKING([whether libssl offers TLS 1.3])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <openssl/ssl.h>]], [[
SSL_CTX *c = SSL_CTX_new(TLS_method());
SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
SSL_CTX_set_num_tickets(c, 0);
SSL_CTX_free(c);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([libssl without TLS 1.3: install the Debian package libssl-dev (OpenSSL >= 1.1.1)])])
  LIBS="$pb_save_LIBS"; CFLAGS="$pb_save_CFLAGS"
])
