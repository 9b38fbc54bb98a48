// The push HTTPS client: Boost.Beast over Boost.Asio SSL (OpenSSL). One
// Exchange per Post walks resolve (SSRF guard) -> connect -> TLS handshake
// -> write -> read, or starts at write on a kept-alive connection.
#include "push/https_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"

namespace notifyd::push {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResponseBytes = 64 * 1024;
constexpr size_t kMaxResponseHeaderBytes = 16 * 1024;

// One TLS connection; its stream runs on its own strand, since a
// tcp_stream's timeout and its I/O may complete on different threads.
struct Connection {
  Connection(asio::io_context& io, ssl::context& tls)
      : stream(asio::make_strand(io), tls) {}
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  absl::Time idle_since;
};

}  // namespace

struct HttpsClient::Impl {
  Impl(asio::io_context& io, Options options)
      : io(io), options(std::move(options)), tls(ssl::context::tls_client) {}

  // A kept-alive connection to `key` (host:port) unused for less than
  // idle_timeout, or nullptr; older ones are closed.
  std::unique_ptr<Connection> TakeIdle(const std::string& key)
      ABSL_LOCKS_EXCLUDED(mu) {
    std::vector<std::unique_ptr<Connection>> stale;  // closed unlocked
    std::unique_ptr<Connection> found;
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu);
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    std::vector<std::unique_ptr<Connection>>& list = it->second;
    for (std::unique_ptr<Connection>& c : list) {
      if (now - c->idle_since >= options.idle_timeout) {
        stale.push_back(std::move(c));
      }
    }
    std::erase(list, nullptr);
    if (!list.empty()) {  // the most recently used
      found = std::move(list.back());
      list.pop_back();
    }
    idle_count -= stale.size() + (found ? 1 : 0);
    if (it->second.empty()) idle.erase(it);
    return found;
  }

  void PutIdle(const std::string& key, std::unique_ptr<Connection> c)
      ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    if (idle_count >= options.max_idle) return;  // closed on return
    idle[key].push_back(std::move(c));
    ++idle_count;
  }

  asio::io_context& io;
  const Options options;
  ssl::context tls;
  mutable absl::Mutex mu;
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<Connection>>>
      idle ABSL_GUARDED_BY(mu);
  size_t idle_count ABSL_GUARDED_BY(mu) = 0;
};

namespace {

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(HttpsClient::Impl& client, HttpsClient::Request request,
           HttpsClient::Done done)
      : client_(client),
        endpoint_(std::move(request.endpoint)),
        done_(std::move(done)),
        resolver_(asio::make_strand(client.io)),
        timer_(resolver_.get_executor()) {
    request_.method(http::verb::post);
    request_.target(endpoint_.target);
    request_.version(11);
    request_.set(http::field::host, endpoint_.host_header);
    request_.set(http::field::user_agent, "notifyd");
    for (const auto& [name, value] : request.headers) {
      request_.set(name, value);
    }
    request_.body() = std::move(request.body);
    request_.prepare_payload();
  }

  void Start() {
    connection_ = client_.TakeIdle(endpoint_.host_header);
    if (connection_) {
      reused_ = true;
      Write();
    } else {
      Resolve();
    }
  }

