// notifyctl: the operator's command line over notifyd's gRPC API.
// Human-readable output by default, --json for scripts (one JSON object per
// response, protobuf's canonical JSON mapping).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/flag_file.h"
#include "common/listen_address.h"
#include "google/protobuf/util/json_util.h"
#include "notify/v1/notify.grpc.pb.h"
#include "tools/notifyctl_common.h"
#include "tools/sse_tail.h"

ABSL_FLAG(std::string, server, std::string(notifyd::kDefaultGrpcListen),
          "notifyd gRPC address");
ABSL_FLAG(std::string, http, std::string(notifyd::kDefaultHttpListen),
          "notifyd HTTP address for tail: host:port, or https://host:port");
ABSL_FLAG(bool, json, false, "print responses as JSON");
ABSL_FLAG(std::string, event, "", "event name (notify, publish)");
ABSL_FLAG(std::string, idempotency_key, "",
          "idempotency key (notify, publish)");
ABSL_FLAG(std::string, users_file, "",
          "notify: the recipients, one user id per line (blank lines and "
          "lines starting with # skipped), in one NotifyUsers call");
ABSL_FLAG(bool, stdin, false,
          "notify, publish: one notification per line of standard input, "
          "through one PublishStream (with --idempotency_key=K, line n "
          "carries K-n)");
ABSL_FLAG(std::string, channel, "", "list a channel instead of a user");
ABSL_FLAG(uint32_t, limit, 0, "page size for list (max 500)");
ABSL_FLAG(uint64_t, before_id, 0, "list ids below this one");
ABSL_FLAG(bool, unread_only, false,
          "list only unread notifications (--filter=unread)");
ABSL_FLAG(std::string, filter, "",
          "list: inbox (not archived, the default), unread, unseen or "
          "archived");
ABSL_FLAG(absl::Duration, expires_in, absl::ZeroDuration(),
          "notify, publish: the notification is gone after this long "
          "(e.g. 90s, 15m, 2h); 0 = never");
ABSL_FLAG(std::string, collapse_key, "",
          "notify, publish: replace older notifications with this key; "
          "delete: delete those with this key");
ABSL_FLAG(uint32_t, top, 10, "stats: busiest channels to show");
ABSL_FLAG(std::vector<std::string>, channels, {},
          "token: extra channels; tail: extra channels to follow");
ABSL_FLAG(uint32_t, ttl, 0, "token: lifetime in seconds");
ABSL_FLAG(std::string, token, "", "tail: subscriber token");
ABSL_FLAG(uint64_t, last_event_id, 0, "tail: resume after this id");
ABSL_FLAG(double, timeout, 10, "seconds to wait for each call");
ABSL_FLAG(std::string, api_key, "",
          "publisher API key, sent as `authorization: Bearer <key>`; "
          "defaults to $NOTIFYD_API_KEY");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates to verify notifyd's TLS certificate (implies "
          "TLS; empty with --tls_cert: the system's roots)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (implies TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");

