"""The commands a README section shows, for tests that run them as printed.

A section is the lines under its `### ` title up to the next `## ` or `### `
title. Its commands are the lines of its ```sh blocks that the caller's
predicate picks (a line ending in a backslash goes on with the next); a
command's expected output is the `#` comment lines right under it (no blank
line between), each to match a line of the output in full, in order, `...`
standing for anything (expect_lines)."""
import re


class Command:
    """One command of the README and the output printed under it."""

    def __init__(self, text, expected):
        self.text = text
        self.expected = expected

    def __repr__(self):
        return self.text


def section_lines(readme, title):
    """(index of the title line, the section's lines below it)."""
    lines = readme.split("\n")
    start = lines.index(title)
    section = []
    for line in lines[start + 1:]:
        if line.startswith("## ") or line.startswith("### "):
            break
        section.append(line)
    return start, section


def section_commands(readme, title, is_command):
    """The commands of the section's ```sh blocks, in order."""
    _, section = section_lines(readme, title)
    commands, in_block, i = [], False, 0
    while i < len(section):
        line = section[i]
        i += 1
        if line.startswith("```"):
            in_block = line == "```sh"
            continue
        if not in_block or not is_command(line):
            continue
        text = line
        while text.endswith("\\"):
            text = text[:-1] + " " + section[i].strip()
            i += 1
        expected = []
        while i < len(section) and section[i].startswith("#"):
            expected.append(section[i][2:])
            i += 1
        commands.append(Command(text, expected))
    assert commands, f"no command under {title}"
    return commands


def expect_lines(command, lines):
    """Every expected line of `command` matches one of `lines`, in order."""
    at = 0
    for expected in command.expected:
        pattern = re.compile(".*".join(re.escape(p)
                                       for p in expected.split("...")) + "$")
        while at < len(lines) and not pattern.match(lines[at]):
            at += 1
        assert at < len(lines), (
            f"{command.text}\n  expected line {expected!r} not found in "
            f"(in order):\n" + "\n".join(lines))
        at += 1
