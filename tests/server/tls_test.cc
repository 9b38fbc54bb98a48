// TLS and mutual TLS on the gRPC listener, against a CA made for the test:
// a client trusting the CA gets through, plaintext and untrusting clients
// do not; with a client CA, only clients holding a certificate it signed
// get through. Also: unusable files are refused naming them, and the
// non-loopback startup rule accepts mutual TLS or API keys. With TLS and
// API keys, calls without a valid key are refused at their metadata, before
// any message (api/auth_processor.h), and health and reflection stay open.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "notify/v1/notify.grpc.pb.h"
#include "server/app.h"
#include "tests/server/test_ca.h"
#include "tests/server/test_server.h"

namespace notifyd {
namespace {

namespace pb = ::notify::v1;
using ::testing::HasSubstr;
using testing::TestCa;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ca_.ok()) << ca_.error(); }

  // Starts a server with TLS, and mutual TLS when `mutual`; with API keys
  // from `api_keys_file` when not empty.
  std::unique_ptr<server::App> StartServer(
      bool mutual, const std::string& api_keys_file = "") {
    server::AppOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.enable_edge = false;
    options.admin_listen = "";  // no admin listener: tests run in parallel
    options.synchronous_full = false;
    options.db = (dir_.path() / "notify.db").string();
    options.tls_cert_file = ca_.server_cert();
    options.tls_key_file = ca_.server_key();
    if (mutual) options.tls_client_ca_file = ca_.ca_cert();
    options.api_keys_file = api_keys_file;
    auto app = server::App::Start(options);
    EXPECT_TRUE(app.ok()) << app.status();
    return app.ok() ? *std::move(app) : nullptr;
  }

  // One NotifyUser call over `credentials`.
  grpc::Status Call(server::App& app,
                    std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = pb::Notifier::NewStub(
        grpc::CreateChannel(app.grpc_target(), credentials));
    return testing::NotifyUser(*stub, "alice", "over tls");
  }

  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca,
                                                const std::string& cert = "",
                                                const std::string& key = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = TestCa::Read(ca);
    if (!cert.empty()) {
      options.pem_cert_chain = TestCa::Read(cert);
      options.pem_private_key = TestCa::Read(key);
    }
    return grpc::SslCredentials(options);
  }

  TestCa ca_;
  testing::TempDir dir_;
};

TEST_F(TlsTest, ClientTrustingTheCaGetsThrough) {
  auto app = StartServer(/*mutual=*/false);
  ASSERT_NE(app, nullptr);
  grpc::Status status = Call(*app, Tls(ca_.ca_cert()));
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
}

TEST_F(TlsTest, PlaintextAndUntrustingClientsFail) {
  auto app = StartServer(/*mutual=*/false);
  ASSERT_NE(app, nullptr);
  EXPECT_FALSE(Call(*app, grpc::InsecureChannelCredentials()).ok());
  EXPECT_FALSE(Call(*app, Tls(ca_.rogue_cert())).ok());
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  auto app = StartServer(/*mutual=*/true);
  ASSERT_NE(app, nullptr);
  EXPECT_FALSE(Call(*app, Tls(ca_.ca_cert())).ok()) << "no client cert";
  EXPECT_FALSE(
      Call(*app, Tls(ca_.ca_cert(), ca_.rogue_cert(), ca_.rogue_key())).ok())
      << "client cert from another CA";
  EXPECT_FALSE(Call(*app, grpc::InsecureChannelCredentials()).ok());
  grpc::Status status =
      Call(*app, Tls(ca_.ca_cert(), ca_.client_cert(), ca_.client_key()));
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
}

// TLS with API keys: the key is checked when a call's headers arrive.
class TlsApiKeysTest : public TlsTest {
 protected:
  static constexpr char kBillingKey[] = "billing-key-0123456789abcdef";
  static constexpr char kShippingKey[] = "shipping-key-0123456789abcdef";

  void SetUp() override {
    TlsTest::SetUp();
    keys_file_ = (dir_.path() / "api_keys").string();
    WriteKeys(std::string("billing:") + kBillingKey + "\n");
    app_ = StartServer(/*mutual=*/false, keys_file_);
    ASSERT_NE(app_, nullptr);
    channel_ = grpc::CreateChannel(app_->grpc_target(), Tls(ca_.ca_cert()));
  }

  void WriteKeys(const std::string& text) {
    std::ofstream(keys_file_, std::ios::trunc) << text;
  }

