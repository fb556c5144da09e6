# SPDX-License-Identifier: Apache-2.0
# PB_REQUIRE_PKG(VAR, MODULE-SPEC, DEBIAN-PACKAGE)
# A required dependency found with pkg-config; the error names the package.
AC_DEFUN([PB_REQUIRE_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([$2 not found: install the Debian package $3 (apt-get install $3)])])
])
