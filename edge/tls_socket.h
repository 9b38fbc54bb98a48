// A TLS connection of the edge: OpenSSL on the TCP socket's descriptor
// itself, with Asio's readiness waits, as an Asio AsyncReadStream and
// AsyncWriteStream (what Beast's HTTP/1.1 reads and writes, and the HTTP/2
// session, use).
//
// Why not net::ssl::stream (or beast::ssl_stream over it): Asio's stream
// keeps two 17 KiB buffers per connection, zero-filled when it is made, and
// its BIO pair two more, so a TLS connection cost about 71 KB of memory
// before carrying anything (docs/BENCHMARKS.md, "HTTP/2 on the TLS edge").
// Here OpenSSL reads and writes the socket itself (SSL_set_fd); with
// SSL_MODE_RELEASE_BUFFERS (set here) an idle connection keeps no record
// buffers at all, which is what most streams are most of the time.
//
// Writes: a scatter write is gathered into one TLS record of at most
// kMaxGather bytes (one record and one send per batch of small SSE frames,
// not one per frame); partial writes are allowed (SSL_MODE_ENABLE_PARTIAL_
// WRITE), as async_write_some's contract permits.
//
// Errors: end of stream is net::error::eof (close_notify, or the peer's
// FIN where OpenSSL reports none), a FIN without close_notify in the
// middle of a record is net::ssl::error::stream_truncated, a cancelled wait
// (the socket closed under it) net::error::operation_aborted, OpenSSL's
// errors in Asio's SSL category, the system's in the system category.
//
// OpenSSL writes to the socket with write(2), so the first TlsSocket sets
// SIGPIPE to be ignored in the process (notifyd's main does anyway).
//
// Threading: not thread-safe; one read and one write may be outstanding at
// a time (and no handshake with either), all initiated and completed on
// the socket's executor (the connection's strand). Completion handlers are
// never called from inside the initiating function. The object must not
// be moved while an operation is outstanding (the Http2Session hand-over
// moves it between operations).
#ifndef NOTIFYD_EDGE_TLS_SOCKET_H_
#define NOTIFYD_EDGE_TLS_SOCKET_H_

#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

#include "boost/asio/buffer.hpp"
#include "boost/asio/compose.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/defer.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/ssl/stream_base.hpp"
#include "boost/system/error_code.hpp"

namespace notifyd::edge::internal {

class TlsSocket {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;
  using executor_type = tcp::socket::executor_type;
  using next_layer_type = tcp::socket;
  using native_handle_type = SSL*;

  // Most bytes of a scatter write gathered into one record.
  static constexpr size_t kMaxGather = 16 * 1024;

  // Takes the connected socket (made non-blocking) and a new SSL object of
  // `context`. If OpenSSL cannot make one (out of memory), every operation
  // fails with an error.
  TlsSocket(tcp::socket socket, boost::asio::ssl::context& context);
  TlsSocket(TlsSocket&&) noexcept = default;
  TlsSocket& operator=(TlsSocket&&) = delete;
  ~TlsSocket() = default;

  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_.get(); }

