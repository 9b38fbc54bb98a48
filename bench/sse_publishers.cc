#include "bench/sse_publishers.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_util.h"
#include "grpcpp/grpcpp.h"
#include "notify/v1/notify.grpc.pb.h"

namespace notifyd::bench {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class GrpcPublisher final : public Publisher {
 public:
  // `all_users` non-empty: every publish is one NotifyUsers call to them.
  GrpcPublisher(std::vector<std::shared_ptr<grpc::Channel>> channels,
                bool notify_user, std::vector<std::string> all_users)
      : notify_user_(notify_user), all_users_(std::move(all_users)) {
    for (auto& c : channels) stubs_.push_back(notify::v1::Notifier::NewStub(c));
  }

  void Publish(const std::string& key, std::string data,
               PublishDone done) override {
    auto* stub =
        stubs_[next_.fetch_add(1, std::memory_order_relaxed) % stubs_.size()]
            .get();
    auto finish = [done = std::move(done)](const grpc::Status& s, uint64_t id) {
      done(s.ok(), absl::StrCat(id), StatusText(s));
    };
    namespace pb = notify::v1;
    if (!all_users_.empty()) {
      pb::NotifyUsersRequest request;
      for (const std::string& u : all_users_) request.add_user_ids(u);
      request.set_data(std::move(data));
      CallUnary<pb::NotifyUsersRequest, pb::NotifyUsersResponse>(
          std::move(request),
          [stub](auto* context, auto* request, auto* response, auto on_done) {
            stub->async()->NotifyUsers(context, request, response,
                                       std::move(on_done));
          },
          [finish](const grpc::Status& s, const pb::NotifyUsersResponse& r) {
            finish(s, r.deliveries_size() > 0 ? r.deliveries(0).id() : 0);
          });
    } else if (notify_user_) {
      pb::NotifyUserRequest request;
      request.set_user_id(key);
      request.set_data(std::move(data));
      CallUnary<pb::NotifyUserRequest, pb::NotifyUserResponse>(
          std::move(request),
          [stub](auto* context, auto* request, auto* response, auto on_done) {
            stub->async()->NotifyUser(context, request, response,
                                      std::move(on_done));
          },
          [finish](const grpc::Status& s, const pb::NotifyUserResponse& r) {
            finish(s, r.notification().id());
          });
    } else {
      pb::PublishRequest request;
      request.set_channel(key);
      request.set_data(std::move(data));
      CallUnary<pb::PublishRequest, pb::PublishResponse>(
          std::move(request),
          [stub](auto* context, auto* request, auto* response, auto on_done) {
            stub->async()->Publish(context, request, response,
                                   std::move(on_done));
          },
          [finish](const grpc::Status& s, const pb::PublishResponse& r) {
            finish(s, r.notification().id());
          });
    }
  }

 private:
  const bool notify_user_;
  const std::vector<std::string> all_users_;
  std::vector<std::unique_ptr<notify::v1::Notifier::Stub>> stubs_;
  std::atomic<uint64_t> next_{0};
};

// HTTP/1.1 keep-alive POSTs to nchan's publisher location, on its own I/O
// thread. Requests queue when every connection is busy; up to
// `max_connections` are opened on demand.
class NchanPublisher final : public Publisher {
 public:
  NchanPublisher(tcp::endpoint server, std::string host_header,
                 std::string path_template, int max_connections)
      : server_(server),
        host_header_(std::move(host_header)),
        path_template_(std::move(path_template)),
        max_connections_(max_connections),
        guard_(asio::make_work_guard(io_)),
        thread_([this] { io_.run(); }) {}

  ~NchanPublisher() override {
    guard_.reset();
    asio::post(io_, [this] {
      for (auto& c : conns_) {
        boost::system::error_code ec;
        c->socket.close(ec);
      }
    });
    thread_.join();
  }

  void Publish(const std::string& key, std::string data,
               PublishDone done) override {
    std::string path = absl::StrReplaceAll(
        path_template_, {{"{user}", key}, {"{channel}", key}});
    // Accept: text/json makes nchan answer with the channel's info,
    // including last_message_id (the replay scenario resumes from it).
    std::string req = absl::StrCat(
        "POST ", path, " HTTP/1.1\r\nHost: ", host_header_,
        "\r\nAccept: text/json\r\nContent-Type: application/json\r\n"
        "Content-Length: ",
        data.size(), "\r\n\r\n", data);
    asio::post(io_,
               [this, req = std::move(req), done = std::move(done)]() mutable {
                 queue_.push_back({std::move(req), std::move(done), false});
                 Pump();
               });
  }

 private:
  struct Request {
    std::string bytes;
    PublishDone done;
    bool retried = false;
  };
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::string in;
    // Per connection: asio may perform several reads (into their buffers)
    // before running the first completion handler, so one buffer shared by
    // all connections would be overwritten.
    std::array<char, 8192> read_buf;
    std::optional<Request> current;
    bool connected = false;
  };

  void Pump() {
    while (!queue_.empty()) {
      Conn* idle = nullptr;
      for (auto& c : conns_) {
        if (c->connected && !c->current) {
          idle = c.get();
          break;
        }
      }
      if (idle == nullptr) {
        if (static_cast<int>(conns_.size()) < max_connections_ &&
            connecting_ == 0) {
          Open();
        }
        return;
      }
      idle->current = std::move(queue_.front());
      queue_.pop_front();
      Send(idle);
    }
  }

