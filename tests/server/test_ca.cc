#include "tests/server/test_ca.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace notifyd::testing {
namespace {

// Extensions by section; `-extensions <name>` picks one per certificate.
constexpr char kConfig[] = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = notifyd-test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
)";

constexpr char kNewKey[] =
    "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

}  // namespace

std::string TestCa::Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool TestCa::OpenSsl(const std::string& args) {
  std::string log = Path("openssl.log");
  std::string command = "cd '" + dir_.path().string() + "' && openssl " + args +
                        " >>'" + log + "' 2>&1";
  if (std::system(command.c_str()) == 0) return true;
  error_ = "openssl " + args + " failed:\n" + Read(log);
  return false;
}

TestCa::TestCa() {
  std::ofstream(Path("openssl.cnf")) << kConfig;
  const std::string req = "req -config openssl.cnf " + std::string(kNewKey);
  const std::string sign =
      "x509 -req -days 2 -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-extfile openssl.cnf";
  ok_ = OpenSsl(req +
                " -x509 -days 2 -extensions ca -subj /CN=notifyd-test-ca"
                " -keyout ca.key -out ca.pem") &&
        OpenSsl(req +
                " -subj /CN=127.0.0.1 -keyout server.key -out server.csr") &&
        OpenSsl(sign + " -extensions server -in server.csr -out server.pem") &&
        OpenSsl(req +
                " -subj /CN=publisher -keyout client.key -out client.csr") &&
        OpenSsl(sign + " -extensions client -in client.csr -out client.pem") &&
        OpenSsl(req +
                " -x509 -days 2 -extensions ca -subj /CN=rogue"
                " -keyout rogue.key -out rogue.pem");
}

}  // namespace notifyd::testing
