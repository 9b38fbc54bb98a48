// The fixture of the EdgeServer end-to-end tests (edge_stream_test.cc,
// edge_limits_test.cc, edge_routes_test.cc, edge_tls_test.cc): the shared
// fixture (edge_server_fixture.h) with the dev identity, a 30 s heartbeat
// and one allowed origin, plus how those tests read a stream.
#ifndef NOTIFYD_TESTS_EDGE_EDGE_SERVER_TEST_H_
#define NOTIFYD_TESTS_EDGE_EDGE_SERVER_TEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/edge/edge_server_fixture.h"
#include "tests/edge/sse_client.h"

namespace notifyd::edge::testing {

class EdgeServerTest : public ::notifyd::edge::testing::EdgeServerFixture {
 protected:
  EdgeServerTest() {
    options_.insecure_dev_identity = true;
    options_.heartbeat = absl::Seconds(30);
    options_.cors_origins = {"https://app.example"};
  }

  // Reads events until one with `id`; returns the ids seen (in order).
  std::vector<uint64_t> ReadIdsThrough(SseClient& c, uint64_t last) {
    std::vector<uint64_t> ids;
    while (true) {
      std::optional<SseMessage> m = c.NextEvent();
      if (!m || !m->has_id) break;
      ids.push_back(std::stoull(m->id));
      if (ids.back() >= last) break;
    }
    return ids;
  }
};

}  // namespace notifyd::edge::testing

#endif  // NOTIFYD_TESTS_EDGE_EDGE_SERVER_TEST_H_