  // A call of `method` through the generic stub sending `authorization`
  // (when not empty), then `messages` (each a whole request; none: headers
  // only, the call is left open), then the end of the stream if `close`.
  // Reads whatever comes back into *responses until the server ends the
  // call or the 3 s deadline passes.
  grpc::Status RawCall(const std::string& method,
                       const std::string& authorization,
                       const std::vector<std::string>& messages, bool close,
                       std::vector<std::string>* responses = nullptr) {
    grpc::GenericStub stub(channel_);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(3));
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    auto call = stub.PrepareCall(&context, method, &cq);
    void* tag;
    bool ok;
    call->StartCall(&cq);
    cq.Next(&tag, &ok);
    for (const std::string& m : messages) {
      grpc::Slice slice(m);
      grpc::ByteBuffer buffer(&slice, 1);
      call->Write(buffer, &cq);
      cq.Next(&tag, &ok);
    }
    if (close) {
      call->WritesDone(&cq);
      cq.Next(&tag, &ok);
    }
    if (close || !messages.empty()) {
      grpc::ByteBuffer in;
      for (ok = true; ok;) {
        call->Read(&in, &cq);
        cq.Next(&tag, &ok);
        if (ok && responses != nullptr) {
          responses->push_back(testing::FromByteBuffer(in));
        }
      }
    }
    grpc::Status status;
    call->Finish(&status, &cq);
    cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  grpc::Status Notify(const std::string& authorization) {
    auto stub = pb::Notifier::NewStub(channel_);
    return testing::NotifyUser(*stub, "alice", "with a key", nullptr,
                               authorization);
  }

