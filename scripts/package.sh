#!/usr/bin/env bash
# The Debian package: install what building needs, configure a release build for /usr in
# build-deb/, build it and let CPack write build-deb/zfnet_VERSION_amd64.deb (its library
# dependencies found by dpkg-shlibdeps). Install it with
#   sudo apt-get install ./build-deb/zfnet_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --package
cmake -S . -B build-deb -G Ninja -DZF_WERROR=ON -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_PREFIX=/usr -DZF_PYTHON_DIR=lib/python3/dist-packages >/dev/null
ninja -C build-deb
(cd build-deb && cpack -G DEB >/dev/null)
deb=$(ls build-deb/zfnet_*.deb)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Package Version Architecture Depends Recommends
