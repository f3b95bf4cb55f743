"""The least a Python ownership check can do: lstat every entry under ROOT (same filesystem, no
links followed) and stop at the first one not owned by USER. Exit 1 if it found one, else 0.

A start-cost reference for `python3 -m benchmarks`: how much of the feature's entrypoint time is
the walk itself (Python start and lstat per entry) rather than uv-user's own code.
Usage: python3 -E -s -S walk.py ROOT USER
"""

import os
import pwd
import stat
import sys


def main() -> int:
    root, user = sys.argv[1], pwd.getpwnam(sys.argv[2])
    uid, gid = user.pw_uid, user.pw_gid
    top = os.lstat(root)
    if top.st_uid != uid or top.st_gid != gid:
        return 1
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                if st.st_dev != top.st_dev:
                    continue
                if st.st_uid != uid or st.st_gid != gid:
                    return 1
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
