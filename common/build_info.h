// What this binary is: the project's version (project() in CMakeLists.txt)
// and the git commit its build tree was configured from, or "unknown" when
// the source is not a git checkout (a release tarball). The definitions are
// generated into the build tree (common/build_info.cc.in); CMake configures
// again after each commit, so the commit follows the checkout.
// Shown by `notifyd --version` and as notifyd_build_info{version,commit}.
#ifndef NOTIFYD_COMMON_BUILD_INFO_H_
#define NOTIFYD_COMMON_BUILD_INFO_H_

namespace notifyd {

extern const char kBuildVersion[];  // "0.1.0"
extern const char kBuildCommit[];   // 12 hex digits, or "unknown"

}  // namespace notifyd

#endif  // NOTIFYD_COMMON_BUILD_INFO_H_
