// The fixture of the HTTP/2 black-box tests (h2_test.cc, h2_routes_test.cc,
// h2_hostile_test.cc): the real notifyd binary with TLS on its HTTP
// listener from a throwaway CA, every port 0, the dev identity and no open
// rate limit; a gRPC stub over TLS (same CA) to publish with.
#ifndef NOTIFYD_TESTS_EDGE_H2_TEST_H_
#define NOTIFYD_TESTS_EDGE_H2_TEST_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "notify/v1/notify.grpc.pb.h"
#include "tests/edge/h2_client.h"
#include "tests/server/notifyd_binary.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"

namespace notifyd {

class H2Test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ca_.ok()) << ca_.error(); }

  // Starts notifyd with TLS on the HTTP listener and `extra` flags.
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--tls_cert=" + ca_.server_cert(), "--tls_key=" + ca_.server_key(),
        "--insecure_dev_identity", "--synchronous=normal",
        "--stream_open_rate=0"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<NotifydBinary>(dir_.path(), args);
    auto ports = server_->WaitForPorts();
    ASSERT_TRUE(ports.has_value());
    ports_ = *ports;
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = testing::TestCa::Read(ca_.ca_cert());
    stub_ = pb::Notifier::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", ports_.grpc), grpc::SslCredentials(tls)));
  }

  uint64_t Publish(const std::string& channel, const std::string& data) {
    pb::PublishRequest request;
    request.set_channel(channel);
    request.set_event("notification");
    request.set_data(data);
    pb::PublishResponse response;
    grpc::ClientContext context;
    grpc::Status s = stub_->Publish(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.notification().id();
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("https://127.0.0.1:", ports_.http, path);
  }

  // The server still answers a fresh HTTP/2 connection.
  void ExpectServing() {
    edge::testing::H2Client c(ports_.http, ca_.ca_cert());
    ASSERT_TRUE(c.ok()) << c.error();
    int32_t id = c.Get("/healthz");
    ASSERT_TRUE(c.RunUntil([&] { return c.stream(id).closed; },
                           std::chrono::seconds(5)));
    EXPECT_EQ(c.stream(id).status, 200);
    EXPECT_EQ(c.stream(id).body, "ok\n");
  }

  testing::TestCa ca_;
  testing::TempDir dir_;
  std::unique_ptr<NotifydBinary> server_;
  testing::Ports ports_;
  std::unique_ptr<pb::Notifier::Stub> stub_;
};

}  // namespace notifyd

#endif  // NOTIFYD_TESTS_EDGE_H2_TEST_H_
