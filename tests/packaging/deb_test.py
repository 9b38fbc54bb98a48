#!/usr/bin/python3
"""The Debian package as `make deb` builds it (CPack, packaging/), checked
the way an operator would meet it, without installing it on this machine:

- lintian reports no errors;
- its control data: the conffile /etc/notifyd/notifyd.flags, maintainer
  scripts that add the notifyd system user, the dependencies they need;
- unpacked (`dpkg -x`) into a scratch root: the binaries run from there
  (`--help`, and a real start from the shipped flags file, then SIGTERM),
  the man pages list the flags, the unit file passes
  `systemd-analyze verify` and scores "OK" in `systemd-analyze security`;
- `cmake --install` into another prefix points the unit at that prefix;
- the notifyd_* series docs/prometheus-alerts.yml alerts on are in the
  README's metrics table, and a running notifyd exposes the ones a default
  setup has (the bus ones need --bus=redis://).

Usage: deb_test.py <build dir> <source dir>
"""
import glob
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "support"))
from notifyd_process import running_notifyd  # noqa: E402

BUILD, SOURCE = sys.argv[1], sys.argv[2]
del sys.argv[1:3]


def help_of(binary):
    """What `binary --help` prints (absl exits with 1 after it)."""
    return subprocess.run([binary, "--help"], capture_output=True, text=True,
                          timeout=60).stdout


def run(*command, **kwargs):
    """Runs a command to completion; fails the test on a nonzero exit."""
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=300, **kwargs)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout


class DebianPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.mkdtemp(prefix="notifyd-deb-")
        run("cpack", "-G", "DEB", "--config",
            os.path.join(BUILD, "CPackConfig.cmake"),
            "-B", os.path.join(cls.scratch, "out"))
        debs = glob.glob(os.path.join(cls.scratch, "out", "notifyd_*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]
        cls.root = os.path.join(cls.scratch, "root")
        run("dpkg-deb", "-x", cls.deb, cls.root)
        cls.control = os.path.join(cls.scratch, "control")
        run("dpkg-deb", "-e", cls.deb, cls.control)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.scratch)

    def test_lintian_reports_no_errors(self):
        if not shutil.which("lintian"):
            self.fail("lintian is missing: make test-setup installs it")
        done = subprocess.run(
            ["lintian", "--fail-on", "error", "--tag-display-limit", "0",
             self.deb], capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertNotRegex(done.stdout, r"(?m)^E: ")

    def test_control_data(self):
        fields = run("dpkg-deb", "-f", self.deb)
        self.assertRegex(fields, r"(?m)^Package: notifyd$")
        depends = re.search(r"(?m)^Depends: (.*)$", fields).group(1)
        # The maintainer scripts call adduser; the binaries need libsystemd
        # (sd_notify), found by dpkg-shlibdeps.
        self.assertIn("adduser", depends)
        self.assertIn("libsystemd0", depends)
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/notifyd/notifyd.flags"])
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("adduser --system", postinst)
        self.assertIn("/var/lib/notifyd", postinst)
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(self.control, script)
            self.assertTrue(os.access(path, os.X_OK), script)
            run("sh", "-n", path)

    def test_files(self):
        listing = run("dpkg-deb", "-c", self.deb)
        paths = {line.split()[-1] for line in listing.splitlines()}
        for path in ["./usr/bin/notifyd", "./usr/bin/notifyctl",
                     "./usr/lib/systemd/system/notifyd.service",
                     "./etc/notifyd/notifyd.flags",
                     "./usr/share/man/man8/notifyd.8.gz",
                     "./usr/share/man/man1/notifyctl.1.gz",
                     "./usr/share/doc/notifyd/README.md",
                     "./usr/share/doc/notifyd/copyright",
                     "./usr/share/doc/notifyd/changelog.gz",
                     "./usr/share/doc/notifyd/examples/prometheus-alerts.yml"]:
            self.assertIn(path, paths)
        # The changelog's newest entry is this version.
        version = re.search(r"(?m)^Version: (.*)$",
                            run("dpkg-deb", "-f", self.deb)).group(1)
        with gzip.open(os.path.join(
                self.root, "usr/share/doc/notifyd/changelog.gz"), "rt") as f:
            self.assertTrue(f.readline().startswith(f"notifyd ({version})"))

    def test_installed_binaries_run(self):
        notifyd = os.path.join(self.root, "usr/bin/notifyd")
        help_text = help_of(notifyd)
        for flag in ("--grpc_listen", "--http_listen", "--admin_listen",
                     "--db"):
            self.assertIn(flag, help_text)
        self.assertIn("notifyctl notify",
                      help_of(os.path.join(self.root, "usr/bin/notifyctl")))
        # A real start from the shipped flags file, with the store, ports
        # and token secret moved into a temporary directory.
        with tempfile.TemporaryDirectory() as tmp:
            key = os.path.join(tmp, "token.key")
            with open(key, "w") as f:
                f.write("k" * 64)
            flags = os.path.join(self.root, "etc/notifyd/notifyd.flags")
            with running_notifyd(notifyd, tmp, f"--token_key_file={key}",
                                 flagfile=flags) as ports:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{ports['admin_port']}/readyz",
                        timeout=10) as response:
                    self.assertEqual(response.status, 200)
            self.assertTrue(os.path.exists(os.path.join(tmp, "notify.db")))

    def test_man_pages_list_every_flag(self):
        help_text = help_of(os.path.join(self.root, "usr/bin/notifyd"))
        flags = re.findall(r"(?m)^    --(\w+) ", help_text)
        self.assertGreater(len(flags), 20)
        with gzip.open(os.path.join(
                self.root, "usr/share/man/man8/notifyd.8.gz"), "rt") as f:
            page = f.read()
        for flag in flags:
            self.assertIn(r"\fB\-\-" + flag.replace("-", r"\-") + r"\fR",
                          page)
        # It renders without a warning.
        if shutil.which("man"):
            done = subprocess.run(
                ["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z",
                 os.path.join(self.root, "usr/share/man/man8/notifyd.8.gz")],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(done.stderr, "")

    def test_unit_passes_systemd_analyze_verify(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is missing (Debian's systemd)")
        with open(os.path.join(
                self.root, "usr/lib/systemd/system/notifyd.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/bin/notifyd "
                      "--flagfile=/etc/notifyd/notifyd.flags", unit)
        for setting in ("Type=notify", "User=notifyd",
                        "StateDirectory=notifyd", "ProtectSystem=strict",
                        "NoNewPrivileges=yes", "LimitNOFILE=", "WatchdogSec=",
                        "Restart=on-failure"):
            self.assertIn(setting, unit)
        # verify checks that ExecStart's binary exists: point it at the
        # unpacked one, and man at the unpacked pages.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "notifyd.service")
            with open(path, "w") as f:
                f.write(unit.replace("ExecStart=/usr/bin/notifyd",
                                     f"ExecStart={self.root}/usr/bin/notifyd"))
            env = dict(os.environ,
                       MANPATH=os.path.join(self.root, "usr/share/man"))
            done = subprocess.run(["systemd-analyze", "verify", path],
                                  capture_output=True, text=True, env=env,
                                  timeout=120)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            self.assertNotIn("notifyd.service", done.stderr)
            # The sandbox keeps systemd's exposure score at 2.0 or below
            # ("OK"; 10 is an unsandboxed service).
            done = subprocess.run(
                ["systemd-analyze", "security", "--offline=yes",
                 "--threshold=20", path],
                capture_output=True, text=True, timeout=120)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_cmake_install_points_the_unit_at_its_prefix(self):
        with tempfile.TemporaryDirectory() as destdir:
            run("cmake", "--install", BUILD, "--prefix", "/opt/notifyd",
                env=dict(os.environ, DESTDIR=destdir))
            self.assertTrue(os.access(
                os.path.join(destdir, "opt/notifyd/bin/notifyd"), os.X_OK))
            with open(os.path.join(
                    destdir,
                    "opt/notifyd/lib/systemd/system/notifyd.service")) as f:
                self.assertIn("ExecStart=/opt/notifyd/bin/notifyd ", f.read())
            self.assertTrue(os.path.exists(
                os.path.join(destdir, "etc/notifyd/notifyd.flags")))

    def test_alert_rules_use_series_that_exist(self):
        with open(os.path.join(SOURCE, "docs/prometheus-alerts.yml")) as f:
            rules = f.read()
        names = set(re.findall(r"\bnotifyd_\w+", rules))
        self.assertGreater(len(names), 5)
        with open(os.path.join(SOURCE, "README.md")) as f:
            readme = f.read()
        notifyd = os.path.join(self.root, "usr/bin/notifyd")
        notifyctl = os.path.join(self.root, "usr/bin/notifyctl")
        with tempfile.TemporaryDirectory() as tmp:
            with running_notifyd(notifyd, tmp) as ports:
                # A call, so that the gRPC call counters have a series.
                run(notifyctl, f"--server=127.0.0.1:{ports['grpc_port']}",
                    "notify", "alice", "hello")
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{ports['admin_port']}/metrics",
                        timeout=10) as response:
                    exposed = response.read().decode()
        for name in names:
            # Histograms are documented by their base name.
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            self.assertIn(f"`{base}", readme, name)
            if not name.startswith("notifyd_bus_"):
                self.assertRegex(exposed, rf"(?m)^# TYPE {base} ", name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
