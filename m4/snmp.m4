# SPDX-License-Identifier: Apache-2.0
# PB_CHECK_NETSNMP: net-snmp agent libraries through net-snmp-config, with a
# link test. Flags net-snmp-config adds that do not belong in our build
# (-I/usr/include, LTO, specs files) are filtered, as keepalived does.
AC_DEFUN([PB_CHECK_NETSNMP], [
  AC_PATH_PROG([NETSNMP_CONFIG], [net-snmp-config], [no])
  AS_IF([test "x$NETSNMP_CONFIG" = xno],
    [AC_MSG_ERROR([net-snmp-config not found: install the Debian package libsnmp-dev (apt-get install libsnmp-dev)])])
  NETSNMP_VERSION=`$NETSNMP_CONFIG --version`
  NETSNMP_CFLAGS=""
  for f in `$NETSNMP_CONFIG --base-cflags`; do
    case "$f" in
      -I/usr/include|-flto*|-ffat-lto*|-specs=*|-g|-O*|-Wall|-Werror*|-fdebug-prefix-map*|-ffile-prefix-map*) ;;
      *) NETSNMP_CFLAGS="$NETSNMP_CFLAGS $f" ;;
    esac
  done
  NETSNMP_LIBS="-lnetsnmpagent -lnetsnmp"
  pb_save_LIBS="$LIBS"; pb_save_CFLAGS="$CFLAGS"
  LIBS="$NETSNMP_LIBS $LIBS"; CFLAGS="$CFLAGS $NETSNMP_CFLAGS"
  AC_MSG_CHECKING([whether the net-snmp agent library links])
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>
]], [[init_agent("pb"); snmp_select_info2(NULL, NULL, NULL, NULL);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no]); AC_MSG_ERROR([cannot link the net-snmp agent library: install the Debian package libsnmp-dev])])
  LIBS="$pb_save_LIBS"; CFLAGS="$pb_save_CFLAGS"
  AC_SUBST([NETSNMP_CFLAGS])
  AC_SUBST([NETSNMP_LIBS])
  AC_SUBST([NETSNMP_VERSION])
])
