#!/usr/bin/env bash
# Rebuilds playground/assets/ from the npm releases pinned in versions.go.
#
# For maintainers only: it needs node, npm and the npm registry. CI and the Go
# tests never run it; they use the committed output. Usage:
#
#   bash playground/update-assets.sh
#
# GraphiQL 5 ships as ES modules built on monaco, so it is bundled here with
# esbuild into one page script (plus lazily loaded chunks), one stylesheet and
# the three monaco web workers. Every file name carries a content hash, which
# is what lets the server mark them immutable. Files are stored gzipped to keep
# the repository and the binary small; the server serves them compressed as is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/assets"

# version NAME prints the value of the Go constant NAME from versions.go, so
# the Go code and this script cannot disagree about what is pinned.
version() {
	local v
	v="$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$here/versions.go")"
	if [[ -z "$v" ]]; then
		echo "update-assets: constant $1 not found in versions.go" >&2
		exit 1
	fi
	printf '%s' "$v"
}

graphiql="$(version GraphiQLVersion)"
graphiql_react="$(version GraphiQLReactVersion)"
toolkit="$(version GraphiQLToolkitVersion)"
react="$(version ReactVersion)"
graphql="$(version GraphQLJSVersion)"
monaco="$(version MonacoEditorVersion)"
monaco_graphql="$(version MonacoGraphQLVersion)"
esbuild="$(version esbuildVersion)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# overrides pin the transitive packages that matter most for behaviour, so a
# new patch release of @graphiql/react or monaco cannot slip into the bundle.
cat >package.json <<JSON
{
  "name": "graphiql-playground-build",
  "private": true,
  "dependencies": {
    "graphiql": "$graphiql",
    "@graphiql/react": "$graphiql_react",
    "@graphiql/toolkit": "$toolkit",
    "react": "$react",
    "react-dom": "$react",
    "graphql": "$graphql",
    "monaco-editor": "$monaco",
    "monaco-graphql": "$monaco_graphql",
    "esbuild": "$esbuild"
  },
  "overrides": {
    "@graphiql/react": "$graphiql_react",
    "@graphiql/toolkit": "$toolkit",
    "react": "$react",
    "react-dom": "$react",
    "graphql": "$graphql",
    "monaco-editor": "$monaco",
    "monaco-graphql": "$monaco_graphql"
  }
}
JSON
# esbuild's binary comes from its per-platform optional dependency, so no
# install scripts need to run.
npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null

cp "$here/bootstrap.js" ./bootstrap.js
esb=./node_modules/.bin/esbuild
common=(--bundle --minify --legal-comments=none --log-level=warning
	--define:process.env.NODE_ENV='"production"')

rm -rf dist
# The page script. Monaco's modules import their own CSS, which style.css
# below already contains, so those imports are dropped (--loader:.css=empty).
# Splitting keeps rarely used code (prettier, loaded on "prettify") in chunks
# fetched on demand, relative to the entry's own URL.
"$esb" "graphiql-$graphiql=./bootstrap.js" "${common[@]}" \
	--format=esm --splitting --target=es2020 --loader:.css=empty \
	--entry-names='[name]-[hash]' --chunk-names='chunks/[name]-[hash]' \
	--outdir=dist --metafile=meta-js.json
"$esb" "graphiql-$graphiql=./node_modules/graphiql/dist/style.css" "${common[@]}" \
	--loader:.ttf=dataurl --loader:.woff2=dataurl \
	--entry-names='[name]-[hash]' --outdir=dist --metafile=meta-css.json
# Classic (non-module) workers: every browser supports them and they need no
# module loading inside the worker.
"$esb" \
	"editor.worker-$monaco=./node_modules/monaco-editor/esm/vs/editor/editor.worker.js" \
	"json.worker-$monaco=./node_modules/monaco-editor/esm/vs/language/json/json.worker.js" \
	"graphql.worker-$monaco_graphql=./node_modules/monaco-graphql/esm/graphql.worker.js" \
	"${common[@]}" --format=iife --target=es2020 \
	--entry-names='[name]-[hash]' --outdir=dist --metafile=meta-workers.json

# The manifest tells the Go server which hashed file plays which role, and the
# license file covers every package that ended up in a bundle.
node - "$graphiql" "$here/LICENSES" <<'JS'
const fs = require('fs');
const path = require('path');
const [version, licensesOut] = process.argv.slice(2);
const metas = ['meta-js.json', 'meta-css.json', 'meta-workers.json'].map((f) =>
  JSON.parse(fs.readFileSync(f, 'utf8')),
);
const manifest = { graphiql: version, script: '', style: '', workers: {} };
const packages = new Map();
for (const meta of metas) {
  for (const [file, info] of Object.entries(meta.outputs)) {
    if (file.endsWith('.map')) continue;
    const rel = path.relative('dist', file);
    const entry = info.entryPoint || '';
    if (entry.endsWith('bootstrap.js')) manifest.script = rel;
    else if (entry.endsWith('style.css')) manifest.style = rel;
    else if (entry.endsWith('editor.worker.js')) manifest.workers.editor = rel;
    else if (entry.endsWith('json.worker.js')) manifest.workers.json = rel;
    else if (entry.endsWith('graphql.worker.js')) manifest.workers.graphql = rel;
    for (const input of Object.keys(info.inputs || {})) {
      const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
      if (m) packages.set(m[1], true);
    }
  }
}
for (const key of ['script', 'style']) {
  if (!manifest[key]) throw new Error(`no ${key} in esbuild output`);
}
for (const key of ['editor', 'json', 'graphql']) {
  if (!manifest.workers[key]) throw new Error(`no ${key} worker in esbuild output`);
}
fs.writeFileSync('dist/manifest.json', JSON.stringify(manifest, null, 2) + '\n');

let text =
  'Licenses of the npm packages bundled into playground/assets/.\n' +
  'Generated by update-assets.sh; do not edit.\n';
for (const name of [...packages.keys()].sort()) {
  const dir = path.join('node_modules', name);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const licenseFile = fs
    .readdirSync(dir)
    .find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  text += `\n${'='.repeat(78)}\n${name}@${pkg.version} (${pkg.license || 'see below'})\n${'='.repeat(78)}\n\n`;
  text += licenseFile
    ? fs.readFileSync(path.join(dir, licenseFile), 'utf8').trim() + '\n'
    : `No license file shipped; package.json declares: ${pkg.license}\n`;
}
fs.writeFileSync(licensesOut, text);
JS

rm -rf "$out"
mkdir -p "$out"
# -n leaves the name and timestamp out of the gzip header so rebuilding the
# same versions yields byte-identical files.
(cd dist && find . -type f \( -name '*.js' -o -name '*.css' \) -print0 |
	while IFS= read -r -d '' f; do
		mkdir -p "$out/$(dirname "$f")"
		gzip -9 -n -c "$f" >"$out/$f.gz"
	done)
cp dist/manifest.json "$out/manifest.json"

echo "update-assets: GraphiQL $graphiql written to $out"
du -ab "$out" | sort -n | tail -n 20
