#include "edge/tls_socket.h"

#include <openssl/err.h>

#include <cerrno>
#include <csignal>
#include <mutex>

#include "boost/asio/error.hpp"
#include "boost/asio/ssl/error.hpp"

namespace notifyd::edge::internal {

namespace net = boost::asio;

TlsSocket::TlsSocket(tcp::socket socket, net::ssl::context& context)
    : socket_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
  // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a peer gone
  // mid-write must be EPIPE, not a SIGPIPE that ends the process.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  error_code ec;
  socket_.non_blocking(true, ec);
  if (ec || !ssl_ || SSL_set_fd(ssl_.get(), socket_.native_handle()) != 1) {
    ssl_.reset();
    return;
  }
  SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS |
                               SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

TlsSocket::Attempt TlsSocket::TryHandshake() {
  if (!ssl_) return {Want::kDone, net::error::no_memory, 0};
  ERR_clear_error();
  errno = 0;
  int rv = SSL_do_handshake(ssl_.get());
  if (rv == 1) return {};
  return Failed(rv);
}

TlsSocket::Attempt TlsSocket::TryRead(void* data, size_t size) {
  if (!ssl_) return {Want::kDone, net::error::no_memory, 0};
  if (size == 0) return {};
  ERR_clear_error();
  errno = 0;
  size_t n = 0;
  int rv = SSL_read_ex(ssl_.get(), data, size, &n);
  if (rv == 1) return {Want::kDone, {}, n};
  return Failed(rv);
}

TlsSocket::Attempt TlsSocket::TryWrite(const void* data, size_t size) {
  if (!ssl_) return {Want::kDone, net::error::no_memory, 0};
  if (size == 0) return {};
  ERR_clear_error();
  errno = 0;
  size_t n = 0;
  int rv = SSL_write_ex(ssl_.get(), data, size, &n);
  if (rv == 1) return {Want::kDone, {}, n};
  return Failed(rv);
}

TlsSocket::Attempt TlsSocket::Failed(int rv) {
  int saved_errno = errno;
  switch (SSL_get_error(ssl_.get(), rv)) {
    case SSL_ERROR_WANT_READ:
      return {Want::kRead, {}, 0};
    case SSL_ERROR_WANT_WRITE:
      return {Want::kWrite, {}, 0};
    case SSL_ERROR_ZERO_RETURN:
      return {Want::kDone, net::error::eof, 0};
    case SSL_ERROR_SYSCALL: {
      unsigned long e = ERR_get_error();
      ERR_clear_error();
      if (e != 0) {
        return {Want::kDone,
                error_code(static_cast<int>(e), net::error::get_ssl_category()),
                0};
      }
      // No OpenSSL error and no errno: the peer closed the connection.
      if (saved_errno == 0) return {Want::kDone, net::error::eof, 0};
      return {Want::kDone,
              error_code(saved_errno, boost::system::system_category()), 0};
    }
    default: {
      unsigned long e = ERR_get_error();
      ERR_clear_error();
      if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
          ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return {Want::kDone, net::ssl::error::stream_truncated, 0};
      }
      return {Want::kDone,
              error_code(static_cast<int>(e), net::error::get_ssl_category()),
              0};
    }
  }
}

}  // namespace notifyd::edge::internal
