"""Run one Swift WSGI server (proxy, account, container or object) in the foreground for tests/storage/swift.sh.

    python3 swift_server.py SWIFT_DIR CONF SECTION

Swift's servers read swift.conf (hash path suffix, storage policies) from a path fixed at import
(/etc/swift/swift.conf); set_swift_dir() points them at SWIFT_DIR/swift.conf instead, so every piece of a
test cluster's state lives under its own directory and the host's /etc/swift is never read. verbose=True
sends the server's log to stderr, which swift.sh redirects into the cluster's log directory.
"""

import sys

from swift.common import utils
from swift.common.wsgi import run_wsgi


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: swift_server.py SWIFT_DIR CONF SECTION", file=sys.stderr)
        return 2
    swift_dir, conf, section = sys.argv[1:]
    utils.set_swift_dir(swift_dir)
    return run_wsgi(conf, section, verbose=True)


if __name__ == "__main__":
    sys.exit(main())
