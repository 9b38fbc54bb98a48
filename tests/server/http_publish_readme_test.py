#!/usr/bin/python3
"""Every curl command in README.md's "Publishing over HTTP" works as printed.

Reads the section, starts a fresh notifyd and runs each command of its ```sh
blocks (tests/support/readme_commands.py), in order, with bash and the real
curl, the README's admin address replaced by the one notifyd bound and
nothing else changed. Each command must succeed and print the `#` lines
under it, in order (`...` matching anything). A section with no curl
command fails the test: the README and the server cannot drift apart.

Usage: http_publish_readme_test.py <notifyd binary> <README.md>
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
from notifyd_process import running_notifyd  # noqa: E402
from readme_commands import expect_lines, section_commands  # noqa: E402

SECTION = "### Publishing over HTTP"
README_ADDRESS = "127.0.0.1:8081"


def main():
    notifyd, readme_path = sys.argv[1], sys.argv[2]
    assert shutil.which("curl"), "curl missing: `make test` installs it"
    commands = section_commands(open(readme_path).read(), SECTION,
                                lambda line: "curl " in line)
    with tempfile.TemporaryDirectory() as tmp:
        with running_notifyd(notifyd, tmp) as ports:
            address = f"127.0.0.1:{ports['admin_port']}"
            for command in commands:
                assert README_ADDRESS in command.text, command
                done = subprocess.run(
                    ["/bin/bash", "-c",
                     command.text.replace(README_ADDRESS, address)],
                    capture_output=True, text=True, timeout=30)
                assert done.returncode == 0, (command, done.stderr)
                expect_lines(command, done.stdout.rstrip("\n").split("\n"))
                print("ok:", command.text)


if __name__ == "__main__":
    main()
