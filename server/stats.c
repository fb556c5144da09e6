/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include "stats.h"

const char *
pb_source_state_name(int state)
{
	switch (state) {
	case PB_SOURCE_STARTING: return "starting";
	case PB_SOURCE_RUNNING: return "running";
	case PB_SOURCE_PAUSED: return "paused";
	case PB_SOURCE_FINISHED: return "finished";
	case PB_SOURCE_FAILED: return "failed";
	}
	return "unknown";
}

const char *
pb_sink_state_name(int state)
{
	switch (state) {
	case PB_SINK_OK: return "ok";
	case PB_SINK_BACKLOG: return "backlog";
	case PB_SINK_ERROR: return "error";
	case PB_SINK_CLOSED: return "closed";
	}
	return "unknown";
}

const char *
pb_js_state_name(int state)
{
	switch (state) {
	case PB_JS_CONNECTING: return "connecting";
	case PB_JS_CONNECTED: return "connected";
	case PB_JS_RECONNECTING: return "reconnecting";
	case PB_JS_STREAM_ERROR: return "stream-error";
	case PB_JS_CLOSED: return "closed";
	}
	return "unknown";
}