  std::string keys_file_;
  std::unique_ptr<server::App> app_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(TlsApiKeysTest, CallsWithoutAValidKeyAreRefusedBeforeTheirMessage) {
  // Headers only, never a message: refused at once, where a check in the
  // handler would wait for the message until the deadline.
  for (const std::string& authorization :
       {std::string(), std::string("Bearer wrong-key-0123456789abcdef"),
        std::string("Bearer ") + kShippingKey, std::string(kBillingKey)}) {
    grpc::Status status =
        RawCall("/notify.v1.Notifier/NotifyUser", authorization, {}, false);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << "authorization '" << authorization << "': " << status.error_code()
        << " " << status.error_message();
    EXPECT_EQ(status.error_message(), "missing or invalid API key");
  }
  // With the key, the same headers-only call is let in: the server waits
  // for its message.
  EXPECT_EQ(RawCall("/notify.v1.Notifier/NotifyUser",
                    std::string("Bearer ") + kBillingKey, {}, false)
                .error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // A method no service has needs a key as well.
  EXPECT_EQ(RawCall("/no.such.Service/Method", "", {}, false).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(RawCall("/no.such.Service/Method",
                    std::string("Bearer ") + kBillingKey, {}, true)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(TlsApiKeysTest, KeyedCallsAreServedAndCountedUnderTheirName) {
  grpc::Status refused = Notify("");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(refused.error_message(), "missing or invalid API key");
  refused = Notify("Bearer wrong-key-0123456789abcdef");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(refused.error_message(), "missing or invalid API key");

  grpc::Status status = Notify(std::string("Bearer ") + kBillingKey);
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  std::string metrics = app_->metrics().RenderText();
  EXPECT_THAT(metrics,
              HasSubstr("notifyd_grpc_calls_total{method=\"NotifyUser\","
                        "code=\"OK\",caller=\"billing\"} 1\n"));
  EXPECT_THAT(metrics,
              HasSubstr("notifyd_grpc_calls_total{method=\"NotifyUser\","
                        "code=\"UNAUTHENTICATED\",caller=\"unauthenticated\"}"
                        " 2\n"));
}

TEST_F(TlsApiKeysTest, ReloadedKeysApplyAtTheMetadata) {
  WriteKeys(std::string("shipping:") + kShippingKey + "\n");
  ASSERT_TRUE(app_->ReloadApiKeys().ok());
  EXPECT_TRUE(Notify(std::string("Bearer ") + kShippingKey).ok());
  EXPECT_EQ(RawCall("/notify.v1.Notifier/NotifyUser",
                    std::string("Bearer ") + kBillingKey, {}, false)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(TlsApiKeysTest, HealthAndReflectionStayOpenWithoutAKey) {
  // HealthCheckRequest{} asks about the server as a whole.
  std::vector<std::string> responses;
  grpc::Status status =
      RawCall("/grpc.health.v1.Health/Check", "", {""}, true, &responses);
  ASSERT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  // HealthCheckResponse{status: SERVING}: field 1, varint 1.
  EXPECT_THAT(responses, ::testing::ElementsAre(std::string("\x08\x01")));

  // ServerReflectionRequest{list_services: "*"} (field 7).
  responses.clear();
  status =
      RawCall("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              "", {std::string("\x3a\x01*")}, true, &responses);
  ASSERT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_THAT(responses[0], HasSubstr("notify.v1.Notifier"));
}

class TlsFilesTest : public TlsTest {
 protected:
  absl::Status Start(const std::string& cert, const std::string& key,
                     const std::string& client_ca = "") {
    server::AppOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.enable_edge = false;
    options.admin_listen = "";  // no admin listener: tests run in parallel
    options.db = (dir_.path() / "notify.db").string();
    options.tls_cert_file = cert;
    options.tls_key_file = key;
    options.tls_client_ca_file = client_ca;
    auto app = server::App::Start(options);
    return app.ok() ? absl::OkStatus() : app.status();
  }
};

TEST_F(TlsFilesTest, UnusableFilesAreRefusedNamingThem) {
  std::string missing = (dir_.path() / "missing.pem").string();
  std::string not_pem = (dir_.path() / "not.pem").string();
  std::ofstream(not_pem) << "hello\n";

  absl::Status s = Start(missing, ca_.server_key());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("cannot read --tls_cert=" + missing));

  s = Start(ca_.server_cert(), missing);
  EXPECT_THAT(s.message(), HasSubstr("cannot read --tls_key=" + missing));

  s = Start(not_pem, ca_.server_key());
  EXPECT_THAT(s.message(),
              HasSubstr("--tls_cert=" + not_pem + " is not a PEM certificate"));

  s = Start(ca_.server_cert(), not_pem);
  EXPECT_THAT(s.message(), HasSubstr("--tls_key=" + not_pem));

  s = Start(ca_.server_cert(), ca_.client_key());
  EXPECT_THAT(s.message(), HasSubstr("does not match the certificate"));

  s = Start(ca_.server_cert(), ca_.server_key(), missing);
  EXPECT_THAT(s.message(), HasSubstr("cannot read --tls_client_ca=" + missing));

  s = Start(ca_.server_cert(), "");
  EXPECT_THAT(s.message(), HasSubstr("both --tls_cert and --tls_key"));

  s = Start("", "", ca_.ca_cert());
  EXPECT_THAT(s.message(), HasSubstr("--tls_client_ca needs --tls_cert"));
}

// The startup rule (docs/DESIGN.md, "Security"), through App::Start; the
// binary's message is covered in durability_test.cc.
class NonLoopbackTest : public TlsTest {
 protected:
  absl::Status Start(server::AppOptions options) {
    options.grpc_listen = "0.0.0.0:0";
    options.enable_edge = false;
    options.admin_listen = "";  // no admin listener: tests run in parallel
    options.db = (dir_.path() / "notify.db").string();
    auto app = server::App::Start(options);
    return app.ok() ? absl::OkStatus() : app.status();
  }
};

TEST_F(NonLoopbackTest, RefusedWithoutPublisherAuthentication) {
  server::AppOptions options;
  absl::Status s = Start(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--api_keys_file"));
  EXPECT_THAT(s.message(), HasSubstr("--tls_client_ca"));
  EXPECT_THAT(s.message(), HasSubstr("--insecure"));
  // TLS alone encrypts but does not say who publishes.
  options.tls_cert_file = ca_.server_cert();
  options.tls_key_file = ca_.server_key();
  EXPECT_EQ(Start(options).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(NonLoopbackTest, AcceptedWithKeysMutualTlsOrInsecure) {
  std::string keys = (dir_.path() / "keys").string();
  std::ofstream(keys) << "svc:0123456789abcdef0123\n";
  server::AppOptions with_keys;
  with_keys.api_keys_file = keys;
  EXPECT_TRUE(Start(with_keys).ok());

  server::AppOptions mutual;
  mutual.tls_cert_file = ca_.server_cert();
  mutual.tls_key_file = ca_.server_key();
  mutual.tls_client_ca_file = ca_.ca_cert();
  EXPECT_TRUE(Start(mutual).ok());

  server::AppOptions insecure;
  insecure.insecure = true;
  EXPECT_TRUE(Start(insecure).ok());
}

}  // namespace
}  // namespace notifyd
