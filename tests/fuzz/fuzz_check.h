// FUZZ_CHECK: a property every input must satisfy. A failure prints the
// property and aborts, which libFuzzer reports as a crash (and keeps the
// input), exactly like a sanitizer finding.
#ifndef NOTIFYD_TESTS_FUZZ_FUZZ_CHECK_H_
#define NOTIFYD_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

#endif  // NOTIFYD_TESTS_FUZZ_FUZZ_CHECK_H_
