# SPDX-License-Identifier: Apache-2.0
# PB_CHECK_LIBDEFLATE: libdeflate for the FCS checks (libdeflate_crc32 uses
# the CPU's carry-less multiply when it has one), found with pkg-config and
# checked with a link test. libdeflate before 1.9 shipped no .pc file: then
# plain -ldeflate, still link-tested.
AC_DEFUN([PB_CHECK_LIBDEFLATE], [
  PKG_CHECK_MODULES([LIBDEFLATE], [libdeflate >= 1.0],
    [LIBDEFLATE_VERSION=`$PKG_CONFIG --modversion libdeflate`],
    [LIBDEFLATE_CFLAGS=""; LIBDEFLATE_LIBS="-ldeflate"; LIBDEFLATE_VERSION="unknown (no libdeflate.pc)"])
  pb_save_LIBS="$LIBS"; pb_save_CFLAGS="$CFLAGS"
  LIBS="$LIBDEFLATE_LIBS $LIBS"; CFLAGS="$CFLAGS $LIBDEFLATE_CFLAGS"
  AC_MSG_CHECKING([whether libdeflate_crc32 links])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <libdeflate.h>]],
    [[return libdeflate_crc32(0, "123456789", 9) != 0xCBF43926u;]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([libdeflate not found: install the Debian package libdeflate-dev (apt-get install libdeflate-dev)])])
  LIBS="$pb_save_LIBS"; CFLAGS="$pb_save_CFLAGS"
  AC_SUBST([LIBDEFLATE_CFLAGS])
  AC_SUBST([LIBDEFLATE_LIBS])
  AC_SUBST([LIBDEFLATE_VERSION])
])
