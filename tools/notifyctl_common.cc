// What notifyctl's commands share: errors, printing, ids.
#include "tools/notifyctl_common.h"

#include <cstdio>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace notifyd::tools {
namespace {

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::LocalTimeZone());
}

}  // namespace

const char kUsage[] =
    "notifyctl: talk to notifyd.\n"
    "  notifyctl notify <user_id>[,<user_id>...] <data> [--event=E]\n"
    "      [--idempotency_key=K] [--expires_in=DURATION] [--collapse_key=K]\n"
    "  notifyctl notify --users_file=FILE <data> ...  (one user id per line;\n"
    "      several users: one NotifyUsers call, at most 10,000)\n"
    "  notifyctl notify|publish --stdin <user_id|channel> [--event=E]\n"
    "      [--idempotency_key=K]  (a notification per input line, streamed)\n"
    "  notifyctl publish <channel> <data> [--event=E] [--idempotency_key=K]\n"
    "      [--expires_in=DURATION] [--collapse_key=K]\n"
    "  notifyctl list <user_id> | list --channel=C [--limit=N] "
    "[--before_id=ID]\n"
    "      [--filter=inbox|unread|unseen|archived]\n"
    "  notifyctl seen <user_id> [id...] [--up_to_id=ID]\n"
    "  notifyctl read <user_id> [id...] [--up_to_id=ID] [--unread]\n"
    "  notifyctl archive|unarchive <user_id> [id...] [--up_to_id=ID]\n"
    "  notifyctl delete <user_id> [id...] [--collapse_key=K] | "
    "delete --channel=C [id...] [--collapse_key=K]\n"
    "  notifyctl counts <user_id>\n"
    "  notifyctl unread <user_id>\n"
    "  notifyctl stats [--top=N]\n"
    "  notifyctl token <user_id> [--channels=a,b] [--ttl=SECONDS]\n"
    "  notifyctl tail <user_id> [--token=T] [--channels=a,b] "
    "[--last_event_id=ID] [--http=HOST:PORT]\n"
    "  notifyctl vapid-keygen [FILE]  (a new --vapid_key_file, mode 0600; "
    "prints\n"
    "      the public key browsers subscribe with)\n"
    "A DURATION is e.g. 90s, 15m or 2h. "
    "Common: --server=HOST:PORT (default 127.0.0.1:50051), --json,\n"
    "  --api_key=KEY (or $NOTIFYD_API_KEY), --tls_ca=PEM, "
    "--tls_cert=PEM --tls_key=PEM (mutual TLS)";

int Fail(const std::string& message) {
  std::fprintf(stderr, "notifyctl: %s\n", message.c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "notifyctl: %s\n%s\n", message.c_str(), kUsage);
  return 2;
}

int FailRpc(const grpc::Status& status) {
  return Fail(absl::StrCat("error ", status.error_code(), ": ",
                           status.error_message()));
}

void PrintJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  std::cout << out << "\n";
}

void PrintNotification(const notify::v1::Notification& n) {
  // "*" marks an unread notification, as before; the inbox's other state
  // follows in words.
  std::cout << "#" << n.id() << "  " << FormatTime(n.created_at()) << "  "
            << n.channel() << "  " << n.event() << (n.read() ? "" : "  *");
  if (n.seen() && !n.read()) std::cout << "  seen";
  if (n.archived()) std::cout << "  archived";
  if (n.has_expires_at()) {
    std::cout << "  expires " << FormatTime(n.expires_at());
  }
  if (!n.collapse_key().empty()) std::cout << "  key=" << n.collapse_key();
  std::cout << "\n    " << n.data() << "\n";
}

bool ParseIds(const std::vector<std::string>& args, size_t first,
              google::protobuf::RepeatedField<uint64_t>* ids) {
  for (size_t i = first; i < args.size(); ++i) {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(args[i], &id)) {
      Usage(absl::StrCat("not an id: ", args[i]));
      return false;
    }
    ids->Add(id);
  }
  return true;
}

}  // namespace notifyd::tools
