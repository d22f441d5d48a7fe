#!/usr/bin/env bash
# Fetches the JUnit XML schema that Jenkins' xUnit plugin validates reports with (junit-10.xsd,
# MIT licence, by Gregory Boissinot) and checks its digest. pytest's source distribution ships
# that very file to validate its own JUnit output, so it comes from the package registry this
# machine reaches; nothing of it is kept in this repository.
#
#   ci/junit-xsd.sh DEST        (then: HARNESS_JUNIT_XSD=DEST cargo test -p harness --test junit)
set -euo pipefail
dest=${1:?usage: ci/junit-xsd.sh DEST}
digest=a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6
if [ -f "$dest" ] && echo "$digest  $dest" | sha256sum -c --quiet 2>/dev/null; then
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: 'pytest==8.3.3' -d "$tmp"
member=pytest-8.3.3/testing/example_scripts/junit-10.xsd
tar xzf "$tmp/pytest-8.3.3.tar.gz" -C "$tmp" "$member"
echo "$digest  $tmp/$member" | sha256sum -c --quiet
mkdir -p "$(dirname "$dest")"
cp "$tmp/$member" "$dest"