  // The server (or client) side of the handshake; handler(error_code).
  template <typename Handler>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type,
                       Handler&& handler) {
    if (ssl_) {
      type == boost::asio::ssl::stream_base::server
          ? SSL_set_accept_state(ssl_.get())
          : SSL_set_connect_state(ssl_.get());
    }
    return boost::asio::async_compose<Handler, void(error_code)>(
        Op<HandshakeTag>{this, {}, nullptr, false, false, {}}, handler,
        socket_);
  }

  // Reads decrypted bytes into the first non-empty buffer;
  // handler(error_code, size_t).
  template <typename MutableBuffers, typename Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    boost::asio::mutable_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (boost::asio::mutable_buffer b(*it); b.size() > 0) {
        first = b;
        break;
      }
    }
    return boost::asio::async_compose<Handler, void(error_code, size_t)>(
        Op<ReadTag>{this, first, nullptr, false, false, {}}, handler, socket_);
  }

  // For a reader that keeps no buffer of its own while it waits (the
  // HTTP/2 session): reads what can be read now into `data` (at most
  // `size` bytes). Returns the bytes read (> 0); or 0 with `*ec` set at the
  // end or on an error; or 0 with no error when nothing can be read until
  // the socket is readable (`*wait_write` false) or writable (true), which
  // AsyncWait then waits for. Never blocks.
  size_t ReadNow(void* data, size_t size, error_code* ec, bool* wait_write) {
    Attempt a = TryRead(data, size);
    *ec = a.ec;
    *wait_write = a.want == Want::kWrite;
    return a.bytes;
  }
  template <typename Handler>
  void AsyncWait(bool wait_write, Handler&& handler) {
    socket_.async_wait(
        wait_write ? tcp::socket::wait_write : tcp::socket::wait_read,
        std::forward<Handler>(handler));
  }

  // Writes the buffers' first bytes (all of them if they fit kMaxGather,
  // else at least one record's worth); handler(error_code, size_t).
  template <typename ConstBuffers, typename Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    auto begin = boost::asio::buffer_sequence_begin(buffers);
    auto end = boost::asio::buffer_sequence_end(buffers);
    boost::asio::const_buffer first;
    size_t count = 0;
    size_t total = 0;
    for (auto it = begin; it != end; ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (count++ == 0) first = b;
      total += b.size();
      if (total >= kMaxGather) break;
    }
    std::unique_ptr<char[]> gathered;
    if (count > 1 && first.size() < kMaxGather) {
      size_t n = std::min(total, kMaxGather);
      gathered.reset(new char[n]);
      boost::asio::buffer_copy(boost::asio::buffer(gathered.get(), n), buffers);
      first = boost::asio::const_buffer(gathered.get(), n);
    }
    return boost::asio::async_compose<Handler, void(error_code, size_t)>(
        Op<WriteTag>{this, first, std::move(gathered), false, false, {}},
        handler, socket_);
  }

 private:
  struct HandshakeTag {};
  struct ReadTag {};
  struct WriteTag {};

  // What one OpenSSL call came to.
  enum class Want { kDone, kRead, kWrite };
  struct Attempt {
    Want want = Want::kDone;
    error_code ec;
    size_t bytes = 0;
  };

  Attempt TryHandshake();
  Attempt TryRead(void* data, size_t size);
  Attempt TryWrite(const void* data, size_t size);
  // Classifies a failed SSL call's result `rv` (OpenSSL's error queue is
  // read and cleared).
  Attempt Failed(int rv);

  // One operation: tries the OpenSSL call, waits for the socket to become
  // readable or writable as OpenSSL asks and tries again; completes through
  // a deferred call when it finishes without having waited.
  template <typename Tag>
  struct Op {
    TlsSocket* socket;
    // ReadTag: mutable_buffer; else const_buffer.
    std::conditional_t<std::is_same_v<Tag, ReadTag>,
                       boost::asio::mutable_buffer, boost::asio::const_buffer>
        buffer;
    std::unique_ptr<char[]> gathered;  // WriteTag: owns `buffer`'s bytes
    bool waited = false;
    bool posted = false;
    Attempt result;

    template <typename Self>
    void operator()(Self& self, error_code wait_error = {}) {
      if (posted) return Complete(self, result.ec, result.bytes);
      if (wait_error) return Complete(self, wait_error, 0);
      Attempt a = Try();
      if (a.want != Want::kDone) {
        waited = true;
        return socket->socket_.async_wait(a.want == Want::kRead
                                              ? tcp::socket::wait_read
                                              : tcp::socket::wait_write,
                                          std::move(self));
      }
      if (!waited) {
        posted = true;
        result = a;
        // defer, not post: on the strand, the completion runs right after
        // the current handler instead of behind everything queued on the
        // io_context (a broadcast queues a delivery per stream), which
        // matters to async_write's chain of write_some calls.
        auto executor = socket->get_executor();
        return boost::asio::defer(executor, std::move(self));
      }
      Complete(self, a.ec, a.bytes);
    }

    Attempt Try() {
      if constexpr (std::is_same_v<Tag, HandshakeTag>) {
        return socket->TryHandshake();
      } else if constexpr (std::is_same_v<Tag, ReadTag>) {
        return socket->TryRead(buffer.data(), buffer.size());
      } else {
        return socket->TryWrite(buffer.data(), buffer.size());
      }
    }

    template <typename Self>
    static void Complete(Self& self, error_code ec, size_t bytes) {
      if constexpr (std::is_same_v<Tag, HandshakeTag>) {
        self.complete(ec);
      } else {
        self.complete(ec, bytes);
      }
    }
  };

  struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };

  tcp::socket socket_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

}  // namespace notifyd::edge::internal

#endif  // NOTIFYD_EDGE_TLS_SOCKET_H_
