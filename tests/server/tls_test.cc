// TLS and mutual TLS on the gRPC listener, against a CA made for the test:
// a client trusting the CA gets through, plaintext and untrusting clients
// do not; with a client CA, only clients holding a certificate it signed
// get through. Also: unusable files are refused naming them, and the
// non-loopback startup rule accepts mutual TLS or API keys.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

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

  // Starts a server with TLS, and mutual TLS when `mutual`.
  std::unique_ptr<server::App> StartServer(bool mutual) {
    server::AppOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.enable_edge = false;
    options.admin_listen = "";  // no admin listener: tests run in parallel
    options.synchronous_full = false;
    options.db = (dir_.path() / "notify.db").string();
    options.tls_cert_file = ca_.server_cert();
    options.tls_key_file = ca_.server_key();
    if (mutual) options.tls_client_ca_file = ca_.ca_cert();
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
