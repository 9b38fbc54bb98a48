// TlsSocket (edge/tls_socket.h) against a blocking OpenSSL client on a
// thread: the handshake, reads, a scatter write as one record, large
// writes, the ends of a connection, and completions never run inside the
// call that started them.
#include "edge/tls_socket.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/io_context.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/ssl/error.hpp"
#include "boost/asio/write.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge::internal {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

// A server context with a fresh self-signed P-256 certificate.
void UseSelfSignedCertificate(net::ssl::context& context) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test"), -1,
                             -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  SSL_CTX_use_certificate(context.native_handle(), cert);
  SSL_CTX_use_PrivateKey(context.native_handle(), key);
  X509_free(cert);
  EVP_PKEY_free(key);
}

// A blocking TLS client on its own descriptor (no certificate checks: the
// server's side is under test).
class Client {
 public:
  explicit Client(uint16_t port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
  }
  ~Client() {
    SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  bool Handshake() { return connected_ && SSL_connect(ssl_) == 1; }
  bool Write(const std::string& s) {
    size_t n = 0;
    return SSL_write_ex(ssl_, s.data(), s.size(), &n) == 1 && n == s.size();
  }
  // One SSL_read: at most one record's bytes.
  std::string ReadOnce() {
    std::array<char, 32 * 1024> buf;
    size_t n = 0;
    if (SSL_read_ex(ssl_, buf.data(), buf.size(), &n) != 1) return "";
    return std::string(buf.data(), n);
  }
  std::string ReadExactly(size_t size) {
    std::string out;
    while (out.size() < size) {
      std::string part = ReadOnce();
      if (part.empty()) break;
      out += part;
    }
    return out;
  }
  void CloseNotify() { SSL_shutdown(ssl_); }
  void CloseTcp() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
};

class TlsSocketTest : public ::testing::Test {
 protected:
  TlsSocketTest() : context_(net::ssl::context::tls_server) {
    UseSelfSignedCertificate(context_);
    acceptor_.open(tcp::v4());
    acceptor_.bind({net::ip::address_v4::loopback(), 0});
    acceptor_.listen();
  }

  uint16_t port() { return acceptor_.local_endpoint().port(); }

  // Accepts one connection and completes the server's handshake.
  std::unique_ptr<TlsSocket> AcceptAndHandshake() {
    auto socket = std::make_unique<TlsSocket>(acceptor_.accept(), context_);
    error_code result = net::error::would_block;
    socket->async_handshake(net::ssl::stream_base::server,
                            [&](error_code ec) { result = ec; });
    io_.run();
    io_.restart();
    EXPECT_FALSE(result) << result.message();
    return socket;
  }

  // Accepts a client that handshakes and then does `then` (on its
  // thread); runs one read of the server's side to its end, with
  // `meanwhile` posted first (on the server's thread). Returns the read's
  // error.
  template <typename Then>
  error_code ReadAfter(Then then, std::function<void(TlsSocket&)> meanwhile) {
    Client client(port());
    std::thread peer([&] {
      ASSERT_TRUE(client.Handshake());
      then(client);
    });
    auto socket = AcceptAndHandshake();
    peer.join();
    std::array<char, 16> buf;
    error_code read_ec;
    socket->async_read_some(net::buffer(buf),
                            [&](error_code ec, size_t) { read_ec = ec; });
    if (meanwhile) net::post(io_, [&] { meanwhile(*socket); });
    io_.run();
    return read_ec;
  }

  net::io_context io_;
  net::ssl::context context_;
  tcp::acceptor acceptor_{io_};
};

TEST_F(TlsSocketTest, ReadsWhatTheClientWritesAndGathersAScatterWrite) {
  Client client(port());
  std::string got_by_client;
  std::thread peer([&] {
    ASSERT_TRUE(client.Handshake());
    ASSERT_TRUE(client.Write("hello"));
    got_by_client = client.ReadOnce();
  });
  auto socket = AcceptAndHandshake();
  std::array<char, 64> buf;
  size_t n = 0;
  error_code read_ec;
  net::async_read(*socket, net::buffer(buf.data(), 5),
                  [&](error_code ec, size_t bytes) {
                    read_ec = ec;
                    n = bytes;
                  });
  io_.run();
  io_.restart();
  EXPECT_FALSE(read_ec);
  EXPECT_EQ(std::string(buf.data(), n), "hello");

  // Three buffers, one record: the client's single read sees all of them.
  std::vector<net::const_buffer> pieces = {net::buffer("id: 1\n", 6),
                                           net::buffer("data: x\n", 8),
                                           net::buffer("\n", 1)};
  size_t written = 0;
  net::async_write(*socket, pieces,
                   [&](error_code, size_t bytes) { written = bytes; });
  io_.run();
  peer.join();
  EXPECT_EQ(written, 15u);
  EXPECT_EQ(got_by_client, "id: 1\ndata: x\n\n");
}

TEST_F(TlsSocketTest, AWriteLargerThanARecordArrivesWhole) {
  std::string big(100 * 1024 + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
  Client client(port());
  std::string got;
  std::thread peer([&] {
    ASSERT_TRUE(client.Handshake());
    got = client.ReadExactly(big.size());
  });
  auto socket = AcceptAndHandshake();
  error_code write_ec = net::error::would_block;
  net::async_write(*socket, net::buffer(big),
                   [&](error_code ec, size_t) { write_ec = ec; });
  io_.run();
  peer.join();
  EXPECT_FALSE(write_ec);
  EXPECT_TRUE(got == big);
}

TEST_F(TlsSocketTest, CloseNotifyEndsAReadWithEof) {
  EXPECT_EQ(ReadAfter([](Client& c) { c.CloseNotify(); }, nullptr),
            net::error::eof);
}

TEST_F(TlsSocketTest, APeerThatJustClosesEndsAReadWithAnError) {
  error_code read_ec = ReadAfter([](Client& c) { c.CloseTcp(); }, nullptr);
  // eof, stream_truncated, or a reset (the client closed with the
  // server's session tickets unread): an error, not a hang.
  EXPECT_TRUE(read_ec);
  EXPECT_NE(read_ec, net::error::operation_aborted);
}

TEST_F(TlsSocketTest, ClosingTheSocketAbortsAWaitingRead) {
  EXPECT_EQ(
      ReadAfter([](Client&) {}, [](TlsSocket& s) { s.next_layer().close(); }),
      net::error::operation_aborted);
}

TEST_F(TlsSocketTest, CompletesOutsideTheCallThatStartedIt) {
  Client client(port());
  std::string got;
  std::thread peer([&] {
    ASSERT_TRUE(client.Handshake());
    got = client.ReadOnce();
  });
  auto socket = AcceptAndHandshake();
  bool returned = false;
  bool completed_after_return = false;
  net::post(io_, [&] {
    // A small write completes at once; its handler must still wait for
    // this call to return.
    socket->async_write_some(net::buffer("x", 1), [&](error_code, size_t) {
      completed_after_return = returned;
    });
    returned = true;
  });
  io_.run();
  peer.join();
  EXPECT_TRUE(completed_after_return);
  EXPECT_EQ(got, "x");
}

}  // namespace
}  // namespace notifyd::edge::internal
