"""A supervisord event listener that appends every PROCESS_STATE event to a file.

Used as the oracle's eyes: supervisord's own account of each transition.
"""

import sys
import time


def main(path: str) -> None:
    with open(path, "a") as out:
        while True:
            sys.stdout.write("READY\n")
            sys.stdout.flush()
            header = dict(token.split(":", 1) for token in sys.stdin.readline().split())
            payload = sys.stdin.read(int(header["len"]))
            fields = dict(token.split(":", 1) for token in payload.split("\n", 1)[0].split())
            state = header["eventname"].removeprefix("PROCESS_STATE_")
            out.write(f"{time.time():.6f} {fields['processname']} {state}\n")
            out.flush()
            sys.stdout.write("RESULT 2\nOK")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
