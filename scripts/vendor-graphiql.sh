#!/usr/bin/env bash
# Refresh the GraphiQL page's assets served from the package (ncm/static/graphiql), so the IDE
# works offline. The versions are the ones Strawberry's graphiql.html names; bump them together
# with Strawberry. Needs npm (the registry only); run from the repository root.
set -euo pipefail
dest="ncm/static/graphiql"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=(react@18.2.0 react-dom@18.2.0 js-cookie@3.0.5 graphiql@3.8.3 @graphiql/plugin-explorer@1.0.2)
(cd "$work" && for p in "${packages[@]}"; do npm pack --silent "$p" >/dev/null; done)
for tgz in "$work"/*.tgz; do
  name=$(basename "$tgz" .tgz)
  mkdir -p "$work/$name" && tar xzf "$tgz" -C "$work/$name"
done
rm -rf "$dest" && mkdir -p "$dest"
cp "$work"/react-18.2.0/package/umd/react.production.min.js "$dest/"
cp "$work"/react-dom-18.2.0/package/umd/react-dom.production.min.js "$dest/"
cp "$work"/js-cookie-3.0.5/package/dist/js.cookie.min.js "$dest/"
cp "$work"/graphiql-3.8.3/package/graphiql.min.js "$work"/graphiql-3.8.3/package/graphiql.min.css "$dest/"
cp "$work"/graphiql-plugin-explorer-1.0.2/package/dist/index.umd.js "$dest/plugin-explorer.umd.js"
cp "$work"/graphiql-plugin-explorer-1.0.2/package/dist/style.css "$dest/plugin-explorer.css"
{
  echo "Third-party files in this folder, as published on the npm registry:"
  for p in "${packages[@]}"; do echo "  $p"; done
  echo
  for name in react-18.2.0 react-dom-18.2.0 js-cookie-3.0.5 graphiql-3.8.3; do
    echo "==== $name ===="
    cat "$work/$name/package/LICENSE"
    echo
  done
  echo "==== @graphiql/plugin-explorer 1.0.2 ===="
  echo "License: $(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["license"])' \
    "$work/graphiql-plugin-explorer-1.0.2/package/package.json") (the package ships no LICENSE file;"
  echo "its license is the GraphiQL monorepo's, reproduced above under graphiql-3.8.3)."
} >"$dest/LICENSES.txt"
echo "vendored into $dest:" && ls -l "$dest"
