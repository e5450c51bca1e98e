#!/usr/bin/env bash
# Refresh the screen's pinned browser libraries from npm (run by hand when bumping a version;
# the files it writes are committed, so the screen works offline and never touches a CDN).
#
#   frontend_stub/vendor/refresh.sh
#
# Needs npm. Each library is fetched as its published tarball (`npm pack`), and only the
# browser build plus its licence are kept.
set -euo pipefail

ECHARTS_VERSION=6.1.0
GRAPHQL_WS_VERSION=6.4.2

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

npm pack --silent "echarts@${ECHARTS_VERSION}" >/dev/null
npm pack --silent "graphql-ws@${GRAPHQL_WS_VERSION}" >/dev/null

mkdir echarts graphql-ws
tar -xzf "echarts-${ECHARTS_VERSION}.tgz" -C echarts --strip-components=1
tar -xzf "graphql-ws-${GRAPHQL_WS_VERSION}.tgz" -C graphql-ws --strip-components=1

# ECharts: the full minified UMD build (defines window.echarts).
cp echarts/dist/echarts.min.js "$here/echarts.min.js"
cp echarts/LICENSE "$here/echarts.LICENSE"
cp echarts/NOTICE "$here/echarts.NOTICE"

# graphql-ws ships a browser UMD build (defines window.graphqlWs): no bundling needed.
cp graphql-ws/umd/graphql-ws.min.js "$here/graphql-ws.min.js"
cp graphql-ws/LICENSE.md "$here/graphql-ws.LICENSE.md"

cat >"$here/VERSIONS" <<VERSIONS
echarts ${ECHARTS_VERSION} (npm: dist/echarts.min.js, LICENSE, NOTICE)
graphql-ws ${GRAPHQL_WS_VERSION} (npm: umd/graphql-ws.min.js, LICENSE.md)
VERSIONS
echo "vendor refreshed: echarts ${ECHARTS_VERSION}, graphql-ws ${GRAPHQL_WS_VERSION}"
