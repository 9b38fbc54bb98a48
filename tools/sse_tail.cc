#include "tools/sse_tail.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/url.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"

namespace notifyd::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Event {
  std::string id, event, data;
};

// Incremental parser of the text/event-stream format (WHATWG HTML §9.2).
class SseParser {
 public:
  // Feeds bytes; calls on_event for each complete event.
  template <typename OnEvent>
  void Feed(const char* bytes, size_t n, OnEvent on_event) {
    for (size_t i = 0; i < n; ++i) {
      char c = bytes[i];
      if (c == '\r' || (c == '\n' && !after_cr_)) {
        Line(on_event);
        line_.clear();
      } else if (c != '\n') {
        line_.push_back(c);
      }
      after_cr_ = c == '\r';
    }
  }

 private:
  template <typename OnEvent>
  void Line(OnEvent on_event) {
    if (line_.empty()) {
      if (has_data_) {
        if (!current_.data.empty() && current_.data.back() == '\n') {
          current_.data.pop_back();
        }
        on_event(current_);
      }
      current_ = Event{.id = current_.id, .event = {}, .data = {}};
      has_data_ = false;
      return;
    }
    if (line_[0] == ':') return;
    size_t colon = line_.find(':');
    std::string field = line_.substr(0, colon);
    std::string value =
        colon == std::string::npos ? "" : line_.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "data") {
      current_.data += value + "\n";
      has_data_ = true;
    } else if (field == "event") {
      current_.event = value;
    } else if (field == "id") {
      current_.id = value;
    }
  }

  std::string line_;
  bool after_cr_ = false;
  bool has_data_ = false;
  Event current_;
};

std::string Target(const TailOptions& o, uint64_t last_event_id) {
  boost::urls::url url("/v1/stream");
  if (o.token.empty()) url.params().append({"user", o.user_id});
  if (!o.channels.empty()) {
    url.params().append({"channels", absl::StrJoin(o.channels, ",")});
  }
  if (last_event_id != 0) {
    url.params().append({"last_event_id", std::to_string(last_event_id)});
  }
  return std::string(url.buffer());
}

void Print(const Event& e, bool json) {
  if (json) {
    boost::json::object o{{"id", e.id}, {"event", e.event}, {"data", e.data}};
    std::cout << boost::json::serialize(o) << std::endl;
  } else {
    std::cout << "#" << e.id << " " << (e.event.empty() ? "message" : e.event)
              << " " << e.data << std::endl;
  }
}

// Sends the request on an open stream and prints events until it ends.
// Returns the HTTP status (0 when the exchange failed) and updates
// last_event_id as events arrive.
template <typename Stream>
int Exchange(Stream& stream, const TailOptions& o, uint64_t& last_event_id) {
  beast::error_code ec;
  http::request<http::empty_body> request(http::verb::get,
                                          Target(o, last_event_id), 11);
  request.set(http::field::host, o.http);
  request.set(http::field::accept, "text/event-stream");
  if (!o.token.empty()) {
    request.set(http::field::authorization, "Bearer " + o.token);
  }
  http::write(stream, request, ec);
  if (ec) return 0;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(stream, buffer, parser, ec);
  if (ec) return 0;
  int status = parser.get().result_int();
  if (status != 200) {
    std::fprintf(stderr, "notifyctl tail: HTTP %d\n", status);
    return status;
  }
  std::fprintf(stderr, "notifyctl tail: connected\n");
  SseParser sse;
  char chunk[8192];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    // read_some returns as soon as any body bytes arrive; read() would
    // wait for the whole buffer to fill.
    http::read_some(stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) break;
    sse.Feed(chunk, sizeof(chunk) - parser.get().body().size,
             [&](const Event& e) {
               uint64_t id = 0;
               if (absl::SimpleAtoi(e.id, &id)) last_event_id = id;
               Print(e, o.json);
             });
  }
  return status;
}

// One connection, plain or TLS.
int Follow(const TailOptions& o, uint64_t& last_event_id) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  size_t colon = o.http.rfind(':');
  std::string host = o.http.substr(0, colon);
  auto endpoints = resolver.resolve(host, o.http.substr(colon + 1), ec);
  if (ec) return 0;
  if (!o.tls) {
    beast::tcp_stream stream(io);
    stream.connect(endpoints, ec);
    if (ec) return 0;
    return Exchange(stream, o, last_event_id);
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  if (o.tls_ca.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(o.tls_ca, ec);
  }
  if (ec) {
    std::fprintf(stderr, "notifyctl tail: cannot load CA %s: %s\n",
                 o.tls_ca.c_str(), ec.message().c_str());
    return 400;  // not worth retrying
  }
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  // Check the certificate names the host we dialled (DNS name or IP).
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
    return 0;
  }
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) return 0;
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) {
    std::fprintf(stderr, "notifyctl tail: TLS handshake failed: %s\n",
                 ec.message().c_str());
    return 0;
  }
  return Exchange(stream, o, last_event_id);
}

}  // namespace

int Tail(const TailOptions& options) {
  uint64_t last_event_id = options.last_event_id;
  for (;;) {
    int status = Follow(options, last_event_id);
    if (status >= 400 && status < 500) return 1;
    std::fprintf(stderr, "notifyctl tail: disconnected, reconnecting\n");
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace notifyd::tools