namespace {

namespace pb = ::notify::v1;
using ::notifyd::tools::Fail;
using ::notifyd::tools::FailRpc;
using ::notifyd::tools::kUsage;
using ::notifyd::tools::PrintJson;
using ::notifyd::tools::PrintNotification;
using ::notifyd::tools::Usage;

// Sets *request's expires_at to `in` from now (left absent for 0); false
// for a negative duration.
template <typename Request>
bool SetExpiresIn(absl::Duration in, Request* request) {
  if (in < absl::ZeroDuration()) return false;
  if (in == absl::ZeroDuration()) return true;
  const absl::Time at = absl::Now() + in;
  google::protobuf::Timestamp* out = request->mutable_expires_at();
  out->set_seconds(absl::ToUnixSeconds(at));
  out->set_nanos(static_cast<int32_t>(
      (at - absl::FromUnixSeconds(out->seconds())) / absl::Nanoseconds(1)));
  return true;
}

// The --filter flag as the proto's Filter; false when unknown.
bool FilterFromFlag(const std::string& flag, pb::Filter* out) {
  if (flag.empty() || flag == "inbox")
    *out = pb::FILTER_INBOX;
  else if (flag == "unread")
    *out = pb::FILTER_UNREAD;
  else if (flag == "unseen")
    *out = pb::FILTER_UNSEEN;
  else if (flag == "archived")
    *out = pb::FILTER_ARCHIVED;
  else
    return false;
  return true;
}

// Plaintext unless a TLS flag is given; nullptr (after a message) when a
// file cannot be read.
std::shared_ptr<grpc::ChannelCredentials> CredentialsFromFlags() {
  std::string ca = absl::GetFlag(FLAGS_tls_ca);
  std::string cert = absl::GetFlag(FLAGS_tls_cert);
  std::string key = absl::GetFlag(FLAGS_tls_key);
  if (ca.empty() && cert.empty() && key.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  if (cert.empty() != key.empty()) {
    std::fprintf(stderr, "notifyctl: give both --tls_cert and --tls_key\n");
    return nullptr;
  }
  grpc::SslCredentialsOptions options;
  for (auto [flag, path, out] :
       {std::make_tuple("tls_ca", ca, &options.pem_root_certs),
        std::make_tuple("tls_cert", cert, &options.pem_cert_chain),
        std::make_tuple("tls_key", key, &options.pem_private_key)}) {
    if (path.empty()) continue;
    absl::StatusOr<std::string> pem = notifyd::ReadFlagFile(flag, path);
    if (!pem.ok()) {
      std::fprintf(stderr, "notifyctl: %s\n",
                   std::string(pem.status().message()).c_str());
      return nullptr;
    }
    *out = *std::move(pem);
  }
  return grpc::SslCredentials(options);
}

std::string ApiKeyFromFlags() {
  std::string key = absl::GetFlag(FLAGS_api_key);
  if (key.empty()) {
    const char* env = std::getenv("NOTIFYD_API_KEY");
    if (env != nullptr) key = env;
  }
  return key;
}

class Cli {
 public:
  Cli(std::shared_ptr<grpc::Channel> channel, std::string api_key)
      : stub_(pb::Notifier::NewStub(channel)), api_key_(std::move(api_key)) {}

  int Run(const std::vector<std::string>& args) {
    const std::string& command = args[0];
    if (command == "notify" || command == "publish") return Send(args);
    if (command == "list") return List(args);
    if (command == "unread") return Unread(args);
    if (command == "stats") return Stats();
    if (command == "token") return Token(args);
    bool handled = false;
    int code = notifyd::tools::RunInboxCommand(
        args, *stub_, [this] { return Context(); }, &handled);
    if (handled) return code;
    return Usage(absl::StrCat("unknown command ", command));
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(
                              absl::GetFlag(FLAGS_timeout) * 1000)));
    if (!api_key_.empty()) {
      context->AddMetadata("authorization", "Bearer " + api_key_);
    }
    return context;
  }

