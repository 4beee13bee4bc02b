#!/bin/sh
# demo.sh BUILD_DIR: the quick-start demo.
echo "vfio-migd demo: the daemons and the CLI land with the migration issue;"
echo "this build has the wire protocol, the software device and the v1 driver,"
echo "exercised by ./dev.sh test."
exit 0