  void Open() {
    conns_.push_back(std::make_unique<Conn>(io_));
    Conn* c = conns_.back().get();
    ++connecting_;
    c->socket.async_connect(server_, [this, c](boost::system::error_code ec) {
      --connecting_;
      if (ec) {
        FailAll(absl::StrCat("nchan publisher connect: ", ec.message()));
        return;
      }
      c->socket.set_option(tcp::no_delay(true), ec);
      c->connected = true;
      Pump();
    });
  }

  void FailAll(const std::string& why) {
    while (!queue_.empty()) {
      queue_.front().done(false, "", why);
      queue_.pop_front();
    }
  }

  void Send(Conn* c) {
    asio::async_write(c->socket, asio::buffer(c->current->bytes),
                      [this, c](boost::system::error_code ec, size_t) {
                        if (ec) return Broken(c, ec.message());
                        ReadResponse(c);
                      });
  }

  void ReadResponse(Conn* c) {
    // Parses "HTTP/1.1 201 Created ... Content-Length: n\r\n\r\n<body>".
    size_t head_end = c->in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t body_len = 0;
      std::string head = c->in.substr(0, head_end);
      for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
        if (line.size() > 15 &&
            absl::EqualsIgnoreCase(line.substr(0, 15), "content-length:")) {
          (void)absl::SimpleAtoi(line.substr(15), &body_len);
        }
      }
      if (c->in.size() >= head_end + 4 + body_len) {
        int status = 0;
        if (head.size() >= 12)
          (void)absl::SimpleAtoi(head.substr(9, 3), &status);
        std::string body = c->in.substr(head_end + 4, body_len);
        c->in.erase(0, head_end + 4 + body_len);
        std::string id;
        size_t at = body.find("\"last_message_id\"");
        if (at != std::string::npos) {
          size_t q1 = body.find('"', body.find(':', at) + 1);
          size_t q2 = body.find('"', q1 + 1);
          if (q1 != std::string::npos && q2 != std::string::npos) {
            id = body.substr(q1 + 1, q2 - q1 - 1);
          }
        }
        Request r = std::move(*c->current);
        c->current.reset();
        bool ok = status >= 200 && status < 300;
        r.done(ok, id, ok ? "" : absl::StrCat("HTTP ", status, " ", body));
        Pump();
        return;
      }
    }
    c->socket.async_read_some(
        asio::buffer(c->read_buf),
        [this, c](boost::system::error_code ec, size_t n) {
          if (ec) return Broken(c, ec.message());
          c->in.append(c->read_buf.data(), n);
          ReadResponse(c);
        });
  }

  void Broken(Conn* c, const std::string& why) {
    if (c->current) {
      if (c->in.empty() && !c->current->retried) {
        // The server closed an idle keep-alive connection as we sent on it;
        // nothing was answered, so sending again cannot duplicate.
        c->current->retried = true;
        queue_.push_front(std::move(*c->current));
      } else {
        c->current->done(false, "", absl::StrCat("nchan publisher: ", why));
      }
      c->current.reset();
    }
    boost::system::error_code ec;
    c->socket.close(ec);
    c->connected = false;
    for (auto it = conns_.begin(); it != conns_.end(); ++it) {
      if (it->get() == c) {
        // Destroyed later: handlers of this socket may still be queued.
        graveyard_.push_back(std::move(*it));
        conns_.erase(it);
        break;
      }
    }
    Pump();
  }

  tcp::endpoint server_;
  std::string host_header_;
  std::string path_template_;
  int max_connections_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<Conn>> graveyard_;
  std::deque<Request> queue_;
  int connecting_ = 0;
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace

std::unique_ptr<Publisher> NewGrpcPublisher(
    std::vector<std::shared_ptr<grpc::Channel>> channels, bool notify_user,
    std::vector<std::string> all_users) {
  return std::make_unique<GrpcPublisher>(std::move(channels), notify_user,
                                         std::move(all_users));
}

std::unique_ptr<Publisher> NewNchanPublisher(tcp::endpoint server,
                                             std::string host_header,
                                             std::string path_template,
                                             int max_connections) {
  return std::make_unique<NchanPublisher>(server, std::move(host_header),
                                          std::move(path_template),
                                          max_connections);
}

bool PublishBatch(Publisher* publisher, const std::string& key, int n,
                  int payload_bytes, std::string* id, std::string* error) {
  // Shared with the callbacks, which may outlive a timed-out batch.
  struct State {
    InFlight pending;
    std::atomic<int> in_flight{0};
    absl::Mutex mu;
    bool ok_all ABSL_GUARDED_BY(mu) = true;
    std::string id ABSL_GUARDED_BY(mu);
    std::string error ABSL_GUARDED_BY(mu);
  };
  auto st = std::make_shared<State>();
  const auto deadline = SteadyClock::now() + std::chrono::seconds(60);
  for (int i = 0; i < n; ++i) {
    while (st->in_flight.load() >= 64) {
      if (SteadyClock::now() > deadline) {
        *error = "publishing timed out";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    st->in_flight.fetch_add(1);
    st->pending.Add();
    publisher->Publish(
        key, StampedPayload(RealtimeNs(), i, payload_bytes),
        [st](bool ok, const std::string& got, const std::string& err) {
          {
            absl::MutexLock l(&st->mu);
            if (ok) {
              st->id = got;
            } else {
              st->ok_all = false;
              if (st->error.empty()) st->error = err;
            }
          }
          st->in_flight.fetch_sub(1);
          st->pending.Done();
        });
  }
  if (!st->pending.WaitZero(absl::Seconds(60))) {
    *error = "publishing timed out";
    return false;
  }
  absl::MutexLock l(&st->mu);
  *id = st->id;
  if (error->empty()) *error = st->error;
  return st->ok_all;
}

}  // namespace notifyd::bench
