/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "config.h"
#include "config_int.h"
#include "linktype.h"

/* Values of capture keys that are more than a number or a string. */

void
pb_cfg_rate(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_capture_cfg *cap)
{
	const config_setting_t *s = config_setting_get_member(g, "rate");
	int type = s ? config_setting_type(s) : CONFIG_TYPE_NONE;
	const char *str = type == CONFIG_TYPE_STRING ? config_setting_get_string(s) : "";
	char *end;
	double pps;

	if (s == NULL || strcmp(str, "max") == 0)
		return;
	if (strcmp(str, "original") == 0) {
		cap->rate = PB_RATE_ORIGINAL;
		return;
	}
	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		pps = (double)config_setting_get_int64(s);
	} else if (type == CONFIG_TYPE_FLOAT) {
		pps = config_setting_get_float(s);
	} else if (type == CONFIG_TYPE_STRING) {
		pps = strtod(str, &end);
		end += strspn(end, " ");
		if (end == str || (*end != '\0' && strcmp(end, "pps") != 0)) {
			pb_cfg_error(c, s, "\"%s\": expected \"max\", \"original\" or packets per "
			    "second (10000 or \"10000pps\")", str);
			return;
		}
	} else {
		pb_cfg_error(c, s, "expected \"max\", \"original\" or a packet rate, got %s",
		    pb_cfg_type_name(s));
		return;
	}
	if (!isfinite(pps) || pps <= 0 || pps > 1e9) {
		pb_cfg_error(c, s, "packet rate must be above 0 and at most 1e9 packets/s");
		return;
	}
	cap->rate = PB_RATE_PPS;
	cap->pps = pps;
}

/* linktype: a libpcap name ("LINUX_SLL2", any case) or a LINKTYPE number. */
void
pb_cfg_linktype(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_capture_cfg *cap)
{
	const config_setting_t *s = config_setting_get_member(g, "linktype");
	int type = s ? config_setting_type(s) : CONFIG_TYPE_NONE;

	if (s == NULL)
		return;
	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		long long v = config_setting_get_int64(s);
		if (v < 0 || v > 65535)
			pb_cfg_error(c, s, "link type %lld outside 0..65535", v);
		else
			cap->linktype = (uint16_t)v;
		cap->has_linktype = true;
		return;
	}
	if (type != CONFIG_TYPE_STRING) {
		pb_cfg_error(c, s, "expected a link type name (\"LINUX_SLL2\") or LINKTYPE number, "
		    "got %s", pb_cfg_type_name(s));
		return;
	}
	const char *name = config_setting_get_string(s);
	int dlt = pcap_datalink_name_to_val(name);
	int lt = dlt < 0 ? -1 : pb_linktype_from_dlt(dlt);
	if (lt < 0)
		pb_cfg_error(c, s, "unknown link type \"%s\" (libpcap's names: EN10MB, RAW, "
		    "LINUX_SLL, LINUX_SLL2, IEEE802_11_RADIO...)", name);
	else
		cap->linktype = (uint16_t)lt;
	cap->has_linktype = lt >= 0;
}
