// A throwaway certificate authority for TLS tests, made with the openssl
// command line in a temporary directory: a CA, a server certificate for
// 127.0.0.1 (subjectAltName IP:127.0.0.1), a client certificate signed by
// the CA, and a "rogue" self-signed CA + certificate no one trusts.
//
// Construction runs openssl several times (EC P-256 keys, so it is quick);
// ok() is false, with the log in error(), when any step failed. Files live
// as long as the object. Not thread-safe.
#ifndef NOTIFYD_TESTS_SERVER_TEST_CA_H_
#define NOTIFYD_TESTS_SERVER_TEST_CA_H_

#include <string>

#include "tests/server/test_server.h"

namespace notifyd::testing {

class TestCa {
 public:
  TestCa();

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  // Paths of PEM files.
  std::string ca_cert() const { return Path("ca.pem"); }
  std::string server_cert() const { return Path("server.pem"); }
  std::string server_key() const { return Path("server.key"); }
  std::string client_cert() const { return Path("client.pem"); }
  std::string client_key() const { return Path("client.key"); }
  std::string rogue_cert() const { return Path("rogue.pem"); }
  std::string rogue_key() const { return Path("rogue.key"); }

  // The contents of a file, for grpc::SslCredentialsOptions.
  static std::string Read(const std::string& path);

 private:
  std::string Path(const char* name) const {
    return (dir_.path() / name).string();
  }
  // Runs `openssl <args>` in the directory; false (and error_) on failure.
  bool OpenSsl(const std::string& args);

  TempDir dir_;
  bool ok_ = false;
  std::string error_;
};

}  // namespace notifyd::testing

#endif  // NOTIFYD_TESTS_SERVER_TEST_CA_H_