 private:
  void Resolve() {
    deadline_ = Clock::now() +
                absl::ToChronoNanoseconds(client_.options.connect_timeout);
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: resolution finished first
      self->resolve_timed_out_ = true;
      self->resolver_.cancel();
    });
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self = shared_from_this()](beast::error_code ec,
                                    tcp::resolver::results_type results) {
          self->OnResolve(ec, std::move(results));
        });
  }

  void OnResolve(beast::error_code ec, tcp::resolver::results_type results) {
    timer_.cancel();
    if (resolve_timed_out_) {
      return Finish(absl::DeadlineExceededError(
          absl::StrCat("resolving ", endpoint_.host, " timed out")));
    }
    if (ec) {
      return Finish(absl::UnavailableError(
          absl::StrCat("cannot resolve ", endpoint_.host, ": ", ec.message())));
    }
    // The SSRF guard looks at the addresses actually connected to, so a
    // name that resolves differently later cannot slip past it.
    std::vector<std::string> refused;
    addresses_.clear();
    for (const auto& entry : results) {
      const tcp::endpoint& address = entry.endpoint();
      if (client_.options.allow_private || IsPublicAddress(address.address())) {
        addresses_.push_back(address);
      } else {
        refused.push_back(address.address().to_string());
      }
    }
    if (addresses_.empty()) {
      return Finish(absl::PermissionDeniedError(absl::StrCat(
          "push endpoint host ", endpoint_.host,
          " resolves to non-public address(es) ", absl::StrJoin(refused, ", "),
          "; refused (SSRF guard; --push_allow_private allows it for "
          "tests)")));
    }
    connection_ = std::make_unique<Connection>(client_.io, client_.tls);
    SSL* ssl = connection_->stream.native_handle();
    const bool checks =
        endpoint_.host_is_address
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
                                            endpoint_.host.c_str()) == 1
            : SSL_set_tlsext_host_name(ssl, endpoint_.host.c_str()) == 1 &&
                  SSL_set1_host(ssl, endpoint_.host.c_str()) == 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!checks) {
      return Finish(absl::InternalError(
          absl::StrCat("cannot set up TLS for ", endpoint_.host)));
    }
    auto& tcp_stream = beast::get_lowest_layer(connection_->stream);
    tcp_stream.expires_at(deadline_);
    tcp_stream.async_connect(addresses_,
                             [self = shared_from_this()](beast::error_code ec,
                                                         const tcp::endpoint&) {
                               self->OnConnect(ec);
                             });
  }

  void OnConnect(beast::error_code ec) {
    if (ec) return Finish(TransportError(ec, "connecting to"));
    connection_->stream.async_handshake(
        ssl::stream_base::client,
        [self = shared_from_this()](beast::error_code ec) {
          self->OnHandshake(ec);
        });
  }

  void OnHandshake(beast::error_code ec) {
    if (!ec) return Write();
    const long verify =
        SSL_get_verify_result(connection_->stream.native_handle());
    if (ec != beast::error::timeout && verify != X509_V_OK) {
      return Finish(absl::FailedPreconditionError(absl::StrCat(
          "the TLS certificate of ", endpoint_.host_header,
          " does not verify: ", X509_verify_cert_error_string(verify))));
    }
    Finish(TransportError(ec, "the TLS handshake with"));
  }

  void Write() {
    beast::get_lowest_layer(connection_->stream)
        .expires_after(
            absl::ToChronoNanoseconds(client_.options.request_timeout));
    http::async_write(connection_->stream, request_,
                      [self = shared_from_this()](
                          beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return Broken(ec, "writing to");
    parser_.emplace();
    parser_->header_limit(kMaxResponseHeaderBytes);
    parser_->body_limit(kMaxResponseBytes);
    http::async_read(connection_->stream, connection_->buffer, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    if (ec) return Broken(ec, "reading from");
    const auto& answer = parser_->get();
    HttpsClient::Response response;
    response.status = static_cast<int>(answer.result_int());
    response.retry_after = std::string(answer[http::field::retry_after]);
    if (answer.keep_alive()) {
      beast::get_lowest_layer(connection_->stream).expires_never();
      connection_->idle_since = absl::Now();
      client_.PutIdle(endpoint_.host_header, std::move(connection_));
    }
    Finish(std::move(response));
  }

  // A write or read failed. On a kept-alive connection the server may have
  // closed it meanwhile: when nothing of an answer came, try once more on
  // a new connection.
  void Broken(beast::error_code ec, absl::string_view doing) {
    const bool answered = parser_ && parser_->got_some();
    if (reused_ && !answered && ec != beast::error::timeout) {
      reused_ = false;
      connection_.reset();
      parser_.reset();
      return Resolve();
    }
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      return Finish(absl::OutOfRangeError(
          absl::StrCat("the answer of ", endpoint_.host_header, " is over ",
                       kMaxResponseBytes, " bytes")));
    }
    Finish(TransportError(ec, doing));
  }

  absl::Status TransportError(beast::error_code ec, absl::string_view doing) {
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(
          absl::StrCat(doing, " ", endpoint_.host_header, " timed out"));
    }
    return absl::UnavailableError(absl::StrCat(
        doing, " ", endpoint_.host_header, " failed: ", ec.message()));
  }

  void Finish(absl::StatusOr<HttpsClient::Response> result) {
    std::move(done_)(std::move(result));
  }

  HttpsClient::Impl& client_;
  const Endpoint endpoint_;
  HttpsClient::Done done_;
  http::request<http::string_body> request_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;  // the resolve deadline; on resolver_'s strand
  Clock::time_point deadline_;
  bool resolve_timed_out_ = false;
  std::vector<tcp::endpoint> addresses_;
  std::unique_ptr<Connection> connection_;
  bool reused_ = false;
  std::optional<http::response_parser<http::string_body>> parser_;
};

}  // namespace

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsClient::~HttpsClient() { CloseIdle(); }

absl::StatusOr<std::unique_ptr<HttpsClient>> HttpsClient::Create(
    asio::io_context& io, Options options) {
  auto impl = std::make_unique<Impl>(io, std::move(options));
  impl->tls.set_options(ssl::context::default_workarounds |
                        ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  impl->tls.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (impl->options.ca_file.empty()) {
    impl->tls.set_default_verify_paths(ec);
  } else {
    impl->tls.load_verify_file(impl->options.ca_file, ec);
  }
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load ",
        impl->options.ca_file.empty()
            ? std::string("the system's CA certificates")
            : absl::StrCat("--push_ca_file=", impl->options.ca_file),
        ": ", ec.message()));
  }
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

void HttpsClient::Post(Request request, Done done) {
  auto exchange =
      std::make_shared<Exchange>(*impl_, std::move(request), std::move(done));
  asio::post(impl_->io, [exchange] { exchange->Start(); });
}

void HttpsClient::CloseIdle() {
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<Connection>>>
      closing;
  {
    absl::MutexLock lock(&impl_->mu);
    closing.swap(impl_->idle);
    impl_->idle_count = 0;
  }
}

size_t HttpsClient::idle_connections() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->idle_count;
}

}  // namespace notifyd::push
