#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# schema/openapi.yaml is a valid OpenAPI 3.1 document (checked against the
# OpenAPI Initiative's JSON schemas by @seriousme/openapi-schema-validator,
# from the npm registry: Debian packages none for 3.1), every $ref resolves,
# and its operations are exactly the routes the daemon serves
# (tests/tools/oascheck.py). A document with a defect is refused, so that
# the validator is known to look. test_api_rest.sh checks real responses
# against the same document.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

OAS_VALIDATOR_VERSION=2.11.0
SPEC=$top_srcdir/schema/openapi.yaml
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY -c 'import yaml, jsonschema' 2>/dev/null || skip "python3-yaml and python3-jsonschema needed"
pb_setup
T=$PB_TMP

$PY "$top_srcdir/tests/tools/oascheck.py" "$SPEC" --routes "$top_srcdir/mgmt/api_server.c" \
    >"$T/routes.log" 2>&1 || { cat "$T/routes.log"; fail "routes and document differ"; }
pb_log "$(cat "$T/routes.log")"

# The validator: PB_OAS_VALIDATOR, else a copy cached in /var/tmp (npm).
V=${PB_OAS_VALIDATOR:-}
if [ -z "$V" ]; then
	cache=${PB_OAS_CACHE:-/var/tmp/packetbroker-oas-$OAS_VALIDATOR_VERSION}
	V=$cache/node_modules/.bin/validate-api
	if [ ! -x "$V" ]; then
		command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 ||
		    skip "npm and node needed for the OpenAPI validator"
		mkdir -p "$cache"
		timeout 300 npm install --silent --no-audit --no-fund --prefix "$cache" \
		    "@seriousme/openapi-schema-validator@$OAS_VALIDATOR_VERSION" >"$T/npm.log" 2>&1 ||
		    skip "cannot install the OpenAPI validator: $(tail -n 3 "$T/npm.log")"
	fi
fi
[ -x "$V" ] || fail "validator $V missing"

valid() { "$V" "$1" 2>&1 | tee "$T/validate.log" | grep -q '"valid": true'; }
valid "$SPEC" || { cat "$T/validate.log"; fail "schema/openapi.yaml is not a valid OpenAPI 3.1 document"; }
grep -q '^openapi: 3\.1\.' "$SPEC" || fail "not an OpenAPI 3.1 document"

# Defects the validator must find: an unknown top-level key, a response
# without its description, a wrong type.
sed 's/^openapi: 3.1.0/openapi: 3.1.0\nbogus: 1/' "$SPEC" >"$T/bad1.yaml"
sed '0,/description: The node.s status\./s///' "$SPEC" >"$T/bad2.yaml"
sed 's/operationId: getStatus/operationId: [getStatus]/' "$SPEC" >"$T/bad3.yaml"
for b in bad1 bad2 bad3; do
	cmp -s "$SPEC" "$T/$b.yaml" && fail "$b: the edit did not apply"
	valid "$T/$b.yaml" && fail "$b.yaml passed validation"
done
pass "valid OpenAPI $(sed -n 's/^openapi: //p' "$SPEC"), $(grep -c 'operationId:' "$SPEC") operations"