  template <typename Response>
  int PrintSent(const Response& response) {
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(response);
      return 0;
    }
    std::cout << (response.duplicate() ? "duplicate of " : "stored ") << "#"
              << response.notification().id() << " on "
              << response.notification().channel() << ", live to "
              << response.live_recipients() << " stream(s)\n";
    return 0;
  }

  // The fields NotifyUser and Publish share, from flags; false for a
  // negative --expires_in.
  template <typename Request>
  static bool SetShared(Request* request) {
    request->set_event(absl::GetFlag(FLAGS_event));
    request->set_idempotency_key(absl::GetFlag(FLAGS_idempotency_key));
    request->set_collapse_key(absl::GetFlag(FLAGS_collapse_key));
    return SetExpiresIn(absl::GetFlag(FLAGS_expires_in), request);
  }

  // notify to several users: one NotifyUsers call, one line per user.
  int SendToMany(const std::vector<std::string>& users,
                 const std::string& data) {
    pb::NotifyUsersRequest request;
    for (const std::string& u : users) request.add_user_ids(u);
    request.set_data(data);
    if (!SetShared(&request)) return Usage("--expires_in must be >= 0");
    pb::NotifyUsersResponse response;
    grpc::Status status =
        stub_->NotifyUsers(Context().get(), request, &response);
    if (!status.ok()) return FailRpc(status);
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(response);
      return 0;
    }
    for (const auto& d : response.deliveries()) {
      std::cout << (d.duplicate() ? "duplicate of " : "stored ") << "#"
                << d.id() << " for " << d.user_id() << "\n";
    }
    std::cout << response.stored() << " stored, "
              << response.deliveries_size() - response.stored()
              << " duplicate(s), live to " << response.live_recipients()
              << " stream(s)\n";
    return 0;
  }

  int Send(const std::vector<std::string>& args) {
    if (absl::GetFlag(FLAGS_stdin)) {
      if (args.size() != 2) {
        return Usage(absl::StrCat(args[0], " --stdin takes only the target"));
      }
      notifyd::tools::StreamLinesOptions options;
      options.publish = args[0] == "publish";
      options.target = args[1];
      options.event = absl::GetFlag(FLAGS_event);
      options.idempotency_key = absl::GetFlag(FLAGS_idempotency_key);
      options.progress = isatty(STDERR_FILENO) != 0;
      return notifyd::tools::StreamLines(options, std::cin, *stub_, Context());
    }
    const std::string users_file = absl::GetFlag(FLAGS_users_file);
    if (args[0] == "notify" && !users_file.empty()) {
      if (args.size() != 2) {
        return Usage("notify --users_file=FILE takes only the data");
      }
      absl::StatusOr<std::string> text =
          notifyd::ReadFlagFile("users_file", users_file);
      if (!text.ok()) return Fail(std::string(text.status().message()));
      std::vector<std::string> users;
      for (absl::string_view line : absl::StrSplit(*text, '\n')) {
        line = absl::StripAsciiWhitespace(line);
        if (line.empty() || line.front() == '#') continue;
        users.emplace_back(line);
      }
      return SendToMany(users, args[1]);
    }
    if (args.size() != 3) {
      return Usage(absl::StrCat(args[0], " takes a target and the data"));
    }
    grpc::Status status;
    if (args[0] == "notify" && args[1].find(',') != std::string::npos) {
      return SendToMany(absl::StrSplit(args[1], ','), args[2]);
    }
    if (args[0] == "notify") {
      pb::NotifyUserRequest request;
      request.set_user_id(args[1]);
      request.set_data(args[2]);
      if (!SetShared(&request)) return Usage("--expires_in must be >= 0");
      pb::NotifyUserResponse response;
      status = stub_->NotifyUser(Context().get(), request, &response);
      return status.ok() ? PrintSent(response) : FailRpc(status);
    }
    pb::PublishRequest request;
    request.set_channel(args[1]);
    request.set_data(args[2]);
    if (!SetShared(&request)) return Usage("--expires_in must be >= 0");
    pb::PublishResponse response;
    status = stub_->Publish(Context().get(), request, &response);
    return status.ok() ? PrintSent(response) : FailRpc(status);
  }

  int List(const std::vector<std::string>& args) {
    pb::ListNotificationsRequest request;
    if (!absl::GetFlag(FLAGS_channel).empty()) {
      request.set_channel(absl::GetFlag(FLAGS_channel));
    } else if (args.size() == 2) {
      request.set_user_id(args[1]);
    } else {
      return Usage("list takes a user_id or --channel");
    }
    request.set_limit(absl::GetFlag(FLAGS_limit));
    request.set_before_id(absl::GetFlag(FLAGS_before_id));
    request.set_unread_only(absl::GetFlag(FLAGS_unread_only));
    pb::Filter filter = pb::FILTER_INBOX;
    if (!FilterFromFlag(absl::GetFlag(FLAGS_filter), &filter)) {
      return Usage("--filter is one of inbox, unread, unseen, archived");
    }
    request.set_filter(filter);
    pb::ListNotificationsResponse response;
    grpc::Status status =
        stub_->ListNotifications(Context().get(), request, &response);
    if (!status.ok()) return FailRpc(status);
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(response);
      return 0;
    }
    for (const pb::Notification& n : response.notifications()) {
      PrintNotification(n);
    }
    if (response.next_before_id() != 0) {
      std::cout << "more: --before_id=" << response.next_before_id() << "\n";
    }
    return 0;
  }

  int Unread(const std::vector<std::string>& args) {
    if (args.size() != 2) return Usage("unread takes a user_id");
    pb::GetUnreadCountRequest request;
    request.set_user_id(args[1]);
    pb::GetUnreadCountResponse response;
    grpc::Status status =
        stub_->GetUnreadCount(Context().get(), request, &response);
    if (!status.ok()) return FailRpc(status);
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(response);
    } else {
      std::cout << response.unread() << " unread\n";
    }
    return 0;
  }

  int Stats() {
    pb::GetStatsRequest request;
    request.set_top_channels(absl::GetFlag(FLAGS_top));
    pb::GetStatsResponse response;
    grpc::Status status = stub_->GetStats(Context().get(), request, &response);
    if (!status.ok()) return FailRpc(status);
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(response);
      return 0;
    }
    std::cout << "live connections   " << response.live_connections() << "\n"
              << "published (total)  " << response.published_total() << "\n"
              << "delivered (total)  " << response.delivered_total() << "\n"
              << "stored             " << response.stored_notifications()
              << "\n"
              << "store bytes        " << response.store_bytes() << "\n";
    for (const pb::ChannelStats& c : response.channels()) {
      std::cout << "  " << c.subscribers() << "\t" << c.channel() << "\n";
    }
    return 0;
  }

  int Token(const std::vector<std::string>& args) {
    if (args.size() != 2) return Usage("token takes a user_id");
    pb::IssueTokenRequest request;
    request.set_user_id(args[1]);
    for (const std::string& c : absl::GetFlag(FLAGS_channels)) {
      request.add_channels(c);
    }
    request.set_ttl_seconds(absl::GetFlag(FLAGS_ttl));
    pb::IssueTokenResponse response;
    grpc::Status status =
        stub_->IssueToken(Context().get(), request, &response);
    if (!status.ok()) return FailRpc(status);
    if (absl::GetFlag(FLAGS_json)) {
      PrintJson(response);
    } else {
      std::cout << response.token() << "\n";
    }
    return 0;
  }

  std::unique_ptr<pb::Notifier::Stub> stub_;
  const std::string api_key_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (args.empty()) return Usage("no command given");
  if (args[0] == "vapid-keygen") return notifyd::tools::VapidKeygen(args);
  if (args[0] == "tail") {
    if (args.size() != 2) return Usage("tail takes a user_id");
    // HTTPS when asked by scheme, or implied by a CA to verify against.
    const std::string http_flag = absl::GetFlag(FLAGS_http);
    absl::string_view http = http_flag;
    bool tls = !absl::GetFlag(FLAGS_tls_ca).empty();
    if (absl::ConsumePrefix(&http, "https://")) tls = true;
    absl::ConsumePrefix(&http, "http://");
    notifyd::tools::TailOptions options{
        .http = std::string(http),
        .user_id = args[1],
        .token = absl::GetFlag(FLAGS_token),
        .channels = absl::GetFlag(FLAGS_channels),
        .last_event_id = absl::GetFlag(FLAGS_last_event_id),
        .json = absl::GetFlag(FLAGS_json),
        .tls = tls,
        .tls_ca = absl::GetFlag(FLAGS_tls_ca)};
    return notifyd::tools::Tail(options);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      CredentialsFromFlags();
  if (!credentials) return 2;
  Cli cli(grpc::CreateChannel(absl::GetFlag(FLAGS_server), credentials),
          ApiKeyFromFlags());
  return cli.Run(args);
}
