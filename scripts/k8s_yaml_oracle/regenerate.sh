#!/bin/sh
# Regenerate tests/sources/yaml_corpus/{cases.json,expected.json}: the corpus, then what Kubernetes'
# YAML decoding (sigs.k8s.io/yaml YAMLToJSON) makes of each case. See tests/sources/yaml_corpus/README.md.
#
# Go source of sigs.k8s.io/yaml, either of:
#   - Debian/Ubuntu packages (offline): apt-get install golang-go golang-k8s-sigs-yaml-dev golang-gopkg-yaml.v2-dev
#     (sigs.k8s.io/yaml 1.3.0 + gopkg.in/yaml.v2 2.4.0: the same YAMLToJSON and go-yaml code as v1.4.0)
#   - the Go module proxy: go.mod here pins sigs.k8s.io/yaml v1.4.0 (set ORACLE_MODULES=1)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus="$root/tests/sources/yaml_corpus"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3

"$python" "$here/gen_cases.py"
cd "$here"
export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/k8s-yaml-oracle-gocache}"
if [ -z "${ORACLE_MODULES:-}" ] && [ -d /usr/share/gocode/src/sigs.k8s.io/yaml ]; then
    label="sigs.k8s.io/yaml $(dpkg-query -W -f '${Version}' golang-k8s-sigs-yaml-dev) + gopkg.in/yaml.v2 $(dpkg-query -W -f '${Version}' golang-gopkg-yaml.v2-dev) (Debian), $(go version | cut -d' ' -f3)"
    GO111MODULE=off GOPATH=/usr/share/gocode go run . "$corpus" "$label" > "$corpus/expected.json.tmp"
else
    label="sigs.k8s.io/yaml v1.4.0 (Go modules), $(go version | cut -d' ' -f3)"
    GO111MODULE=on go run . "$corpus" "$label" > "$corpus/expected.json.tmp"
fi
mv "$corpus/expected.json.tmp" "$corpus/expected.json"
echo "wrote $corpus/expected.json ($label)" >&2
